"""Deadline evaluation against one hand-written SQL UPDATE that computes the same statuses.

The floor is that UPDATE run into a narrow scratch table (the cost of the computation alone, no index
but its key, no trigger); its results are what the evaluation's are checked against. The same statement
run in place on the table the evaluation writes (`licensing_instancedeadline`, with its indexes and
its counting triggers), from the same starting state, is measured too, as context.
"""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from policy.deadlines import evaluate_reporting_deadlines

# The rule (policy/rules.py), written independently as one statement: for each instance, the
# strictest non-zero days per rule among the classes of the licenses it uses, under the latest
# version of its account's policy (else the default policy's), then the earliest deadline.
REFERENCE_UPDATE = """
WITH latest AS (
    SELECT DISTINCT ON (policy_id) policy_id, id AS version_id
    FROM policy_policyversion ORDER BY policy_id, number DESC
), account_version AS (
    SELECT a.id AS smart_account_id, l.version_id
    FROM smartaccounts_smartaccount a
    LEFT JOIN policy_accountpolicy ap ON ap.smart_account_id = a.id
    JOIN latest l ON l.policy_id = COALESCE(ap.policy_id, (SELECT id FROM policy_policy WHERE is_default))
), terms AS (
    SELECT u.product_instance_id AS id,
           MIN(NULLIF(r.first_report_days, 0)) AS first_days,
           MIN(NULLIF(r.reporting_frequency_days, 0)) AS every_days,
           MIN(NULLIF(r.report_on_change_days, 0)) AS change_days
    FROM licensing_productinstanceusage u
    JOIN licensing_productinstance p ON p.id = u.product_instance_id
    JOIN licensing_license lic ON lic.id = u.license_id
    JOIN account_version av ON av.smart_account_id = p.smart_account_id
    JOIN policy_policyrule r ON r.version_id = av.version_id AND r.license_class = lic.policy_class
    WHERE u.count > 0
    GROUP BY u.product_instance_id
), due AS (
    SELECT p.id,
           CASE WHEN p.status = 'reserved' THEN NULL ELSE LEAST(
               CASE WHEN p.last_report_at IS NULL THEN p.first_use_at + t.first_days * interval '1 day' END,
               p.pending_change_at + t.change_days * interval '1 day',
               p.last_report_at + t.every_days * interval '1 day'
           ) END AS next_due
    FROM licensing_productinstance p LEFT JOIN terms t ON t.id = p.id
    WHERE p.status <> 'removed'
)
UPDATE {target}
SET next_due_at = due.next_due,
    reporting_status = CASE
        WHEN due.next_due IS NULL THEN 'not_required'
        WHEN due.next_due < %(now)s THEN 'overdue'
        WHEN due.next_due <= %(soon)s THEN 'due_soon'
        ELSE 'ok' END{extra}
FROM due WHERE b.{key} = due.id
"""

# Into the scratch table: the computation alone.
SCRATCH_UPDATE = REFERENCE_UPDATE.replace("{target}", "bench_deadline b").replace("{extra}", "").replace("{key}", "id")
# In place: what the evaluation has to do, in one statement.
IN_PLACE_UPDATE = (
    REFERENCE_UPDATE.replace("{target}", "licensing_instancedeadline b")
    .replace("{key}", "instance_id")
    .replace(
        "{extra}",
        """,
    reporting_status_changed_at = CASE WHEN b.reporting_status IS DISTINCT FROM (CASE
        WHEN due.next_due IS NULL THEN 'not_required'
        WHEN due.next_due < %(now)s THEN 'overdue'
        WHEN due.next_due <= %(soon)s THEN 'due_soon'
        ELSE 'ok' END) THEN %(now)s ELSE b.reporting_status_changed_at END""",
    )
)


def forget_deadlines() -> None:
    """Every instance back to "never evaluated", and the table vacuumed: the starting state of a cold run."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE licensing_instancedeadline SET next_due_at = NULL, reporting_status = 'not_required'")
        cursor.execute("VACUUM ANALYZE licensing_instancedeadline")


def in_place_update(now) -> float:
    """The single UPDATE on the product instances (from the cold state); its seconds."""
    forget_deadlines()
    soon = now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS)
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(IN_PLACE_UPDATE, {"now": now, "soon": soon})
        return time.perf_counter() - start


def reference_update(now) -> tuple[float, dict[str, int]]:
    """Run the single UPDATE into the scratch table; return its seconds and status counts."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_deadline")
        cursor.execute(
            "CREATE UNLOGGED TABLE bench_deadline AS SELECT id, NULL::timestamptz AS next_due_at, "
            "NULL::varchar(12) AS reporting_status FROM licensing_productinstance WHERE status <> 'removed'"
        )
        cursor.execute("ALTER TABLE bench_deadline ADD PRIMARY KEY (id)")
        cursor.execute("ANALYZE bench_deadline")
    soon = now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS)
    with transaction.atomic(), connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(SCRATCH_UPDATE, {"now": now, "soon": soon})
        seconds = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("SELECT reporting_status, COUNT(*) FROM bench_deadline GROUP BY 1")
        counts = dict(cursor.fetchall())
    return seconds, counts


def differences() -> int:
    """Instances whose evaluated deadline or status differs from the reference UPDATE's."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM bench_deadline b JOIN licensing_instancedeadline p ON p.instance_id = b.id "
            "WHERE p.next_due_at IS DISTINCT FROM b.next_due_at OR p.reporting_status <> b.reporting_status"
        )
        return cursor.fetchone()[0]


def run(now=None) -> dict:
    """Cold evaluation (every instance's deadline recomputed and written) and the steady hourly run."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM licensing_productinstance WHERE status <> 'removed'")
        instances = cursor.fetchone()[0]
    in_place_seconds = in_place_update(now)
    # Forget the computed deadlines so the evaluation has to work out and write every one.
    forget_deadlines()
    start = time.perf_counter()
    cold = evaluate_reporting_deadlines(now=now)
    cold_seconds = time.perf_counter() - start
    start = time.perf_counter()
    steady = evaluate_reporting_deadlines(now=now)
    steady_seconds = time.perf_counter() - start
    reference_seconds, reference_counts = reference_update(now)
    mismatches = differences()
    return {
        "instances": instances,
        "evaluation_seconds": round(cold_seconds, 2),
        "evaluation_rows_written": cold.get("changed"),
        "second_run_seconds": round(steady_seconds, 2),
        "second_run_rows_written": steady.get("changed"),
        "reference_update_seconds": round(in_place_seconds, 2),
        "ratio_to_update": round(cold_seconds / max(in_place_seconds, 0.001), 2),
        "computation_only_seconds": round(reference_seconds, 2),
        "ratio_to_computation": round(cold_seconds / max(reference_seconds, 0.001), 2),
        "status_counts": {k: cold.get(k, 0) for k in ("ok", "due_soon", "overdue", "not_required")},
        "reference_counts": reference_counts,
        "mismatches": mismatches,
    }
