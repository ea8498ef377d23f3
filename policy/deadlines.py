"""Evaluating every product instance's reporting deadline: set-based SQL in bounded batches.

`evaluate_reporting_deadlines` walks the instances by primary-key range (`batch_size` ids at a
time, each batch its own short transaction) and runs a fixed number of statements per batch,
whatever the number of instances in it:

1. recompute `next_due_at` and `reporting_status` from the sources (first use, last accepted
   report, earliest pending change, the licenses in use and the policy in force; `policy.rules`
   states the rule) and write only the rows whose values differ. On PostgreSQL this is one
   `UPDATE … FROM (WITH …)`; elsewhere (SQLite) one read of the batch, one read of its license
   classes, the arithmetic in Python (`policy.rules`, the same code the ingest uses) and one
   `UPDATE … FROM (VALUES …)`;
2. resolve open due-soon / overdue alerts that no longer match their instance (status, due date or
   VA changed, or the instance was removed) — one `UPDATE … RETURNING`;
3. open the due-soon / overdue alert an instance in that status lacks — one `INSERT … SELECT …
   ON CONFLICT DO NOTHING RETURNING` (the partial unique index keeps one open alert per instance and
   kind even when two evaluations race);
4. write the events: one per account, VA and kind of alert opened or resolved ("12 product
   instances became overdue"); on PostgreSQL in the same statements as 2 and 3 (data-modifying
   CTEs), elsewhere with one read of VA names and one bulk insert.

Because every step compares the wanted state with the stored one, a second run finds nothing to
do: same counts, no new alerts, no row written. The recompute re-checks its inputs in the UPDATE's
WHERE clause, so an instance that a report changed while the batch ran keeps the report's values.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Max, Min
from django.utils import timezone

from licensing.models import ProductInstance, ProductInstanceUsage
from smartaccounts.models import Event, VirtualAccount

from . import rules as policy_rules
from .models import AccountPolicy, Alert, Policy, PolicyRule, PolicyVersion

Status = ProductInstance.ReportingStatus
STATUSES = [Status.OK, Status.DUE_SOON, Status.OVERDUE, Status.NOT_REQUIRED]
PG_BATCH_SIZE = 20_000
FALLBACK_BATCH_SIZE = 2_000

INSTANCE = ProductInstance._meta.db_table
USAGE = ProductInstanceUsage._meta.db_table
ALERT = Alert._meta.db_table
RULE = PolicyRule._meta.db_table
ACCOUNT_POLICY = AccountPolicy._meta.db_table
LICENSE = "licensing_license"


def evaluate_reporting_deadlines(*, now: datetime | None = None, batch_size: int | None = None) -> dict:
    """Recompute every instance's next deadline and status; open and resolve the alerts they imply.

    Returns the number of (not removed) instances per status, plus `instances`, `changed` (rows
    written), `alerts_opened` and `alerts_resolved`. Idempotent: a second run with the same `now`
    writes nothing and returns the same status counts.
    """
    now = now or timezone.now()
    postgres = connection.vendor == "postgresql"
    batch_size = batch_size or (PG_BATCH_SIZE if postgres else FALLBACK_BATCH_SIZE)
    latest = _latest_versions()
    default_policy = Policy.objects.filter(is_default=True).values_list("pk", flat=True).first()
    default_version = latest.get(default_policy)
    totals = Counter()
    bounds = ProductInstance.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is not None:
        rules_by_version = None if postgres else _rules_by_version(latest.values())
        for lo in range(bounds["lo"], bounds["hi"] + 1, batch_size):
            hi = lo + batch_size
            with transaction.atomic():
                if postgres:
                    totals["changed"] += _recompute_sql(lo, hi, now, latest, default_version)
                else:
                    totals["changed"] += _recompute_python(lo, hi, now, latest, default_version, rules_by_version)
                if postgres:
                    resolved = _with_events_sql(_RESOLVE_SQL, "policy.alert_resolved", lo, hi, now)
                    opened = _with_events_sql(_OPEN_SQL, "policy.alert_opened", lo, hi, now)
                else:
                    resolved_rows, opened_rows = _resolve_alerts(lo, hi, now), _open_alerts(lo, hi, now)
                    _record_alert_events(opened_rows, resolved_rows, now)
                    resolved, opened = len(resolved_rows), len(opened_rows)
            totals["alerts_opened"] += opened
            totals["alerts_resolved"] += resolved
    counts = dict(
        ProductInstance.objects.exclude(status=ProductInstance.Status.REMOVED)
        .values_list("reporting_status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    result = {status.value: counts.get(status.value, 0) for status in STATUSES}
    result["instances"] = sum(result.values())
    result.update({key: totals[key] for key in ("changed", "alerts_opened", "alerts_resolved")})
    return result


def _latest_versions() -> dict[int, int]:
    """{policy id: id of its latest version}."""
    latest: dict[int, int] = {}
    for policy_id, version_id in PolicyVersion.objects.order_by("policy_id", "number").values_list("policy_id", "pk"):
        latest[policy_id] = version_id
    return latest


def _rules_by_version(version_ids) -> dict[int, dict[str, PolicyRule]]:
    found: dict[int, dict[str, PolicyRule]] = defaultdict(dict)
    for rule in PolicyRule.objects.filter(version_id__in=list(version_ids)):
        found[rule.version_id][rule.license_class] = rule
    return found


def _soon(now: datetime) -> datetime:
    return now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS)


# --- 1. Recompute: PostgreSQL, one statement ---------------------------------------------------------

_RECOMPUTE_SQL = f"""
WITH versions(policy_id, version_id) AS (
    SELECT * FROM unnest(%(policy_ids)s::bigint[], %(version_ids)s::bigint[])
),
batch AS (
    SELECT i.id, i.status, i.smart_account_id, i.first_use_at, i.registered_at, i.last_report_at,
           i.pending_change_at,
           CASE WHEN ap.policy_id IS NULL THEN %(default_version)s::bigint ELSE v.version_id END AS version_id
    FROM {INSTANCE} i
    LEFT JOIN {ACCOUNT_POLICY} ap ON ap.smart_account_id = i.smart_account_id
    LEFT JOIN versions v ON v.policy_id = ap.policy_id
    WHERE i.id >= %(lo)s AND i.id < %(hi)s AND i.status <> 'removed'
),
classes AS (
    SELECT DISTINCT u.product_instance_id AS id, l.policy_class
    FROM {USAGE} u
    JOIN {LICENSE} l ON l.id = u.license_id
    WHERE u.product_instance_id >= %(lo)s AND u.product_instance_id < %(hi)s AND u.count > 0
),
terms AS (
    SELECT b.id,
           MIN(NULLIF(r.first_report_days, 0)) AS first_days,
           MIN(NULLIF(r.reporting_frequency_days, 0)) AS every_days,
           MIN(NULLIF(r.report_on_change_days, 0)) AS change_days
    FROM classes c
    JOIN batch b ON b.id = c.id AND b.status = 'active'
    JOIN {RULE} r ON r.version_id = b.version_id AND r.license_class = c.policy_class
    GROUP BY b.id
),
due AS (
    SELECT b.*, LEAST(
        CASE WHEN b.last_report_at IS NULL
             THEN COALESCE(b.first_use_at, b.registered_at) + t.first_days * INTERVAL '24 hours' END,
        b.pending_change_at + t.change_days * INTERVAL '24 hours',
        b.last_report_at + t.every_days * INTERVAL '24 hours'
    ) AS next_due_at
    FROM batch b LEFT JOIN terms t ON t.id = b.id
),
calc AS (
    SELECT d.*, CASE WHEN d.next_due_at IS NULL THEN 'not_required'
                     WHEN d.next_due_at < %(now)s THEN 'overdue'
                     WHEN d.next_due_at <= %(soon)s THEN 'due_soon'
                     ELSE 'ok' END AS new_status
    FROM due d
)
UPDATE {INSTANCE} i
SET next_due_at = c.next_due_at,
    reporting_status = c.new_status,
    reporting_status_changed_at = CASE WHEN i.reporting_status <> c.new_status THEN %(now)s
                                       ELSE i.reporting_status_changed_at END
FROM calc c
WHERE i.id = c.id
  AND (i.next_due_at IS DISTINCT FROM c.next_due_at OR i.reporting_status <> c.new_status)
  AND i.status = c.status AND i.smart_account_id = c.smart_account_id
  AND i.first_use_at IS NOT DISTINCT FROM c.first_use_at
  AND i.last_report_at IS NOT DISTINCT FROM c.last_report_at
  AND i.pending_change_at IS NOT DISTINCT FROM c.pending_change_at
"""


def _recompute_sql(lo: int, hi: int, now: datetime, latest: dict[int, int], default_version: int | None) -> int:
    params = {
        "policy_ids": list(latest.keys()),
        "version_ids": list(latest.values()),
        "default_version": default_version,
        "lo": lo,
        "hi": hi,
        "now": now,
        "soon": _soon(now),
    }
    with connection.cursor() as cursor:
        cursor.execute(_RECOMPUTE_SQL, params)
        return cursor.rowcount


# --- 1. Recompute: the portable fallback -------------------------------------------------------------


def _recompute_python(lo, hi, now, latest, default_version, rules_by_version) -> int:
    rows = list(
        ProductInstance.objects.filter(pk__gte=lo, pk__lt=hi)
        .exclude(status=ProductInstance.Status.REMOVED)
        .values_list(
            "pk", "smart_account_id", "status", "first_use_at", "registered_at", "last_report_at",
            "pending_change_at", "next_due_at", "reporting_status",
        )
    )  # fmt: skip
    if not rows:
        return 0
    classes: dict[int, set[str]] = defaultdict(set)
    usage = (
        ProductInstanceUsage.objects.filter(product_instance_id__gte=lo, product_instance_id__lt=hi, count__gt=0)
        .values_list("product_instance_id", "license__policy_class")
        .distinct()
    )
    for instance_id, license_class in usage:
        classes[instance_id].add(license_class)
    assigned = dict(
        AccountPolicy.objects.filter(smart_account_id__in={row[1] for row in rows}).values_list(
            "smart_account_id", "policy_id"
        )
    )
    changes = []
    for pk, account_id, status, first_use, registered, last_report, pending, stored_due, stored_status in rows:
        version = latest.get(assigned[account_id]) if account_id in assigned else default_version
        in_use = classes[pk] if status == ProductInstance.Status.ACTIVE else set()
        terms = policy_rules.terms_for(rules_by_version.get(version, {}), in_use)
        due = policy_rules.next_due(
            terms=terms, first_use_at=first_use or registered, last_report_at=last_report, pending_change_at=pending
        )
        new_status = policy_rules.status_for(due, now)
        if due != stored_due or new_status != stored_status:
            changes.append((pk, due, new_status, new_status != stored_status))
    if not changes:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    values = ", ".join(["(%s, %s, %s, %s)"] * len(changes))
    params = [p for pk, due, st, moved in changes for p in (pk, adapt(due), st, 1 if moved else 0)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH v(id, due, status, moved) AS (VALUES {values})
            UPDATE {INSTANCE} SET next_due_at = v.due, reporting_status = v.status,
                reporting_status_changed_at = CASE WHEN v.moved = 1 THEN %s ELSE reporting_status_changed_at END
            FROM v WHERE {INSTANCE}.id = v.id
            """,
            [*params, adapt(now)],
        )
    return len(changes)


# --- 2. and 3. Alerts (portable SQL: PostgreSQL and SQLite ≥ 3.39) ------------------------------------

_RESOLVE_SQL = f"""
UPDATE {ALERT} SET resolved_at = %s
WHERE resolved_at IS NULL AND product_instance_id >= %s AND product_instance_id < %s
  AND EXISTS (
    SELECT 1 FROM {INSTANCE} i
    WHERE i.id = {ALERT}.product_instance_id
      AND (i.status = 'removed'
           OR ({ALERT}.kind IN ('due_soon', 'overdue')
               AND (i.reporting_status <> {ALERT}.kind
                    OR i.virtual_account_id <> {ALERT}.virtual_account_id
                    OR i.next_due_at IS DISTINCT FROM {ALERT}.due_at))))
RETURNING id, smart_account_id, virtual_account_id, kind
"""

_OPEN_SQL = f"""
INSERT INTO {ALERT} (smart_account_id, virtual_account_id, product_instance_id, kind, severity, message, due_at,
                     opened_at)
SELECT i.smart_account_id, i.virtual_account_id, i.id, i.reporting_status,
       CASE WHEN i.reporting_status = 'overdue' THEN 'critical' ELSE 'warning' END,
       CASE WHEN i.reporting_status = 'overdue' THEN 'Usage report overdue: ' ELSE 'Usage report due soon: ' END
         || COALESCE(NULLIF(i.hostname, ''), 'PID:' || i.pid || ' SN:' || i.serial_number),
       i.next_due_at, %s
FROM {INSTANCE} i
WHERE i.id >= %s AND i.id < %s AND i.status <> 'removed' AND i.reporting_status IN ('due_soon', 'overdue')
  AND NOT EXISTS (
    SELECT 1 FROM {ALERT} a
    WHERE a.product_instance_id = i.id AND a.kind = i.reporting_status AND a.resolved_at IS NULL)
ON CONFLICT DO NOTHING
RETURNING id, smart_account_id, virtual_account_id, kind
"""


EVENT = Event._meta.db_table
VA = VirtualAccount._meta.db_table


# One event per account, VA and kind of alert per batch: the event log says "12 product instances
# became overdue" once, not once per device (an estate of a million devices would drown in them).
EVENT_TEXT = {
    ("policy.alert_opened", "overdue"): "{n} product instance(s) became overdue with their usage reports.",
    ("policy.alert_opened", "due_soon"): "{n} product instance(s) are due soon to report their usage.",
    ("policy.alert_resolved", "overdue"): "{n} overdue reporting alert(s) resolved: the deadline moved or the "
    "instance was removed or moved.",
    ("policy.alert_resolved", "due_soon"): "{n} due-soon reporting alert(s) resolved: the deadline moved or the "
    "instance was removed or moved.",
    ("policy.alert_resolved", "late_change"): "{n} late-change alert(s) resolved: the instance was removed.",
}


def _with_events_sql(statement: str, action: str, lo: int, hi: int, now: datetime) -> int:
    """PostgreSQL: the alert statement and the events it implies in one round trip (data-modifying CTEs)."""
    texts = {kind: text for (act, kind), text in EVENT_TEXT.items() if act == action}
    message = (
        "CASE c.kind "
        + " ".join(
            f"WHEN '{kind}' THEN COUNT(*)::text || '{text.removeprefix('{n}').replace(chr(39), chr(39) * 2)}'"
            for kind, text in texts.items()
        )
        + " END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH changed AS ({statement}),
            logged AS (
                INSERT INTO {EVENT} (created_at, smart_account_id, virtual_account_id, virtual_account_name, action,
                                     message, details)
                SELECT %s, c.smart_account_id, c.virtual_account_id, COALESCE(MAX(va.name), ''), %s, {message},
                       jsonb_build_object('kind', c.kind, 'alerts', COUNT(*))
                FROM changed c LEFT JOIN {VA} va ON va.id = c.virtual_account_id
                GROUP BY c.smart_account_id, c.virtual_account_id, c.kind
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM changed), (SELECT COUNT(*) FROM logged)
            """,
            [now, lo, hi, now, action],
        )
        return cursor.fetchone()[0]


def _resolve_alerts(lo: int, hi: int, now: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_RESOLVE_SQL, [connection.ops.adapt_datetimefield_value(now), lo, hi])
        return cursor.fetchall()


def _open_alerts(lo: int, hi: int, now: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_OPEN_SQL, [connection.ops.adapt_datetimefield_value(now), lo, hi])
        return cursor.fetchall()


def _record_alert_events(opened: list[tuple], resolved: list[tuple], now: datetime) -> None:
    """The fallback of the events `_with_events_sql` writes: one per account, VA and kind."""
    if not opened and not resolved:
        return
    va_names = dict(
        VirtualAccount.objects.filter(pk__in={row[2] for row in opened + resolved}).values_list("pk", "name")
    )
    groups: Counter = Counter()
    for action, rows in (("policy.alert_opened", opened), ("policy.alert_resolved", resolved)):
        for _, account_id, va_id, kind in rows:
            groups[(action, account_id, va_id, kind)] += 1
    Event.objects.bulk_create(
        [
            Event(
                created_at=now,
                smart_account_id=account_id,
                virtual_account_id=va_id,
                virtual_account_name=va_names.get(va_id, ""),
                action=action,
                message=EVENT_TEXT[(action, kind)].format(n=n),
                details={"kind": kind, "alerts": n},
            )
            for (action, account_id, va_id, kind), n in sorted(groups.items())
        ]
    )
