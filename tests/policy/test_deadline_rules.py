"""The reporting deadline rules: the worked examples of the default policy, each license class, the
strictest class among an instance's licenses, and the statuses. Ingest, change notices and the
set-based evaluation must all give the same deadline."""

from datetime import timedelta

import pytest

from licensing.models import InstanceDeadline, ProductInstance
from policy.deadlines import evaluate_reporting_deadlines
from policy.models import Policy
from policy.services import assign_policy, create_policy, ingest_usage_report, record_change_notice
from tests.factories import default_va, make_staff

from .helpers import T0, TRUST, Clock, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db

Status = ProductInstance.ReportingStatus
D = timedelta(days=1)


def due(instance):
    instance.refresh_from_db()
    return instance.next_due_at


def evaluated(instance, now):
    evaluate_reporting_deadlines(now=now)
    instance.refresh_from_db()
    return instance


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, T0)


@pytest.fixture
def perpetual(db):
    return make_license(license_type="perpetual")


def test_the_worked_examples_of_the_default_policy_hold_exactly(account, clock, perpetual):
    instance = make_instance(default_va(account), usage={perpetual: 1}, trust_code=TRUST, first_use_at=T0)

    # First use at T, no report: due T+90.
    assert evaluated(instance, T0).next_due_at == T0 + 90 * D

    # A report at T+10: due T+375.
    clock.set(T0 + 10 * D)
    ack = ingest_usage_report(payload=report(instance, generated_at=T0 + 10 * D, usage={perpetual: 1}), source="device")
    assert due(instance) == T0 + 375 * D
    assert ack.next_due_at == T0 + 375 * D

    # A change notice at T+100: due T+190.
    clock.set(T0 + 100 * D)
    record_change_notice(payload=notice(instance, changes=[upgrade(T0 + 100 * D)], generated_at=T0 + 100 * D))
    assert due(instance) == T0 + 190 * D

    # A report at T+150 covering it: due T+515.
    clock.set(T0 + 150 * D)
    ack = ingest_usage_report(
        payload=report(instance, generated_at=T0 + 150 * D, usage={perpetual: 1}), source="device"
    )
    assert due(instance) == T0 + 515 * D
    assert ack.document["next_report_due"] == "2027-06-04T09:30:00Z"  # T + 515 days, in UTC
    assert instance.pending_change_at is None

    # The evaluation computes the same deadline from the same facts.
    assert evaluated(instance, T0 + 150 * D).next_due_at == T0 + 515 * D


def test_the_worked_examples_hold_in_the_set_based_evaluation_alone(account, perpetual):
    """The same facts stored on instances (as a collector might leave them): the SQL gives the same dates."""
    va = default_va(account)
    never = make_instance(va, usage={perpetual: 1}, first_use_at=T0)
    reported = make_instance(va, usage={perpetual: 1}, first_use_at=T0)
    noticed = make_instance(va, usage={perpetual: 1}, first_use_at=T0)
    ProductInstance.objects.filter(pk=reported.pk).update(last_report_at=T0 + 10 * D)
    ProductInstance.objects.filter(pk=noticed.pk).update(last_report_at=T0 + 10 * D, pending_change_at=T0 + 100 * D)
    evaluate_reporting_deadlines(now=T0)
    assert due(never) == T0 + 90 * D
    assert due(reported) == T0 + 375 * D
    assert due(noticed) == T0 + 190 * D


def test_unenforced_subscription_licenses_follow_the_same_default_rule(account, clock):
    subscription = make_license(license_type="subscription")
    instance = make_instance(default_va(account), usage={subscription: 3}, first_use_at=T0)
    assert evaluated(instance, T0).next_due_at == T0 + 90 * D


@pytest.mark.parametrize("enforcement", ["enforced", "export_controlled"])
def test_enforced_and_export_controlled_licenses_need_no_report(account, clock, enforcement):
    license = make_license(enforcement=enforcement)
    instance = make_instance(default_va(account), usage={license: 1}, first_use_at=T0)
    instance = evaluated(instance, T0 + 400 * D)
    assert instance.next_due_at is None
    assert instance.reporting_status == Status.NOT_REQUIRED


def test_an_instance_using_no_license_needs_no_report(account, clock):
    instance = make_instance(default_va(account), first_use_at=T0)
    assert evaluated(instance, T0 + 400 * D).reporting_status == Status.NOT_REQUIRED


def test_a_reserved_instance_needs_no_report_and_a_removed_one_is_ignored(account, clock, perpetual):
    va = default_va(account)
    reserved = make_instance(va, first_use_at=T0, status=ProductInstance.Status.RESERVED)
    removed = make_instance(va, usage={perpetual: 1}, first_use_at=T0)
    InstanceDeadline.objects.filter(pk=removed.pk).update(reporting_status="ok")
    ProductInstance.objects.filter(pk=removed.pk).update(status="removed")
    counts = evaluate_reporting_deadlines(now=T0 + 400 * D)
    assert due(reserved) is None
    reserved.refresh_from_db()
    assert reserved.reporting_status == Status.NOT_REQUIRED
    removed.refresh_from_db()
    assert removed.reporting_status == "ok"  # untouched
    assert counts["instances"] == 1


def test_the_strictest_class_among_the_licenses_in_use_sets_each_rule(account, clock):
    """Per rule, the smallest non-zero days among the classes of the licenses in use."""
    staff = make_staff(
        "ops@operator.example.net", "policy.add_policy", "policy.change_policy", "policy.add_accountpolicy"
    )
    policy = create_policy(
        actor=staff,
        name="Mixed",
        rules={
            "unenforced_perpetual": (120, 365, 30, True),
            "unenforced_subscription": (60, 0, 90, True),
            "enforced": (10, 30, 5, False),
            "export_controlled": (0, 0, 0, False),
        },
    )
    assign_policy(actor=staff, smart_account=account, policy=policy)
    perpetual = make_license(license_type="perpetual")
    subscription = make_license(license_type="subscription")
    controlled = make_license(enforcement="export_controlled")
    va = default_va(account)

    both = make_instance(va, usage={perpetual: 1, subscription: 1, controlled: 1}, first_use_at=T0)
    assert evaluated(both, T0).next_due_at == T0 + 60 * D  # first report: min(120, 60); 0 ignored

    ProductInstance.objects.filter(pk=both.pk).update(last_report_at=T0 + 10 * D)
    assert evaluated(both, T0).next_due_at == T0 + 375 * D  # frequency: 365 (subscription's 0 = not required)

    ProductInstance.objects.filter(pk=both.pk).update(pending_change_at=T0 + 20 * D)
    assert evaluated(both, T0).next_due_at == T0 + 50 * D  # on change: min(30, 90)

    only_subscription = make_instance(va, usage={subscription: 1}, first_use_at=T0)
    ProductInstance.objects.filter(pk=only_subscription.pk).update(last_report_at=T0 + 10 * D)
    assert evaluated(only_subscription, T0).next_due_at is None  # reported, no frequency, no change

    enforced = make_license(enforcement="enforced")
    strict = make_instance(va, usage={perpetual: 1, enforced: 2}, first_use_at=T0)
    assert evaluated(strict, T0).next_due_at == T0 + 10 * D


@pytest.mark.parametrize(
    ("now", "status"),
    [
        (T0, Status.OK),
        (T0 + 90 * D - 14 * D - timedelta(seconds=1), Status.OK),
        (T0 + 90 * D - 14 * D, Status.DUE_SOON),  # exactly 14 days before: due soon
        (T0 + 90 * D, Status.DUE_SOON),  # the deadline itself is not yet overdue
        (T0 + 90 * D + timedelta(seconds=1), Status.OVERDUE),
    ],
)
def test_status_boundaries(account, perpetual, now, status):
    instance = make_instance(default_va(account), usage={perpetual: 1}, first_use_at=T0)
    assert evaluated(instance, now).reporting_status == status


def test_the_due_soon_window_is_a_setting(account, perpetual, settings):
    settings.REPORTING_DUE_SOON_DAYS = 30
    instance = make_instance(default_va(account), usage={perpetual: 1}, first_use_at=T0)
    assert evaluated(instance, T0 + 61 * D).reporting_status == Status.DUE_SOON


def test_first_use_falls_back_to_registration_for_an_instance_that_never_said(account, perpetual):
    instance = make_instance(default_va(account), usage={perpetual: 1}, registered_at=T0)
    ProductInstance.objects.filter(pk=instance.pk).update(first_use_at=None)
    assert evaluated(instance, T0).next_due_at == T0 + 90 * D


def test_a_new_default_policy_version_moves_deadlines_at_the_next_evaluation(account, perpetual):
    from policy.services import save_policy_rules

    staff = make_staff(
        "ops@operator.example.net", "policy.add_policy", "policy.change_policy", "policy.add_accountpolicy"
    )
    instance = make_instance(default_va(account), usage={perpetual: 1}, first_use_at=T0)
    assert evaluated(instance, T0).next_due_at == T0 + 90 * D
    default = Policy.objects.get(is_default=True)
    save_policy_rules(
        actor=staff,
        policy=default,
        rules={
            "unenforced_perpetual": (30, 365, 90, True),
            "unenforced_subscription": (90, 365, 90, True),
            "enforced": (0, 0, 0, False),
            "export_controlled": (0, 0, 0, False),
        },
    )
    assert evaluated(instance, T0).next_due_at == T0 + 30 * D
