"""Every change of what a deadline depends on sets the instance's deadline, status and alerts in its own
transaction: the Reporting page and the account home's counts are right at once, before any scheduled
evaluation runs (`make run` never runs one)."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing.models import ProductInstance
from licensing.services import (
    load_catalog,
    release_reservation,
    remove_product_instance,
    reserve_licenses,
    transfer_product_instances,
    update_reservation,
)
from policy import deadlines
from policy.deadlines import evaluate_reporting_deadlines
from policy.models import Alert
from policy.services import assign_policy, create_policy, save_policy_rules, set_default_policy
from tests.factories import default_va, make_staff, make_va
from tests.licensing.helpers import register
from tests.licensing.workflows.helpers import deposit, enable_reservations, request_code

from .helpers import make_instance, make_license

pytestmark = pytest.mark.django_db
D = timedelta(days=1)
DEFAULT = {
    "unenforced_perpetual": (90, 365, 90, True),
    "unenforced_subscription": (90, 365, 90, True),
    "enforced": (0, 0, 0, False),
    "export_controlled": (0, 0, 0, False),
}
STRICT = {**DEFAULT, "unenforced_perpetual": (30, 90, 14, True)}


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def admin_client(client, account):
    client.force_login(account.created_by)
    return client


@pytest.fixture
def staff(db):
    return make_staff(
        "ops@operator.example.net",
        "policy.add_policy",
        "policy.change_policy",
        "policy.add_accountpolicy",
        "policy.change_accountpolicy",
        "policy.delete_accountpolicy",
    )


@pytest.fixture(params=["reference", "set-based"])
def refresh_path(request, monkeypatch):
    """Both ways a refresh runs: the rules in Python for a few instances, the set-based statement for many
    (on PostgreSQL; SQLite runs the rules in Python either way)."""
    if request.param == "set-based":
        monkeypatch.setattr(deadlines, "SMALL_SET", 0)
    return request.param


def page_status(client, account, instance) -> tuple[str, str]:
    """(status badge, next deadline) of the instance's Reporting page."""
    url = reverse("policy_instance_reporting", kwargs={"account_id": account.pk, "instance_id": instance.pk})
    page = client.get(url).content.decode()
    head = page[page.index('<div class="page-head">') : page.index('data-testid="next-deadline"')]
    badge = re.search(r'<span class="badge badge-\w+">([^<]+)</span>', head).group(1)
    due = re.search(r'data-testid="next-deadline"><span class="stat-value">([^<]+)<', page).group(1)
    return badge, due


def home_counts(client, account) -> dict[str, int]:
    """The account home's reporting tiles (the materialised counts)."""
    page = client.get(reverse("account_home", kwargs={"account_id": account.pk})).content.decode()
    tiles = re.findall(r'data-testid="reporting-([a-z-]+)"><span class="stat-value">(\d+)</span>', page)
    return {name: int(n) for name, n in tiles}


def counts(ok=0, due_soon=0, overdue=0, not_required=0) -> dict[str, int]:
    return {"ok": ok, "due-soon": due_soon, "overdue": overdue, "not-required": not_required}


def evaluated_overdue(va, lic, **kwargs) -> ProductInstance:
    """An instance first used 200 days ago, evaluated: overdue, with its open alert."""
    instance = make_instance(va, usage={lic: 1}, first_use_at=timezone.now() - 200 * D, **kwargs)
    evaluate_reporting_deadlines()
    instance.refresh_from_db()
    assert instance.reporting_status == "overdue"
    return instance


def open_alerts(instance) -> list[tuple[str, int]]:
    return list(
        Alert.objects.filter(product_instance=instance, resolved_at__isnull=True).values_list(
            "kind", "virtual_account_id"
        )
    )


def test_a_device_registered_with_licenses_in_use_is_due_within_90_days_at_once(admin_client, account, lic):
    instance = register(default_va(account), {lic: 2}, hostname="edge-1")
    due = (timezone.now() + 90 * D).strftime("%Y-%m-%d")
    assert page_status(admin_client, account, instance) == ("OK", due)
    assert home_counts(admin_client, account) == counts(ok=1)


def test_a_device_registered_without_licenses_needs_no_report(admin_client, account):
    instance = register(default_va(account), hostname="spare")
    assert page_status(admin_client, account, instance) == ("Not required", "None")
    assert home_counts(admin_client, account) == counts(not_required=1)


def test_registering_again_with_other_usage_sets_the_deadline_again(admin_client, account, lic):
    va = default_va(account)
    instance = register(va, hostname="spare", serial="FOC1111A001")
    assert page_status(admin_client, account, instance)[0] == "Not required"
    register(va, {lic: 1}, serial="FOC1111A001")  # the device starts using a license
    assert page_status(admin_client, account, instance)[0] == "OK"
    assert home_counts(admin_client, account) == counts(ok=1)
    register(va, {}, serial="FOC1111A001")  # and stops
    assert page_status(admin_client, account, instance) == ("Not required", "None")
    assert home_counts(admin_client, account) == counts(not_required=1)


def test_moving_a_device_moves_its_open_alert_to_the_new_virtual_account(admin_client, account, lic):
    plant, lab = make_va(account, "Plant"), make_va(account, "Lab")
    instance = evaluated_overdue(plant, lic)
    assert open_alerts(instance) == [("overdue", plant.pk)]
    transfer_product_instances(actor=account.created_by, product_instances=[instance], target=lab)
    assert open_alerts(instance) == [("overdue", lab.pk)]
    lab_alerts = admin_client.get(reverse("policy_alerts", kwargs={"account_id": account.pk}), {"va": lab.pk})
    assert instance.hostname in lab_alerts.content.decode()
    assert home_counts(admin_client, account) == counts(overdue=1)


def test_removing_a_device_resolves_its_alerts_and_leaves_the_counts(admin_client, account, lic):
    instance = evaluated_overdue(default_va(account), lic)
    assert home_counts(admin_client, account) == counts(overdue=1)
    remove_product_instance(actor=account.created_by, product_instance=instance)
    assert open_alerts(instance) == []
    assert home_counts(admin_client, account) == counts()


def test_a_reserved_device_needs_no_report_from_the_moment_it_is_reserved_to_its_release(admin_client, account, lic):
    enable_reservations(account)
    va = default_va(account)
    deposit(va, lic, 3)
    reservation = reserve_licenses(
        actor=account.created_by,
        virtual_account=va,
        request_code=request_code(),
        reservation_type="specific",
        licenses={lic: 1},
    )
    instance = reservation.product_instance
    assert page_status(admin_client, account, instance) == ("Not required", "None")
    assert home_counts(admin_client, account) == counts(not_required=1)
    update_reservation(actor=account.created_by, reservation=reservation, licenses={lic: 2})
    assert page_status(admin_client, account, instance) == ("Not required", "None")
    release_reservation(actor=account.created_by, reservation=reservation, return_code=None)
    assert home_counts(admin_client, account) == counts()


def test_assigning_a_policy_sets_every_deadline_of_the_account_at_once(
    admin_client, account, other_account, lic, staff, refresh_path
):
    va = default_va(account)
    used_40_days_ago = [make_instance(va, usage={lic: 1}, first_use_at=timezone.now() - 40 * D) for _ in range(3)]
    used_today = make_instance(va, usage={lic: 1}, first_use_at=timezone.now())
    elsewhere = make_instance(default_va(other_account), usage={lic: 1}, first_use_at=timezone.now() - 40 * D)
    evaluate_reporting_deadlines()
    assert home_counts(admin_client, account) == counts(ok=4)  # 90 days under the default policy

    strict = create_policy(actor=staff, name="Regulated", rules=STRICT)
    assign_policy(actor=staff, smart_account=account, policy=strict)  # 30 days
    assert home_counts(admin_client, account) == counts(overdue=3, ok=1)
    assert page_status(admin_client, account, used_40_days_ago[0])[0] == "Overdue"
    assert page_status(admin_client, account, used_today)[0] == "OK"
    assert all(open_alerts(i) == [("overdue", va.pk)] for i in used_40_days_ago)
    elsewhere.refresh_from_db()
    assert elsewhere.reporting_status == "ok"  # another account keeps the default policy

    assign_policy(actor=staff, smart_account=account, policy=None)  # back to the default
    assert home_counts(admin_client, account) == counts(ok=4)
    assert all(open_alerts(i) == [] for i in used_40_days_ago)


def test_a_new_version_of_a_policy_sets_the_deadlines_of_its_accounts(admin_client, account, lic, staff, refresh_path):
    strict = create_policy(actor=staff, name="Regulated", rules=STRICT)
    assign_policy(actor=staff, smart_account=account, policy=strict)
    instance = make_instance(default_va(account), usage={lic: 1}, first_use_at=timezone.now() - 40 * D)
    evaluate_reporting_deadlines()
    assert page_status(admin_client, account, instance)[0] == "Overdue"
    save_policy_rules(actor=staff, policy=strict, rules={**STRICT, "unenforced_perpetual": (60, 90, 14, True)})
    due = (instance.first_use_at + 60 * D).strftime("%Y-%m-%d")
    assert page_status(admin_client, account, instance) == ("OK", due)
    assert home_counts(admin_client, account) == counts(ok=1)
    assert open_alerts(instance) == []


def test_a_new_version_of_the_default_policy_and_a_new_default_set_the_deadlines(
    admin_client, account, lic, staff, refresh_path
):
    instance = make_instance(default_va(account), usage={lic: 1}, first_use_at=timezone.now() - 40 * D)
    evaluate_reporting_deadlines()
    default = create_policy(actor=staff, name="House default", rules=DEFAULT, is_default=True)
    assert page_status(admin_client, account, instance)[0] == "OK"
    save_policy_rules(actor=staff, policy=default, rules=STRICT)
    assert page_status(admin_client, account, instance)[0] == "Overdue"
    lenient = create_policy(actor=staff, name="Lenient", rules=DEFAULT)
    set_default_policy(actor=staff, policy=lenient)
    assert page_status(admin_client, account, instance)[0] == "OK"
    assert home_counts(admin_client, account) == counts(ok=1)


def test_a_license_that_becomes_enforced_stops_asking_its_devices_for_reports(admin_client, account, lic):
    instance = register(default_va(account), {lic: 1})
    assert page_status(admin_client, account, instance)[0] == "OK"
    entry = {"tag": lic.tag, "name": lic.name, "product_family": lic.product_family, "license_type": "perpetual"}
    load_catalog(data={"licenses": [{**entry, "enforcement": "enforced"}]})
    assert page_status(admin_client, account, instance) == ("Not required", "None")
    load_catalog(data={"licenses": [{**entry, "enforcement": "unenforced"}]})
    assert page_status(admin_client, account, instance)[0] == "OK"
    assert home_counts(admin_client, account) == counts(ok=1)


def test_the_scheduled_evaluation_finds_nothing_left_to_do_after_the_changes(account, lic, staff):
    """The changes above wrote what the evaluation would have: it is only the safety net."""
    va, lab = default_va(account), make_va(account, "Lab")
    old = evaluated_overdue(va, lic)
    fresh = register(va, {lic: 1})
    transfer_product_instances(actor=account.created_by, product_instances=[old, fresh], target=lab)
    assign_policy(actor=staff, smart_account=account, policy=create_policy(actor=staff, name="R", rules=STRICT))
    result = evaluate_reporting_deadlines()
    assert (result["changed"], result["alerts_opened"], result["alerts_resolved"]) == (0, 0, 0)
