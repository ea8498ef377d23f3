"""`evaluate_reporting_deadlines`: set-based, batched, idempotent; alerts opened and resolved with the status."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing.models import InstanceDeadline, ProductInstance
from policy.deadlines import evaluate_reporting_deadlines
from policy.models import Alert
from smartaccounts.models import Event
from tests.factories import default_va, make_va

from .helpers import T0, make_instance, make_license

pytestmark = pytest.mark.django_db
D = timedelta(days=1)


@pytest.fixture
def lic(db):
    return make_license()


def snapshot():
    instances = list(ProductInstance.objects.order_by("pk").values())
    alerts = list(Alert.objects.order_by("pk").values())
    return instances, alerts, Event.objects.count()


def test_running_the_evaluation_twice_changes_nothing_the_second_time(account, lic):
    va = default_va(account)
    for days in (0, 60, 80, 100, 300):  # ok, ok, due soon, overdue, overdue
        make_instance(va, usage={lic: 1}, first_use_at=T0 - days * D)
    make_instance(va, first_use_at=T0)  # no license: not required
    now = T0 + D
    first = evaluate_reporting_deadlines(now=now)
    assert first["changed"] == 5 and first["alerts_opened"] == 3  # the unlicensed one was not required already
    before = snapshot()
    second = evaluate_reporting_deadlines(now=now)
    assert {k: second[k] for k in ("ok", "due_soon", "overdue", "not_required", "instances")} == {
        k: first[k] for k in ("ok", "due_soon", "overdue", "not_required", "instances")
    }
    assert (second["changed"], second["alerts_opened"], second["alerts_resolved"]) == (0, 0, 0)
    assert snapshot() == before  # no row written, no alert, no event


def test_status_transitions_open_one_alert_per_kind_and_resolve_the_previous_one(account, lic):
    va = make_va(account, "Plant floor")
    instance = make_instance(va, usage={lic: 1}, first_use_at=T0, hostname="press-line-3")

    evaluate_reporting_deadlines(now=T0 + 80 * D)
    due_soon = Alert.objects.get(product_instance=instance)
    assert (due_soon.kind, due_soon.severity, due_soon.virtual_account) == ("due_soon", "warning", va)
    assert due_soon.message == "Usage report due soon: press-line-3" and due_soon.due_at == T0 + 90 * D

    evaluate_reporting_deadlines(now=T0 + 85 * D)  # still due soon: nothing new
    assert Alert.objects.filter(product_instance=instance).count() == 1

    result = evaluate_reporting_deadlines(now=T0 + 91 * D)
    assert (result["alerts_opened"], result["alerts_resolved"]) == (1, 1)
    due_soon.refresh_from_db()
    assert due_soon.resolved_at == T0 + 91 * D
    overdue = Alert.objects.get(product_instance=instance, resolved_at__isnull=True)
    assert (overdue.kind, overdue.severity) == ("overdue", "critical")
    opened = Event.objects.filter(action="policy.alert_opened", virtual_account_id=va.pk).order_by("pk")
    assert [e.message for e in opened] == [
        "1 product instance(s) are due soon to report their usage.",
        "1 product instance(s) became overdue with their usage reports.",
    ]
    resolved = Event.objects.get(action="policy.alert_resolved")
    assert resolved.message.startswith("1 due-soon reporting alert(s) resolved") and resolved.details["alerts"] == 1
    instance.refresh_from_db()
    assert instance.reporting_status == "overdue" and instance.reporting_status_changed_at == T0 + 91 * D


def test_an_alert_follows_its_instance_to_another_va_and_closes_when_it_is_removed(account, lic):
    va, other = make_va(account, "A"), make_va(account, "B")
    instance = make_instance(va, usage={lic: 1}, first_use_at=T0)
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    ProductInstance.objects.filter(pk=instance.pk).update(virtual_account=other)
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    open_alerts = Alert.objects.filter(product_instance=instance, resolved_at__isnull=True)
    assert [a.virtual_account for a in open_alerts] == [other]
    ProductInstance.objects.filter(pk=instance.pk).update(status="removed")
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    assert not Alert.objects.filter(product_instance=instance, resolved_at__isnull=True).exists()


def test_the_evaluation_runs_a_fixed_number_of_queries_per_batch(account, lic):
    va = default_va(account)

    def queries(instances: int, batch_size: int) -> int:
        for i in range(instances):
            make_instance(va, usage={lic: 1}, first_use_at=T0 - (100 + i) * D)
        with CaptureQueriesContext(connection) as ctx:
            evaluate_reporting_deadlines(now=T0, batch_size=batch_size)
        return len(ctx.captured_queries)

    small = queries(3, batch_size=10_000)
    big = queries(57, batch_size=10_000)  # 60 instances, one batch: same statements
    assert small == big
    InstanceDeadline.objects.update(reporting_status="not_required", next_due_at=None)
    Alert.objects.update(resolved_at=timezone.now())
    with CaptureQueriesContext(connection) as ctx:
        evaluate_reporting_deadlines(now=T0, batch_size=20)  # the same 60 rows in 3+ batches
    per_batch = (len(ctx.captured_queries) - small) / 2
    assert len(ctx.captured_queries) <= small + 3 * per_batch + 4  # grows with batches, not instances


@pytest.mark.django_db(transaction=True)
def test_an_instance_whose_report_arrives_during_the_batch_keeps_the_reports_values(postgres):
    """The recompute re-checks its inputs as it writes: a report committed meanwhile is not overwritten."""
    import threading

    from django.db import connections, transaction

    from tests.factories import make_account

    account = make_account(name="Race Networks", domain="race.example.com")
    instance = make_instance(default_va(account), usage={make_license(): 1}, first_use_at=T0)
    reported_at, reported_due = T0 + 100 * D, T0 + 465 * D
    locked, release = threading.Event(), threading.Event()

    def report_arrives():
        try:
            with transaction.atomic():  # what the ingest writes, holding the row until it commits
                ProductInstance.objects.filter(pk=instance.pk).update(last_report_at=reported_at)
                InstanceDeadline.objects.filter(pk=instance.pk).update(next_due_at=reported_due, reporting_status="ok")
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    writer = threading.Thread(target=report_arrives)
    writer.start()
    assert locked.wait(10)
    threading.Timer(1.0, release.set).start()  # commit while the evaluation waits for the row
    evaluate_reporting_deadlines(now=T0 + 200 * D)  # read the old inputs: "overdue since T+90"
    writer.join()
    instance.refresh_from_db()
    assert (instance.next_due_at, instance.reporting_status) == (reported_due, "ok")
    evaluate_reporting_deadlines(now=T0 + 200 * D)
    instance.refresh_from_db()
    assert (instance.next_due_at, instance.reporting_status) == (reported_due, "ok")


def test_the_event_log_gets_one_entry_per_va_and_kind_not_one_per_device(account, lic):
    va, other = make_va(account, "Stores"), make_va(account, "Depots")
    for _ in range(5):
        make_instance(va, usage={lic: 1}, first_use_at=T0)
    make_instance(other, usage={lic: 1}, first_use_at=T0)
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    events = {e.virtual_account_id: e for e in Event.objects.filter(action="policy.alert_opened")}
    assert events[va.pk].message == "5 product instance(s) became overdue with their usage reports."
    assert events[va.pk].virtual_account_name == "Stores" and events[other.pk].details == {
        "kind": "overdue",
        "alerts": 1,
    }
