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

A run named by a key (the Celery task's id) writes its progress in each batch's transaction
(`DeadlineEvaluationRun`), so a run whose worker died resumes after its committed batches, as of
its first `now`, when the task's message comes back.

`refresh_reporting_deadlines` runs the same steps for the instances a service has just changed
(listed ids instead of a key range), in the service's transaction: the rules in Python for a few
instances, the set-based statement for many (a policy change on a whole account).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from licensing.models import ProductInstance, ProductInstanceUsage
from smartaccounts.models import Event, VirtualAccount

from . import rules as policy_rules
from .models import AccountPolicy, Alert, DeadlineEvaluationRun, Policy, PolicyRule, PolicyVersion

Status = ProductInstance.ReportingStatus
STATUSES = [Status.OK, Status.DUE_SOON, Status.OVERDUE, Status.NOT_REQUIRED]
PG_BATCH_SIZE = 20_000
FALLBACK_BATCH_SIZE = 2_000
# A refresh of at most this many instances runs the rules in Python (`policy.rules`, a few short
# queries); a bigger one (a policy change on a whole account) runs the set-based statement.
SMALL_SET = 200
# Finished and abandoned runs are forgotten after this long.
RUNS_KEPT = timedelta(days=7)

INSTANCE = ProductInstance._meta.db_table
USAGE = ProductInstanceUsage._meta.db_table
ALERT = Alert._meta.db_table
RULE = PolicyRule._meta.db_table
ACCOUNT_POLICY = AccountPolicy._meta.db_table
LICENSE = "licensing_license"


def evaluate_reporting_deadlines(
    *, now: datetime | None = None, batch_size: int | None = None, run_key: str | None = None
) -> dict:
    """Recompute every instance's next deadline and status; open and resolve the alerts they imply.

    Returns the number of (not removed) instances per status, plus `instances`, `changed` (rows
    written), `alerts_opened` and `alerts_resolved`. Idempotent: a second run with the same `now`
    writes nothing and returns the same status counts.

    Each batch commits on its own. `run_key` (the Celery task passes its task id) makes the run
    resumable: its progress is written in each batch's transaction, and a call with the same key (the
    task's message delivered again after its worker died, or a retry) goes on from the first batch
    not committed, as of the first call's `now`, and returns what an uninterrupted run would have.
    A key whose run finished returns that run's result and writes nothing.
    """
    postgres = connection.vendor == "postgresql"
    batch_size = batch_size or _default_batch_size(postgres)
    run = _start_run(run_key, now) if run_key else None
    if run is not None and run.finished_at is not None:
        return run.result
    now = run.now if run is not None else (now or timezone.now())
    totals = Counter(run.totals if run is not None else {})
    bounds = ProductInstance.objects.aggregate(lo=Min("pk"), hi=Max("pk"))
    if bounds["lo"] is not None:
        plan = _plan(now, set_based=postgres)
        first = bounds["lo"] if run is None or run.next_id is None else max(run.next_id, bounds["lo"])
        for lo in range(first, bounds["hi"] + 1, batch_size):
            hi = lo + batch_size
            with transaction.atomic():
                _evaluate(plan, _Scope(lo=lo, hi=hi), totals, set_based=postgres)
                if run is not None:
                    DeadlineEvaluationRun.objects.filter(pk=run.pk).update(
                        next_id=hi, totals=dict(totals), batches=F("batches") + 1
                    )
    if postgres:
        counts = {status.value: totals[status.value] for status in STATUSES}
    else:
        counts = dict(
            ProductInstance.objects.exclude(status=ProductInstance.Status.REMOVED)
            .values_list("reporting_status")
            .annotate(n=Count("pk"))
            .order_by()
        )
    result = {status.value: counts.get(status.value, 0) for status in STATUSES}
    result["instances"] = sum(result.values())
    result.update({key: totals[key] for key in ("changed", "alerts_opened", "alerts_resolved")})
    if run is not None:
        DeadlineEvaluationRun.objects.filter(pk=run.pk).update(finished_at=timezone.now(), result=result)
    return result


def refresh_reporting_deadlines(
    *, instance_ids: Iterable[int] = (), smart_account_ids: Iterable[int] = (), now: datetime | None = None
) -> dict:
    """Bring the deadline, status and deadline alerts of some instances up to date, in the caller's transaction.

    What a service calls after changing what a deadline depends on (a registration, usage, a move,
    a removal, a reservation, a policy assignment or version, a license's class), so the pages show
    the new status at once; the scheduled evaluation is the safety net. `smart_account_ids`: every
    live instance of those accounts. The same rule as the evaluation, by the same code: up to
    `SMALL_SET` instances with `policy.rules` in Python, more with the set-based statement.
    Returns `changed`, `alerts_opened` and `alerts_resolved`.
    """
    ids = set(instance_ids)
    accounts = sorted(set(smart_account_ids))
    if accounts:
        ids.update(
            ProductInstance.objects.filter(smart_account_id__in=accounts)
            .exclude(status=ProductInstance.Status.REMOVED)
            .values_list("pk", flat=True)
        )
    totals = Counter()
    if ids:
        ids = sorted(ids)
        postgres = connection.vendor == "postgresql"
        set_based = postgres and len(ids) > SMALL_SET
        plan = _plan(now or timezone.now(), set_based=set_based)
        batch_size = _default_batch_size(postgres)
        for start in range(0, len(ids), batch_size):
            _evaluate(plan, _Scope(ids=tuple(ids[start : start + batch_size])), totals, set_based=set_based)
    return {key: totals[key] for key in ("changed", "alerts_opened", "alerts_resolved")}


def _default_batch_size(postgres: bool) -> int:
    return settings.DEADLINE_BATCH_SIZE or (PG_BATCH_SIZE if postgres else FALLBACK_BATCH_SIZE)


def _start_run(key: str, now: datetime | None) -> DeadlineEvaluationRun:
    """The run of this key: a new one as of `now`, or the one a previous delivery of the same task started."""
    with transaction.atomic():
        run, created = DeadlineEvaluationRun.objects.select_for_update().get_or_create(
            key=key, defaults={"now": now or timezone.now()}
        )
        if created:
            DeadlineEvaluationRun.objects.filter(started_at__lt=timezone.now() - RUNS_KEPT).delete()
        elif run.finished_at is None:
            run.attempts += 1
            run.save(update_fields=["attempts"])
    return run


@dataclass(frozen=True)
class _Plan:
    """What every batch of a run shares: its time, the versions in force and their rules."""

    now: datetime
    latest: dict[int, int]  # {policy id: id of its latest version}
    default_version: int | None
    rules_by_version: dict[int, dict[str, PolicyRule]]
    params: dict | None  # the set-based statement's parameters


def _plan(now: datetime, *, set_based: bool) -> _Plan:
    latest = _latest_versions()
    default_policy = Policy.objects.filter(is_default=True).values_list("pk", flat=True).first()
    default_version = latest.get(default_policy)
    rules_by_version = _rules_by_version(latest.values())
    params = _recompute_params(now, latest, default_version, rules_by_version) if set_based else None
    return _Plan(now, latest, default_version, rules_by_version, params)


@dataclass(frozen=True)
class _Scope:
    """The instances one batch covers: the id range [lo, hi), or the ids listed."""

    lo: int = 0
    hi: int = 0
    ids: tuple[int, ...] | None = None

    def sql(self) -> tuple[str, dict]:
        """The statements' filter (`{column}`: the instance id column) and its parameters."""
        if self.ids is None:
            return RANGE, {"lo": self.lo, "hi": self.hi}
        if connection.vendor == "postgresql":
            return LISTED, {"ids": list(self.ids)}
        return LISTED_JSON, {"ids": json.dumps(list(self.ids))}

    def orm(self, field: str) -> dict:
        if self.ids is None:
            return {f"{field}__gte": self.lo, f"{field}__lt": self.hi}
        return {f"{field}__in": self.ids}


def _evaluate(plan: _Plan, scope: _Scope, totals: Counter, *, set_based: bool) -> None:
    """One batch, in the caller's transaction: deadlines and statuses, then the alerts and their events."""
    if set_based:  # PostgreSQL: one statement recomputes and finds the alerts to change
        template, scope_params = scope.sql()
        batch = _recompute_sql(template, scope_params, plan.params)
        totals.update(batch.counts)
        totals["changed"] += batch.changed
        to_resolve, to_open = batch.to_resolve, batch.to_open
    else:
        totals["changed"] += _recompute_python(scope, plan)
        if connection.vendor != "postgresql":
            template, scope_params = scope.sql()
            resolved_rows = _resolve_alerts(template, scope_params, plan.now)
            opened_rows = _open_alerts(template, scope_params, plan.now)
            _record_alert_events(opened_rows, resolved_rows, plan.now)
            totals["alerts_resolved"] += len(resolved_rows)
            totals["alerts_opened"] += len(opened_rows)
            return
        to_resolve = to_open = list(scope.ids)  # the statements themselves skip the alerts that agree
    if to_resolve:
        resolve = _resolve_sql(LISTED)
        totals["alerts_resolved"] += _with_events_sql(resolve, "policy.alert_resolved", to_resolve, plan.now)
    if to_open:
        totals["alerts_opened"] += _with_events_sql(_open_sql(LISTED), "policy.alert_opened", to_open, plan.now)


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


# Which instances a statement looks at (`{column}`: the instance id column of the statement): a batch's
# key range; or ids, at most a batch of them (the instances a refresh names, or on PostgreSQL those the
# recompute found an alert to resolve or to open for), as an array on PostgreSQL and a JSON list elsewhere.
RANGE = "{column} >= %(lo)s AND {column} < %(hi)s"
LISTED = "{column} = ANY(%(ids)s)"
LISTED_JSON = "{column} IN (SELECT value FROM json_each(%(ids)s))"


# --- 1. Recompute: PostgreSQL, one statement ---------------------------------------------------------


# The terms are worked out once per run, in Python, by `policy.rules` itself: for every version in
# force and every set of license classes (a bit mask, `rules.CLASS_BITS`), the strictest days per
# rule. Versions never change once made (editing a policy makes a new version), so the table is
# exact for the whole run. Per batch the statement only ORs the class bits of each instance's
# licenses in use (one pass over its usage rows) and looks the terms up; instances whose stored
# deadline and status already agree never reach the UPDATE. The same statement tells whether the
# stored statuses and the open deadline alerts of the batch disagree anywhere, so a batch where
# nothing was written and nothing disagrees skips the two alert statements.
def _recompute_statement(scope: str) -> str:
    return f"""
SET LOCAL jit = off;
WITH versions(policy_id, version_id) AS (
    SELECT * FROM unnest(%(policy_ids)s::bigint[], %(version_ids)s::bigint[])
),
terms(version_id, mask, first_days, every_days, change_days) AS (
    SELECT * FROM unnest(%(term_versions)s::bigint[], %(term_masks)s::int[], %(term_first)s::int[],
                         %(term_every)s::int[], %(term_change)s::int[])
),
classes(license_class, bit) AS (
    SELECT * FROM unnest(%(class_names)s::text[], %(class_bits)s::int[])
),
batch AS (
    SELECT i.id, i.status, i.smart_account_id, i.virtual_account_id, i.first_use_at, i.registered_at,
           i.last_report_at, i.pending_change_at, i.next_due_at, i.reporting_status,
           CASE WHEN ap.policy_id IS NULL THEN %(default_version)s::bigint ELSE v.version_id END AS version_id
    FROM {INSTANCE} i
    LEFT JOIN {ACCOUNT_POLICY} ap ON ap.smart_account_id = i.smart_account_id
    LEFT JOIN versions v ON v.policy_id = ap.policy_id
    WHERE {scope.format(column="i.id")}
),
masks AS (
    SELECT u.product_instance_id AS id, bit_or(c.bit) AS mask
    FROM {USAGE} u
    JOIN {LICENSE} l ON l.id = u.license_id
    JOIN classes c ON c.license_class = l.policy_class
    WHERE {scope.format(column="u.product_instance_id")} AND u.count > 0
    GROUP BY u.product_instance_id
),
due AS (
    SELECT b.*, LEAST(
        CASE WHEN b.last_report_at IS NULL
             THEN COALESCE(b.first_use_at, b.registered_at) + t.first_days * INTERVAL '24 hours' END,
        b.pending_change_at + t.change_days * INTERVAL '24 hours',
        b.last_report_at + t.every_days * INTERVAL '24 hours'
    ) AS new_due
    FROM batch b
    LEFT JOIN masks m ON m.id = b.id
    LEFT JOIN terms t ON b.status = 'active' AND t.version_id = b.version_id AND t.mask = m.mask
    WHERE b.status <> 'removed'
),
pending AS MATERIALIZED (
    SELECT d.*, CASE WHEN d.new_due IS NULL THEN 'not_required'
                     WHEN d.new_due < %(now)s THEN 'overdue'
                     WHEN d.new_due <= %(soon)s THEN 'due_soon'
                     ELSE 'ok' END AS new_status
    FROM due d
    WHERE d.next_due_at IS DISTINCT FROM d.new_due
       OR d.reporting_status <> CASE WHEN d.new_due IS NULL THEN 'not_required'
                                     WHEN d.new_due < %(now)s THEN 'overdue'
                                     WHEN d.new_due <= %(soon)s THEN 'due_soon'
                                     ELSE 'ok' END
),
changed AS (
    UPDATE {INSTANCE} i
    SET next_due_at = c.new_due,
        reporting_status = c.new_status,
        reporting_status_changed_at = CASE WHEN i.reporting_status <> c.new_status THEN %(now)s
                                           ELSE i.reporting_status_changed_at END
    FROM pending c
    WHERE i.id = c.id AND {scope.format(column="i.id")}
      AND (i.next_due_at IS DISTINCT FROM c.new_due OR i.reporting_status <> c.new_status)
      AND i.status = c.status AND i.smart_account_id = c.smart_account_id
      AND i.registered_at = c.registered_at
      AND i.first_use_at IS NOT DISTINCT FROM c.first_use_at
      AND i.last_report_at IS NOT DISTINCT FROM c.last_report_at
      AND i.pending_change_at IS NOT DISTINCT FROM c.pending_change_at
    RETURNING i.id, i.reporting_status, i.virtual_account_id, i.next_due_at
),
final AS (  -- each instance of the batch as it stands now: as written here, else as read
    SELECT b.id, b.status,
           CASE WHEN c.id IS NULL THEN b.reporting_status ELSE c.reporting_status END AS reporting_status,
           CASE WHEN c.id IS NULL THEN b.virtual_account_id ELSE c.virtual_account_id END AS virtual_account_id,
           CASE WHEN c.id IS NULL THEN b.next_due_at ELSE c.next_due_at END AS next_due_at
    FROM batch b LEFT JOIN changed c ON c.id = b.id
),
open_alerts AS (
    SELECT a.product_instance_id, a.kind, a.virtual_account_id, a.due_at
    FROM {ALERT} a
    WHERE {scope.format(column="a.product_instance_id")} AND a.resolved_at IS NULL
),
wanted AS (  -- the deadline alerts the statuses ask for, as (instance, kind, VA, due date)
    SELECT id, reporting_status, virtual_account_id, next_due_at FROM final
    WHERE status <> 'removed' AND reporting_status IN ('due_soon', 'overdue')
),
kept AS (  -- the open deadline alerts, in the same form
    SELECT product_instance_id, kind, virtual_account_id, due_at FROM open_alerts
    WHERE kind IN ('due_soon', 'overdue')
)
-- Set differences (hashed whatever the planner guesses of the row counts): an open alert nobody wants
-- or an open alert of a removed instance (to resolve), a wanted alert not open (to open).
SELECT (SELECT COUNT(*) FROM changed),
       ARRAY(SELECT product_instance_id FROM (SELECT * FROM kept EXCEPT SELECT * FROM wanted) unwanted
             UNION
             (SELECT product_instance_id FROM open_alerts INTERSECT SELECT id FROM final WHERE status = 'removed')),
       ARRAY(SELECT id FROM (SELECT * FROM wanted EXCEPT SELECT * FROM kept) missing),
       COUNT(*) FILTER (WHERE reporting_status = 'ok'),
       COUNT(*) FILTER (WHERE reporting_status = 'due_soon'),
       COUNT(*) FILTER (WHERE reporting_status = 'overdue'),
       COUNT(*) FILTER (WHERE reporting_status = 'not_required')
FROM final WHERE status <> 'removed'
"""


_RECOMPUTE_SQL = {scope: _recompute_statement(scope) for scope in (RANGE, LISTED)}


def _recompute_params(now: datetime, latest: dict[int, int], default_version: int | None, rules_by_version) -> dict:
    """What every batch's statement shares: the versions in force and their terms per set of license classes."""
    term_rows = [
        (version_id, mask, terms.first_report_days, terms.reporting_frequency_days, terms.report_on_change_days)
        for version_id in set(latest.values())
        for mask, terms in policy_rules.terms_by_mask(rules_by_version.get(version_id, {})).items()
    ]
    columns = list(zip(*term_rows, strict=True)) if term_rows else [(), (), (), (), ()]
    return {
        "policy_ids": list(latest.keys()),
        "version_ids": list(latest.values()),
        "default_version": default_version,
        "term_versions": list(columns[0]),
        "term_masks": list(columns[1]),
        "term_first": list(columns[2]),
        "term_every": list(columns[3]),
        "term_change": list(columns[4]),
        "class_names": list(policy_rules.CLASS_BITS.keys()),
        "class_bits": list(policy_rules.CLASS_BITS.values()),
        "now": now,
        "soon": _soon(now),
    }


@dataclass(frozen=True)
class _Batch:
    changed: int  # rows written
    to_resolve: list[int]  # instances with an open deadline alert their status does not ask for
    to_open: list[int]  # instances whose status asks for a deadline alert that is not open
    counts: dict[str, int]  # the batch's (not removed) instances per reporting status


def _recompute_sql(scope: str, scope_params: dict, params: dict) -> _Batch:
    with connection.cursor() as cursor:
        cursor.execute(_RECOMPUTE_SQL[scope], {**params, **scope_params})
        changed, to_resolve, to_open, *counts = cursor.fetchone()
    return _Batch(changed, to_resolve, to_open, dict(zip([s.value for s in STATUSES], counts, strict=True)))


# --- 1. Recompute: the portable fallback -------------------------------------------------------------


def _recompute_python(scope: _Scope, plan: _Plan) -> int:
    rows = list(
        ProductInstance.objects.filter(**scope.orm("pk"))
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
        ProductInstanceUsage.objects.filter(**scope.orm("product_instance_id"), count__gt=0)
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
        version = plan.latest.get(assigned[account_id]) if account_id in assigned else plan.default_version
        in_use = classes[pk] if status == ProductInstance.Status.ACTIVE else set()
        terms = policy_rules.terms_for(plan.rules_by_version.get(version, {}), in_use)
        due = policy_rules.next_due(
            terms=terms, first_use_at=first_use or registered, last_report_at=last_report, pending_change_at=pending
        )
        new_status = policy_rules.status_for(due, plan.now)
        if due != stored_due or new_status != stored_status:
            changes.append((pk, due, new_status, new_status != stored_status))
    if not changes:
        return 0
    adapt = connection.ops.adapt_datetimefield_value
    # PostgreSQL types a VALUES list from its values, and a column of NULLs would be text.
    due_type = "::timestamptz" if connection.vendor == "postgresql" else ""
    values = ", ".join([f"(%s, %s{due_type}, %s, %s)"] * len(changes))
    params = [p for pk, due, st, moved in changes for p in (pk, adapt(due), st, 1 if moved else 0)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH v(id, due, status, moved) AS (VALUES {values})
            UPDATE {INSTANCE} SET next_due_at = v.due, reporting_status = v.status,
                reporting_status_changed_at = CASE WHEN v.moved = 1 THEN %s ELSE reporting_status_changed_at END
            FROM v WHERE {INSTANCE}.id = v.id
            """,
            [*params, adapt(plan.now)],
        )
    return len(changes)


# --- 2. and 3. Alerts (portable SQL: PostgreSQL and SQLite ≥ 3.39) ------------------------------------


def _resolve_sql(scope: str) -> str:
    return f"""
UPDATE {ALERT} SET resolved_at = %(now)s
WHERE resolved_at IS NULL AND {scope.format(column="product_instance_id")}
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


# The instances are read by key first (MATERIALIZED), then filtered by status: the planner must not
# walk the status index of the whole table instead, which is what it picks when its statistics still
# say hardly any instance is due (right after every status changed, as in a first evaluation).
def _open_sql(scope: str) -> str:
    return f"""
WITH batch AS MATERIALIZED (
    SELECT id, smart_account_id, virtual_account_id, reporting_status, next_due_at, hostname, pid, serial_number
    FROM {INSTANCE}
    WHERE {scope.format(column="id")} AND status <> 'removed'
)
INSERT INTO {ALERT} (smart_account_id, virtual_account_id, product_instance_id, kind, severity, message, due_at,
                     opened_at)
SELECT i.smart_account_id, i.virtual_account_id, i.id, i.reporting_status,
       CASE WHEN i.reporting_status = 'overdue' THEN 'critical' ELSE 'warning' END,
       CASE WHEN i.reporting_status = 'overdue' THEN 'Usage report overdue: ' ELSE 'Usage report due soon: ' END
         || COALESCE(NULLIF(i.hostname, ''), 'PID:' || i.pid || ' SN:' || i.serial_number),
       i.next_due_at, %(now)s
FROM batch i
WHERE i.reporting_status IN ('due_soon', 'overdue')
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


def _with_events_sql(statement: str, action: str, ids: list[int], now: datetime) -> int:
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
                SELECT %(now)s, c.smart_account_id, c.virtual_account_id, COALESCE(MAX(va.name), ''), %(action)s,
                       {message},
                       jsonb_build_object('kind', c.kind, 'alerts', COUNT(*))
                FROM changed c LEFT JOIN {VA} va ON va.id = c.virtual_account_id
                GROUP BY c.smart_account_id, c.virtual_account_id, c.kind
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM changed), (SELECT COUNT(*) FROM logged)
            """,
            {"now": now, "ids": ids, "action": action},
        )
        return cursor.fetchone()[0]


def _resolve_alerts(scope: str, scope_params: dict, now: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_resolve_sql(scope), {**scope_params, "now": connection.ops.adapt_datetimefield_value(now)})
        return cursor.fetchall()


def _open_alerts(scope: str, scope_params: dict, now: datetime) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(_open_sql(scope), {**scope_params, "now": connection.ops.adapt_datetimefield_value(now)})
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
