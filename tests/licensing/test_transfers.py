"""Transfers of licenses and of product instances between Virtual Accounts, through the services and the pages."""

import re

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from licensing.models import LicenseBalance, ProductInstance
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
