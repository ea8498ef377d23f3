"""Transfers of licenses and of product instances between Virtual Accounts, through the services and the pages."""

import datetime as dt
import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import ledger
from licensing.models import LedgerEntry, LicenseAccountTotal, LicenseBalance, LicenseLot, ProductInstance
from licensing.services import transfer_licenses, transfer_product_instances
from smartaccounts.models import Event
from smartaccounts.services import delete_virtual_account
from tests.factories import default_va, grant, make_user, make_va
from tests.isolation import build_tenant

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(account):
    source, target = make_va(account, "Campus"), make_va(account, "Lab")
    lic = make_license("Catalyst 9300 DNA Advantage")
    deposit(source, lic, 10)
    return account, source, target, lic


def test_a_transfer_moves_licenses_and_writes_both_events(setup):
    account, source, target, lic = setup
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=4)
    assert (balance(source, lic).purchased, balance(target, lic).purchased) == (6, 4)
    assert Event.objects.filter(action="license.transferred", virtual_account=source).exists()
    assert Event.objects.filter(action="license.received", virtual_account=target).exists()
    assert_ledger_clean()


def test_more_than_available_is_refused_with_the_available_number(setup):
    account, source, target, lic = setup
    register(source, {lic: 3})
    with pytest.raises(ValidationError) as raised:
        transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=8)
    assert raised.value.message_dict["quantity"][0].startswith(
        "Only 7 Catalyst 9300 DNA Advantage licenses are available"
    )
    assert balance(source, lic).purchased == 10


@pytest.mark.parametrize("quantity", [0, -1, "3.5", None, True])
def test_the_quantity_is_a_positive_whole_number(setup, quantity):
    account, source, target, lic = setup
    with pytest.raises(ValidationError, match="whole number"):
        transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=quantity)


def test_transfers_stay_within_one_account_and_need_two_vas(setup, other_account):
    account, source, target, lic = setup
    with pytest.raises(ValidationError, match="one Smart Account only"):
        transfer_licenses(
            actor=account.created_by, source=source, target=default_va(other_account), license=lic, quantity=1
        )
    with pytest.raises(ValidationError, match="other than"):
        transfer_licenses(actor=account.created_by, source=source, target=source, license=lic, quantity=1)


def test_a_deleted_va_cannot_receive_licenses(setup):
    account, source, target, lic = setup
    delete_virtual_account(actor=account.created_by, virtual_account=target)
    with pytest.raises(ValidationError, match="no longer exists"):
        transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=1)


def test_the_actor_must_operate_on_both_vas(setup):
    account, source, target, lic = setup
    va_user = grant(make_user("va-user@acme.example.com"), "user", va=source)
    with pytest.raises(PermissionDenied):
        transfer_licenses(actor=va_user, source=source, target=target, license=lic, quantity=1)
    viewer = grant(make_user("viewer@acme.example.com"), "viewer", account=account)
    with pytest.raises(PermissionDenied):
        transfer_licenses(actor=viewer, source=source, target=target, license=lic, quantity=1)


def test_the_refusal_of_rights_names_the_va_the_actor_may_not_operate_on(setup):
    account, source, target, lic = setup
    va_user = grant(make_user("va-user@acme.example.com"), "user", va=source)
    with pytest.raises(PermissionDenied, match="You need the User role on Lab to do this."):
        transfer_licenses(actor=va_user, source=source, target=target, license=lic, quantity=1)
    assert balance(source, lic).purchased == 10
    assert not LedgerEntry.objects.filter(kind="transfer_out").exists()


def test_both_events_carry_the_same_message_details_and_actor(setup):
    account, source, target, lic = setup
    movement = transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=3)
    events = list(Event.objects.filter(action__in=["license.transferred", "license.received"]).order_by("id"))
    assert [(e.action, e.virtual_account_id, e.virtual_account_name) for e in events] == [
        ("license.transferred", source.pk, "Campus"),
        ("license.received", target.pk, "Lab"),
    ]
    assert {e.actor_id for e in events} == {account.created_by.pk}
    assert {e.smart_account_id for e in events} == {account.pk}
    assert (
        events[0].message
        == events[1].message
        == (f"{account.created_by.email} transferred 3 × Catalyst 9300 DNA Advantage from Campus to Lab.")
    )
    assert (
        events[0].details
        == events[1].details
        == {
            "license": lic.tag,
            "quantity": 3,
            "from": "Campus",
            "to": "Lab",
            "movement": str(movement),
        }
    )


def test_a_portion_joins_the_identical_lot_already_in_the_target(setup):
    account, source, target, lic = setup
    for quantity in (2, 3):
        transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=quantity)
    (lot,) = LicenseLot.objects.filter(virtual_account=target)
    assert lot.quantity == 5
    assert list(LedgerEntry.objects.filter(kind="transfer_in").order_by("id").values_list("lot", "quantity")) == [
        (lot.pk, 2),
        (lot.pk, 3),
    ]
    # Back again: the licenses rejoin the source's lot they came from.
    transfer_licenses(actor=account.created_by, source=target, target=source, license=lic, quantity=5)
    assert LicenseLot.objects.filter(virtual_account=source).count() == 1
    assert balance(source, lic).purchased == 10 and balance(target, lic).purchased == 0
    assert_ledger_clean()


def test_perpetual_lots_leave_before_any_term_and_each_lot_taken_has_its_entry(account):
    source, target = make_va(account, "Campus"), make_va(account, "Lab")
    lic = make_license(license_type="term")
    deposit(source, lic, 2, end=dt.date(2028, 6, 30))
    deposit(source, lic, 2, end=dt.date(2030, 6, 30))
    with transaction.atomic():
        held = ledger.lock_balances([(account.pk, source.pk, lic.pk)])[(source.pk, lic.pk)]
        ledger.add_to_va(balance=held, quantity=2, kind="deposit", movement=ledger.new_movement())
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=5)
    moved = sorted(LicenseLot.objects.filter(virtual_account=target).values_list("end_date", "quantity"), key=str)
    assert moved == sorted([(None, 2), (dt.date(2030, 6, 30), 2), (dt.date(2028, 6, 30), 1)], key=str)
    left = list(LicenseLot.objects.filter(virtual_account=source, quantity__gt=0).values_list("end_date", "quantity"))
    assert left == [(dt.date(2028, 6, 30), 1)]
    out = LedgerEntry.objects.filter(kind="transfer_out").order_by("id")
    assert [e.quantity for e in out] == [-2, -2, -1]
    assert all(e.order_line_id == e.lot.order_line_id for e in LedgerEntry.objects.all())
    assert_ledger_clean()


def test_a_transfer_costs_the_same_few_queries_however_many_lots_it_splits(account):
    vas = [make_va(account, name) for name in ("One lot", "Four lots", "Target A", "Target B")]
    lic = make_license(license_type="term")
    deposit(vas[0], lic, 10, end=dt.date(2029, 1, 31))
    for n in range(4):
        deposit(vas[1], lic, 2, end=dt.date(2027 + n, 1, 31))
    counts = []
    for source, target in ((vas[0], vas[2]), (vas[1], vas[3])):
        with CaptureQueriesContext(connection) as queries:
            transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=7)
        counts.append(len(queries))
    assert LicenseLot.objects.filter(virtual_account=vas[3]).count() == 4
    assert counts[0] == counts[1] <= 12, counts
    assert_ledger_clean()


def test_a_transfer_into_a_short_va_moves_the_accounts_short_count_only_when_it_stops_being_short(setup):
    account, source, target, lic = setup
    register(target, {lic: 4})
    total = LicenseAccountTotal.objects.get(smart_account=account, license=lic)
    assert (total.purchased, total.in_use, total.short_vas) == (10, 4, 1)
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=3)
    total.refresh_from_db()
    assert (total.purchased, total.in_use, total.short_vas) == (10, 4, 1)
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=1)
    total.refresh_from_db()
    assert (total.purchased, total.in_use, total.short_vas) == (10, 4, 0)
    assert_ledger_clean()


def test_product_instances_move_with_the_licenses_they_use(setup):
    account, source, target, lic = setup
    instances = [register(source, {lic: 2}) for _ in range(3)]
    moved = transfer_product_instances(actor=account.created_by, product_instances=instances, target=target)
    assert moved == 3
    assert set(ProductInstance.objects.values_list("virtual_account", flat=True)) == {target.pk}
    assert (balance(source, lic).in_use, balance(target, lic).in_use) == (0, 6)
    assert balance(target, lic).balance == -6  # the licenses stayed: the target is short until they follow
    assert Event.objects.filter(action="instance.transferred", virtual_account=source).count() == 1
    assert transfer_product_instances(actor=account.created_by, product_instances=instances, target=target) == 0
    assert_ledger_clean()


def test_instances_of_another_account_and_reserved_instances_do_not_move(setup, other_account):
    account, source, target, lic = setup
    foreign = register(default_va(other_account))
    with pytest.raises(ValidationError, match="within Acme Networks only"):
        transfer_product_instances(actor=account.created_by, product_instances=[foreign], target=target)
    reserved = register(source)
    ProductInstance.objects.filter(pk=reserved.pk).update(status="reserved")
    with pytest.raises(ValidationError, match="license reservation"):
        transfer_product_instances(actor=account.created_by, product_instances=[reserved], target=target)


def test_moving_instances_needs_the_user_role_where_they_are(setup):
    account, source, target, lic = setup
    instance = register(source)
    on_target = grant(make_user("lab-user@acme.example.com"), "user", va=target)
    with pytest.raises(ValidationError, match="User role on Campus"):
        transfer_product_instances(actor=on_target, product_instances=[instance], target=target)


# --- The transfer form ---------------------------------------------------------------------------------


def options(html: str, name: str) -> set[str]:
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S).group(1)
    return set(re.findall(r"<option value=\"(\d+)\"", select))


def test_the_transfer_form_lists_only_vas_the_user_may_operate_on(client):
    tenant = build_tenant()
    lic = make_license()
    deposit(tenant.va_a_child, lic, 5)
    client.force_login(tenant.va_user)  # User on va_a: reaches va_a and va_a_child, not va_b or DEFAULT
    url = reverse("license_transfer", args=[tenant.account.pk, tenant.va_a_child.pk, lic.pk])
    assert options(client.get(url).content.decode(), "target") == {str(tenant.va_a.pk)}
    response = client.post(url, {"target": tenant.va_b.pk, "quantity": 1})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert balance(tenant.va_b, lic).purchased == 0


def test_the_transfer_form_refuses_more_than_available_naming_the_number(client):
    tenant = build_tenant()
    lic = make_license("Catalyst 9300 Network Advantage")
    deposit(tenant.va_a_child, lic, 5)
    client.force_login(tenant.user)
    url = reverse("license_transfer", args=[tenant.account.pk, tenant.va_a_child.pk, lic.pk])
    page = client.post(url, {"target": tenant.va_b.pk, "quantity": 6}).content.decode()
    assert "Only 5 Catalyst 9300 Network Advantage licenses are available" in page
    response = client.post(url, {"target": tenant.va_b.pk, "quantity": 5}, follow=True)
    assert "Transferred 5 × Catalyst 9300 Network Advantage" in response.content.decode()
    assert LicenseBalance.objects.get(virtual_account=tenant.va_b, license=lic).purchased == 5


def test_the_bulk_instance_transfer_moves_only_instances_the_user_may_change(client):
    tenant = build_tenant()
    lic = make_license()
    mine = register(tenant.va_a_child, {lic: 1})
    theirs = register(tenant.va_b, {lic: 1})
    client.force_login(tenant.va_user)
    url = reverse("instances_transfer", args=[tenant.account.pk])
    response = client.post(url, {"instances": [mine.pk, theirs.pk], "target": tenant.va_a.pk}, follow=True)
    assert "not in Virtual Accounts you can change" in response.content.decode()
    assert ProductInstance.objects.get(pk=theirs.pk).virtual_account == tenant.va_b
    response = client.post(url, {"instances": [mine.pk], "target": tenant.va_a.pk}, follow=True)
    assert "Moved 1 product instance to" in response.content.decode()
    assert ProductInstance.objects.get(pk=mine.pk).virtual_account == tenant.va_a
    response = client.post(url, {"instances": [mine.pk], "target": tenant.va_b.pk}, follow=True)
    assert "Select a valid choice" in response.content.decode()
