"""Usage reports and measurements kept by month: tenant columns, PostgreSQL partitions created ahead (beat
task and command), and `prune_usage` on both engines."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django_celery_beat.models import PeriodicTask

from policy import partitions, tasks
from policy.models import Acknowledgement, Change, UsageMeasurement, UsageReport
from policy.services import ingest_usage_report
from tests.factories import default_va
from tests.policy.helpers import TRUST, Clock, make_instance, make_license, report, upgrade

pytestmark = pytest.mark.django_db
D = timedelta(days=1)
# Reports received in these months; the clock then stands in the last one.
OLD = datetime(2023, 3, 10, 12, tzinfo=UTC)
MIDDLE = datetime(2025, 2, 10, 12, tzinfo=UTC)
NOW = datetime(2026, 7, 20, 12, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, OLD)


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def device(account, lic):
    return make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=OLD - 30 * D)


def ingest_at(clock, device, lic, when, count=1, **kwargs):
    clock.set(when)
    payload = report(device, generated_at=when - timedelta(minutes=2), usage={lic: count}, **kwargs)
    ingest_usage_report(payload=payload, source="device")
    return UsageReport.objects.get(report_id=payload["report_id"])


def orphans() -> int:
    """Measurements naming a report that is not there (no database foreign key checks it)."""
    return UsageMeasurement.objects.exclude(report_id__in=UsageReport.objects.values("pk")).count()


def partition_of(table: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
        return cursor.fetchone()[0]


# --- Both engines ---------------------------------------------------------------------------------


def test_a_report_and_its_measurements_carry_the_account_and_the_month_key(clock, device, lic):
    stored = ingest_at(clock, device, lic, MIDDLE, count=2)
    assert stored.smart_account_id == device.smart_account_id and stored.received_at == MIDDLE
    measurement = stored.measurements.get()
    assert (measurement.smart_account_id, measurement.received_at, measurement.count) == (
        device.smart_account_id,
        MIDDLE,
        2,
    )
    assert orphans() == 0


def test_prune_removes_the_months_before_the_cutoff_with_measurements_and_acks(clock, device, lic):
    old = ingest_at(clock, device, lic, OLD, events=[upgrade(OLD - 3 * D)])
    middle = ingest_at(clock, device, lic, MIDDLE)
    recent = ingest_at(clock, device, lic, NOW - 2 * D)
    change = Change.objects.get(report=old)
    clock.set(NOW)
    device.refresh_from_db()
    deadline = (device.last_report_at, device.next_due_at, device.reporting_status)

    # Dry run: counts, removes nothing.
    counted = partitions.prune_usage(keep_months=24, dry_run=True)
    assert counted.cutoff == datetime(2024, 8, 1, tzinfo=UTC)
    assert (counted.reports, counted.measurements, counted.acknowledgements) == (1, 1, 1)
    assert UsageReport.objects.count() == 3 and UsageMeasurement.objects.count() == 3

    pruned = partitions.prune_usage(keep_months=24)
    assert (pruned.reports, pruned.measurements, pruned.acknowledgements) == (1, 1, 1)
    assert set(UsageReport.objects.values_list("pk", flat=True)) == {middle.pk, recent.pk}
    assert set(UsageMeasurement.objects.values_list("report_id", flat=True)) == {middle.pk, recent.pk}
    assert not Acknowledgement.objects.filter(pk=old.acknowledgement_id).exists()
    assert Acknowledgement.objects.filter(pk=recent.acknowledgement_id).exists()
    assert orphans() == 0
    # The change keeps the id of the report that reported it: it stays reported, not pending again.
    change.refresh_from_db()
    assert change.report_id == old.pk and change.reported_at is not None
    assert not Change.objects.filter(product_instance=device, report__isnull=True).exists()
    # The deadline inputs live on the instance: nothing moved.
    device.refresh_from_db()
    assert (device.last_report_at, device.next_due_at, device.reporting_status) == deadline

    # Again: nothing left to prune.
    assert partitions.prune_usage(keep_months=24).reports == 0
    assert UsageReport.objects.count() == 2


def test_prune_refuses_to_keep_fewer_months_than_a_policy_rule_counts(clock, device, lic):
    ingest_at(clock, device, lic, OLD)
    clock.set(NOW)
    minimum = partitions.minimum_keep_months()
    assert minimum >= 13  # the default policy asks for a report a year
    with pytest.raises(ValueError, match="fewer than"):
        partitions.prune_usage(keep_months=minimum - 1)
    with pytest.raises(CommandError):
        call_command("prune_usage", "--keep-months", str(minimum - 1))
    for absurd in ("0", "-3", "99999999999"):  # a message, never a traceback
        with pytest.raises(CommandError, match="keep_months must be"):
            call_command("prune_usage", "--keep-months", absurd)
    assert UsageReport.objects.count() == 1
    call_command("prune_usage", "--keep-months", str(minimum), "--dry-run")
    assert UsageReport.objects.count() == 1
    call_command("prune_usage", "--keep-months", str(minimum))
    assert UsageReport.objects.count() == 0 and UsageMeasurement.objects.count() == 0


def test_the_default_keeps_three_years(clock, device, lic):
    ingest_at(clock, device, lic, OLD)
    ingest_at(clock, device, lic, MIDDLE)
    clock.set(NOW)
    call_command("prune_usage")  # 36 months: from 2023-08-01
    assert list(UsageReport.objects.values_list("received_at", flat=True)) == [MIDDLE]


def test_the_beat_schedule_creates_partitions_daily():
    row = PeriodicTask.objects.get(task="policy.ensure_usage_partitions")
    assert row.enabled and row.crontab is not None and row.expire_seconds == 86400


def test_partitions_are_a_no_op_without_postgresql(db):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL partitions the tables")
    assert not partitions.is_partitioned(partitions.REPORTS)
    assert partitions.ensure_partitions() == [] and tasks.ensure_usage_partitions() == []


# --- PostgreSQL partitions ------------------------------------------------------------------------


def test_the_tables_are_partitioned_by_month_with_partitions_ahead(postgres):
    for table in partitions.TABLES:
        assert partitions.is_partitioned(table)
        assert exists(partitions.default_name(table))
    partitions.ensure_partitions()
    current = partitions.month_start(datetime.now(UTC))
    for table in partitions.TABLES:
        months = partitions.month_partitions(table)
        for n in range(partitions.MONTHS_AHEAD + 1):
            assert partitions.add_months(current, n) in months
    # Idempotent: a second run (the task, the command) creates nothing.
    assert partitions.ensure_partitions() == []
    assert tasks.ensure_usage_partitions() == []
    call_command("ensure_usage_partitions")


def test_a_report_received_next_month_lands_in_its_partition_with_its_measurements(postgres, clock, device, lic):
    next_month = partitions.add_months(partitions.month_start(datetime.now(UTC)), 1)
    partitions.ensure_partitions()
    stored = ingest_at(clock, device, lic, next_month + 3 * D)
    assert partition_of(partitions.REPORTS, stored.pk) == partitions.partition_name(partitions.REPORTS, next_month)
    measurement = stored.measurements.get()
    assert partition_of(partitions.MEASUREMENTS, measurement.pk) == partitions.partition_name(
        partitions.MEASUREMENTS, next_month
    )


def test_rows_of_a_month_without_partition_wait_in_default_and_move_when_it_is_created(postgres, clock, device, lic):
    month = datetime(2021, 5, 1, tzinfo=UTC)
    device.first_use_at = month - 30 * D
    device.save(update_fields=["first_use_at"])
    stored = ingest_at(clock, device, lic, month + 9 * D)
    assert partition_of(partitions.REPORTS, stored.pk) == partitions.default_name(partitions.REPORTS)
    created = partitions.ensure_partitions(now=datetime.now(UTC))
    assert partitions.partition_name(partitions.REPORTS, month) in created
    assert partition_of(partitions.REPORTS, stored.pk) == partitions.partition_name(partitions.REPORTS, month)
    measurement = stored.measurements.get()
    assert partition_of(partitions.MEASUREMENTS, measurement.pk) == partitions.partition_name(
        partitions.MEASUREMENTS, month
    )
    assert orphans() == 0


def test_a_report_id_is_unique_within_its_month(postgres, clock, device, lic):
    stored = ingest_at(clock, device, lic, MIDDLE)
    columns = "report_id, product_instance_id, smart_account_id, source, generated_at, received_at, signed, " \
        "software_version, payload"  # fmt: skip
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO policy_usagereport ({columns}) VALUES (%s, %s, %s, 'device', %s, %s, true, '', '{{}}')",
            [stored.report_id, device.pk, device.smart_account_id, MIDDLE, MIDDLE + D],
        )
    # The id sequence still gives every report its own id.
    other = ingest_at(clock, device, lic, MIDDLE + D, report_id=str(uuid.uuid4()))
    assert other.pk > stored.pk


def test_prune_drops_whole_month_partitions(postgres, clock, device, lic):
    partitions.ensure_partitions(since=OLD, now=NOW)
    old = ingest_at(clock, device, lic, OLD)
    ingest_at(clock, device, lic, NOW - D)
    old_month = partitions.month_start(OLD)
    names = [partitions.partition_name(table, old_month) for table in partitions.TABLES]
    assert partition_of(partitions.REPORTS, old.pk) == names[0] and all(exists(name) for name in names)
    clock.set(NOW)
    pruned = partitions.prune_usage(keep_months=24)
    assert set(names) <= set(pruned.partitions) and pruned.reports == 1
    assert not any(exists(name) for name in names)
    assert not UsageReport.objects.filter(pk=old.pk).exists() and orphans() == 0
    assert partitions.is_partitioned(partitions.REPORTS) and UsageReport.objects.count() == 1
