"""Every statement of `policy.queries` against its reference in `policy.rules`, on generated estates.

PostgreSQL only (the statements are PostgreSQL's): hypothesis builds a small estate (instances with
varied policies, license classes, reporting times, pending changes, stored statuses and open
alerts), the reference and the SQL each run on it inside a savepoint that is rolled back, and the
deadlines, statuses, alerts opened and resolved, events and returned counts must be equal.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from licensing.models import InstanceDeadline, ProductInstance
from policy import deadlines, queries
from policy import rules as policy_rules
from policy.models import AccountPolicy, Alert, Policy, PolicyRule, PolicyVersion
from smartaccounts.models import Event
from tests.factories import default_va, make_va

from .helpers import T0, make_instance, make_license

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]
D = timedelta(days=1)
NOW = T0 + 400 * D
BOUNDED = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

days = st.sampled_from([0, 3, 7, 14, 30, 90, 365])
rule = st.tuples(days, days, days, st.booleans())
policy_rules_st = st.fixed_dictionaries(dict.fromkeys(policy_rules.CLASS_BITS, rule))
alert_st = st.tuples(
    st.sampled_from(list(Alert.Kind.values)), st.one_of(st.none(), st.integers(-30, 400)), st.integers(0, 2)
)
instance_st = st.fixed_dictionaries(
    {
        "va": st.integers(0, 2),
        "status": st.sampled_from(["active"] * 4 + ["reserved", "removed"]),
        "licenses": st.sets(st.integers(0, 3), max_size=3),
        "first_use": st.integers(0, 399),
        "last_report": st.one_of(st.none(), st.integers(0, 400)),
        "pending_change": st.one_of(st.none(), st.integers(0, 60)),
        "stored_status": st.sampled_from(ProductInstance.ReportingStatus.values),
        "stored_due": st.one_of(st.none(), st.integers(-30, 400)),
        "alerts": st.lists(alert_st, max_size=3, unique_by=lambda a: a[0]),
    }
)
estate_st = st.fixed_dictionaries(
    {
        "default": policy_rules_st,
        "assigned": st.one_of(st.none(), policy_rules_st),
        "instances": st.lists(instance_st, min_size=1, max_size=10),
    }
)


@pytest.fixture
def world(postgres, account, other_account):
    """What every example shares (made once per test): licenses of each class and three VAs."""
    licenses = [
        make_license(license_type="perpetual"),
        make_license(license_type="subscription"),
        make_license(license_type="term", enforcement="enforced"),
        make_license(enforcement="export_controlled"),
    ]
    vas = [default_va(account), make_va(account, "Lab"), default_va(other_account)]
    return licenses, vas, other_account


def _make_policy(name: str, rules: dict, *, is_default: bool) -> Policy:
    policy = Policy.objects.create(name=name, is_default=is_default)
    version = PolicyVersion.objects.create(policy=policy, number=1)
    PolicyRule.objects.bulk_create(
        [
            PolicyRule(
                version=version,
                license_class=license_class,
                first_report_days=first,
                reporting_frequency_days=every,
                report_on_change_days=change,
                ack_required=ack,
            )
            for license_class, (first, every, change, ack) in rules.items()
        ]
    )
    return policy


def _build(estate: dict, world) -> list[int]:
    licenses, vas, other_account = world
    Policy.objects.filter(is_default=True).update(is_default=False)
    _make_policy("Generated default", estate["default"], is_default=True)
    if estate["assigned"] is not None:
        AccountPolicy.objects.update_or_create(
            smart_account=other_account,
            defaults={"policy": _make_policy("Generated assigned", estate["assigned"], is_default=False)},
        )
    ids = []
    for spec in estate["instances"]:
        va = vas[spec["va"]]
        instance = make_instance(
            va,
            usage={licenses[i]: 1 + i for i in spec["licenses"]},
            first_use_at=T0 + spec["first_use"] * D,
            status=spec["status"],
        )
        stored_due = None if spec["stored_due"] is None else T0 + spec["stored_due"] * D
        ProductInstance.objects.filter(pk=instance.pk).update(
            last_report_at=None if spec["last_report"] is None else NOW - spec["last_report"] * D,
            pending_change_at=None if spec["pending_change"] is None else NOW - spec["pending_change"] * D,
        )
        InstanceDeadline.objects.filter(pk=instance.pk).update(
            reporting_status=spec["stored_status"], next_due_at=stored_due
        )
        Alert.objects.bulk_create(
            [
                Alert(
                    smart_account_id=vas[alert_va].smart_account_id,
                    virtual_account=vas[alert_va],
                    product_instance=instance,
                    kind=kind,
                    severity=Alert.Severity.WARNING,
                    message="generated",
                    due_at=None if due is None else T0 + due * D,
                    opened_at=T0,
                )
                for kind, due, alert_va in spec["alerts"]
            ]
        )
        ids.append(instance.pk)
    return ids


def _state() -> dict:
    """The outcome, without the ids the two runs give new rows differently."""
    return {
        "instances": list(
            InstanceDeadline.objects.order_by("pk").values_list(
                "pk", "next_due_at", "reporting_status", "reporting_status_changed_at"
            )
        ),
        "alerts": sorted(
            Alert.objects.values_list(
                "product_instance_id",
                "virtual_account_id",
                "kind",
                "severity",
                "message",
                "due_at",
                "opened_at",
                "resolved_at",
            ),  # fmt: skip
            key=repr,
        ),
        "events": sorted(
            Event.objects.filter(created_at=NOW).values_list(
                "smart_account_id", "virtual_account_id", "virtual_account_name", "action", "message", "details"
            ),
            key=repr,
        ),
    }


def _run(monkeypatch, action, *, set_based: bool):
    """`action` with the SQL (`set_based`) or with the reference, rolled back; its result and outcome."""
    with monkeypatch.context() as patched:
        patched.setattr(deadlines, "_set_based", lambda: set_based)
        patched.setattr(deadlines, "SMALL_SET", 0 if set_based else 10**9)
        savepoint = transaction.savepoint()
        try:
            result = action()
            return result, _state()
        finally:
            transaction.savepoint_rollback(savepoint)


def _differential(monkeypatch, action):
    reference = _run(monkeypatch, action, set_based=False)
    sql = _run(monkeypatch, action, set_based=True)
    assert sql == reference


@BOUNDED
@given(estate=estate_st)
def test_the_evaluation_statements_agree_with_the_reference(monkeypatch, world, estate):
    """`EVALUATE_DEADLINES[RANGE]`, `resolve_alerts_statement` and `open_alerts_statement` (with their events)."""
    with transaction.atomic():
        _build(estate, world)
        _differential(monkeypatch, lambda: deadlines.evaluate_reporting_deadlines(now=NOW, batch_size=4))
        transaction.set_rollback(True)


@BOUNDED
@given(estate=estate_st, data=st.data())
def test_the_refresh_of_listed_instances_agrees_with_the_reference(monkeypatch, world, estate, data):
    """`EVALUATE_DEADLINES[LISTED]`: the same statements for the instances a service names."""
    with transaction.atomic():
        ids = _build(estate, world)
        listed = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True))
        _differential(monkeypatch, lambda: deadlines.refresh_reporting_deadlines(instance_ids=listed, now=NOW))
        transaction.set_rollback(True)


@BOUNDED
@given(estate=estate_st, data=st.data())
def test_the_batch_instance_lock_agrees_with_the_reference(world, estate, data):
    """`queries.lock_live_instances`: the same live instances, in the same order, with their account and VA."""
    with transaction.atomic():
        ids = _build(estate, world)
        instances = list(ProductInstance.objects.filter(pk__in=ids))
        udis = {(i.pid, i.serial_number) for i in data.draw(st.lists(st.sampled_from(instances)))}
        udis |= set(data.draw(st.lists(st.tuples(st.just("C9300-48P"), st.sampled_from(["FOC0", "nope"])))))

        def seen(found):
            return [
                (
                    i.pk,
                    i.status,
                    i.smart_account.pk,
                    i.smart_account.kind,
                    i.smart_account.name,
                    i.smart_account.status,
                    i.virtual_account.pk,
                    i.virtual_account.name,
                    i.virtual_account.tree_id,
                    i.virtual_account.lft,
                    i.virtual_account.rght,
                    i.virtual_account.level,
                )  # fmt: skip
                for i in found
            ]

        assert seen(queries.lock_live_instances(udis)) == seen(policy_rules.lock_live_instances(udis))
        transaction.set_rollback(True)
