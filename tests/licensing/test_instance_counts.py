"""The materialised instance counts (`InstanceCount`) follow every write to the instances, on both databases.

The triggers keep them whatever writes: the services, `QuerySet.update()`, raw SQL, deletes. A rolled-back
write leaves them as they were. On PostgreSQL a writer never waits for another one's count rows (they are
folded with SKIP LOCKED), so concurrent writers on the same VA neither block nor deadlock.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from licensing.models import InstanceCount, InstanceDeadline, ProductInstance
from licensing.models.counters import verify_instance_counts
from licensing.selectors import instance_counts, instance_counts_by_va, scope_for
from tests.factories import default_va, make_account, make_va

from .helpers import register

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]
Status = ProductInstance.ReportingStatus


def counts(account) -> dict[str, int]:
    return instance_counts(scope_for(account.created_by, account))


def test_counts_follow_registrations_status_changes_moves_removals_and_deletes(account):
    home, lab = default_va(account), make_va(account, "Lab")
    devices = [register(home) for _ in range(3)] + [register(lab) for _ in range(2)]
    assert counts(account)["not_required"] == 5
    assert instance_counts_by_va(account) == {home.pk: 3, lab.pk: 2}

    InstanceDeadline.objects.filter(pk=devices[0].pk).update(reporting_status=Status.OVERDUE)
    devices[1].deadline.reporting_status = Status.DUE_SOON
    devices[1].deadline.save(update_fields=["reporting_status"])
    ProductInstance.objects.filter(pk=devices[3].pk).update(virtual_account=home)  # moved to another VA
    ProductInstance.objects.filter(pk=devices[4].pk).update(status=ProductInstance.Status.REMOVED)
    assert counts(account) == {"ok": 0, "due_soon": 1, "overdue": 1, "not_required": 2}
    assert instance_counts_by_va(account) == {home.pk: 4}
    assert instance_counts_by_va(account, Status.OVERDUE) == {home.pk: 1}

    ProductInstance.objects.filter(pk=devices[4].pk).update(status=ProductInstance.Status.ACTIVE)  # back again
    ProductInstance.objects.filter(pk=devices[2].pk).delete()
    assert instance_counts_by_va(account) == {home.pk: 3, lab.pk: 1}
    assert verify_instance_counts() == []


def test_raw_sql_writes_are_counted_too(account):
    va = default_va(account)
    device = register(va)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {InstanceDeadline._meta.db_table} SET reporting_status = %s WHERE instance_id = %s",
            [Status.OK, device.pk],
        )
    assert counts(account)["ok"] == 1 and counts(account)["not_required"] == 0
    assert verify_instance_counts() == []


def test_a_rolled_back_write_leaves_the_counts_as_they_were(account):
    va = default_va(account)
    device = register(va)
    with pytest.raises(RuntimeError), transaction.atomic():
        InstanceDeadline.objects.filter(pk=device.pk).update(reporting_status=Status.OVERDUE)
        register(va)
        raise RuntimeError("changed my mind")
    assert counts(account) == {"ok": 0, "due_soon": 0, "overdue": 0, "not_required": 1}
    assert verify_instance_counts() == []


def test_counts_are_per_account_and_a_va_scoped_reader_sees_its_vas_only(account):
    other = make_account(name="Other Networks", domain="other.example.com")
    register(default_va(other))
    lab = make_va(account, "Lab")
    register(lab)
    register(default_va(account))
    assert sum(counts(other).values()) == 1
    assert instance_counts_by_va(other) == {default_va(other).pk: 1}
    from tests.factories import grant, make_user

    scoped = grant(make_user("lab@acme.example.com"), "viewer", va=lab)
    assert sum(instance_counts(scope_for(scoped, account)).values()) == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_a_writer_never_waits_for_another_ones_count_rows_on_postgresql(postgres):
    """Two open transactions change devices of the same VA and status: neither waits for the other's
    count rows, and after both commit the counts are exact."""
    account = make_account(name="Busy Networks", domain="busy.example.com")
    va = default_va(account)
    first, second, third = register(va), register(va), register(va)
    db = connection.settings_dict
    import psycopg2

    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432
    )
    try:
        with other.cursor() as cursor:  # a transaction that holds the VA's count rows
            cursor.execute(
                f"UPDATE {InstanceDeadline._meta.db_table} SET reporting_status = 'overdue' WHERE instance_id = %s",
                [first.pk],
            )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL lock_timeout = '2s'")  # waiting would fail the test, not hang it
            started = time.monotonic()
            InstanceDeadline.objects.filter(pk=second.pk).update(reporting_status=Status.OVERDUE)
            InstanceDeadline.objects.filter(pk=third.pk).update(reporting_status=Status.OK)
            assert time.monotonic() - started < 1.5
        other.commit()
    finally:
        other.close()
    assert counts(account) == {"ok": 1, "due_soon": 0, "overdue": 2, "not_required": 0}
    assert verify_instance_counts() == []
    # Each transaction left its own row for the keys the other held; the next write to a key folds them.
    InstanceDeadline.objects.filter(pk=second.pk).update(reporting_status=Status.NOT_REQUIRED)
    rows = list(InstanceCount.objects.filter(virtual_account=va).values_list("reporting_status", "count"))
    assert sorted(status for status, _ in rows if status in ("overdue", "not_required")) == ["not_required", "overdue"]
    assert counts(account) == {"ok": 1, "due_soon": 0, "overdue": 1, "not_required": 1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_concurrent_writers_on_the_same_vas_keep_exact_counts_without_deadlocks(postgres):
    account = make_account(name="Crowded Networks", domain="crowded.example.com")
    vas = [default_va(account), make_va(account, "East"), make_va(account, "West")]
    for n in range(60):
        register(vas[n % 3])
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.licensing.counts_worker", str(account.pk), str(worker), "4", "150"],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err[-3000:]
        assert out.strip().splitlines()[-1] == "errors: 0", out[-3000:]
    assert verify_instance_counts() == []
    assert (
        sum(counts(account).values())
        == ProductInstance.objects.filter(smart_account=account).exclude(status=ProductInstance.Status.REMOVED).count()
    )
