"""Evaluating every product instance's reporting deadline, in bounded batches.

`evaluate_reporting_deadlines` walks the instances by primary-key range (`batch_size` ids at a
time, each batch its own short transaction) and runs a fixed number of statements per batch,
whatever the number of instances in it:

1. recompute `next_due_at` and `reporting_status` from the sources (first use, last accepted
   report, earliest pending change, the licenses in use and the policy in force) and write only the
   rows whose values differ;
2. resolve open alerts that no longer hold (status, due date or VA changed, or the instance was
   removed);
3. open the due-soon / overdue alert an instance in that status lacks (the partial unique index
   keeps one open alert per instance and kind even when two evaluations race);
4. write the events: one per account, VA and kind of alert opened or resolved ("12 product
   instances became overdue").

On PostgreSQL (`_set_based`, the one switch) the statements of `policy.queries` do this: one
`UPDATE … FROM (WITH …)` per batch for step 1, which also finds the instances whose alerts
disagree, then steps 2 and 3 each with their events in one statement (data-modifying CTEs).
Elsewhere (SQLite), and for a refresh of at most `SMALL_SET` instances, the reference of
`policy.rules` runs through the ORM: one read of the batch, its license classes and their
assignments, `instance_deadline` and `status_for` per instance, one bulk update, then
`reconcile_alerts` and one bulk insert of events. The evaluation of a million instances is why the
SQL stays (README, performance; about 10× the reference's speed on 10,000 instances).

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

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Max, Min
from django.utils import timezone

from licensing.models import InstanceDeadline, ProductInstance, ProductInstanceUsage
from smartaccounts.models import Event, VirtualAccount

from . import queries
from . import rules as policy_rules
from .models import AccountPolicy, Alert, DeadlineEvaluationRun

Status = ProductInstance.ReportingStatus
STATUSES = [Status.OK, Status.DUE_SOON, Status.OVERDUE, Status.NOT_REQUIRED]
PG_BATCH_SIZE = 20_000
FALLBACK_BATCH_SIZE = 2_000
# A refresh of at most this many instances runs the rules in Python (`policy.rules`, a few short
# queries); a bigger one (a policy change on a whole account) runs the set-based statement.
SMALL_SET = 200
# Finished and abandoned runs are forgotten after this long.
RUNS_KEPT = timedelta(days=7)


def _set_based() -> bool:
    """The one switch between the SQL of `policy.queries` (PostgreSQL) and the reference (`policy.rules`)."""
    return connection.vendor == "postgresql"


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
    postgres = _set_based()
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
                if postgres:
                    _commit_without_waiting()
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
            .values_list("deadline__reporting_status")
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
        postgres = _set_based()
        set_based = postgres and len(ids) > SMALL_SET
        plan = _plan(now or timezone.now(), set_based=set_based)
        batch_size = _default_batch_size(postgres)
        for start in range(0, len(ids), batch_size):
            _evaluate(plan, _Scope(ids=tuple(ids[start : start + batch_size])), totals, set_based=set_based)
    return {key: totals[key] for key in ("changed", "alerts_opened", "alerts_resolved")}


def _commit_without_waiting() -> None:
    """The batch's commit does not wait for its WAL to reach the disk (PostgreSQL's `synchronous_commit`,
    this transaction only). What a batch writes is derived from what is stored, and its progress is
    written in the same transaction: a crash loses the last batches and their progress together, and
    the next run (or the resumed one) computes them again. Fifty commits of a 1,000,000-instance run
    then cost no disk flush each."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")


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
    versions: policy_rules.VersionsInForce
    params: dict | None  # the set-based statement's parameters


def _plan(now: datetime, *, set_based: bool) -> _Plan:
    versions = policy_rules.versions_in_force()
    return _Plan(now, versions, _recompute_params(now, versions) if set_based else None)


@dataclass(frozen=True)
class _Scope:
    """The instances one batch covers: the id range [lo, hi), or the ids listed."""

    lo: int = 0
    hi: int = 0
    ids: tuple[int, ...] | None = None

    def sql(self) -> tuple[str, dict]:
        """The statements' filter (`{column}`: the instance id column) and its parameters."""
        if self.ids is None:
            return queries.RANGE, {"lo": self.lo, "hi": self.hi}
        return queries.LISTED, {"ids": list(self.ids)}

    def orm(self, field: str) -> dict:
        if self.ids is None:
            return {f"{field}__gte": self.lo, f"{field}__lt": self.hi}
        return {f"{field}__in": self.ids}


def _evaluate(plan: _Plan, scope: _Scope, totals: Counter, *, set_based: bool) -> None:
    """One batch, in the caller's transaction: deadlines and statuses, then the alerts and their events."""
    if not set_based:  # the reference
        instances = _recompute_reference(scope, plan)
        totals["changed"] += sum(1 for instance in instances if instance.changed)
        resolved, opened = policy_rules.reconcile_alerts(instances, now=plan.now)
        _record_alert_events(opened, resolved, plan.now)
        totals["alerts_resolved"] += len(resolved)
        totals["alerts_opened"] += len(opened)
        return
    # PostgreSQL: one statement recomputes and finds the alerts to change
    template, scope_params = scope.sql()
    batch = _recompute_sql(template, scope_params, plan.params)
    totals.update(batch.counts)
    totals["changed"] += batch.changed
    for action, ids, statement, key in (
        ("policy.alert_resolved", batch.to_resolve, queries.resolve_alerts_statement, "alerts_resolved"),
        ("policy.alert_opened", batch.to_open, queries.open_alerts_statement, "alerts_opened"),
    ):
        if ids:
            texts = {kind: text for (act, kind), text in EVENT_TEXT.items() if act == action}
            totals[key] += queries.with_alert_events(statement(queries.LISTED), action, texts, ids, plan.now)


def _soon(now: datetime) -> datetime:
    return now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS)


def _recompute_params(now: datetime, versions: policy_rules.VersionsInForce) -> dict:
    """What every batch's statement shares: the versions in force and their terms per set of license classes."""
    term_rows = [
        (version_id, mask, terms.first_report_days, terms.reporting_frequency_days, terms.report_on_change_days)
        for version_id, rules in versions.rules.items()
        for mask, terms in policy_rules.terms_by_mask(rules).items()
    ]
    columns = list(zip(*term_rows, strict=True)) if term_rows else [(), (), (), (), ()]
    default = versions.version_for(None)
    return {
        "policy_ids": list(versions.latest.keys()),
        "version_ids": [version.pk for version in versions.latest.values()],
        "default_version": default.pk if default is not None else None,
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
        cursor.execute(queries.EVALUATE_DEADLINES[scope], {**params, **scope_params})
        changed, to_resolve, to_open, *counts = cursor.fetchone()
    return _Batch(changed, to_resolve, to_open, dict(zip([s.value for s in STATUSES], counts, strict=True)))


_RECOMPUTE_FIELDS = (
    "pk", "smart_account_id", "virtual_account_id", "status", "first_use_at", "registered_at", "last_report_at",
    "pending_change_at", "hostname", "pid", "serial_number", "deadline__next_due_at", "deadline__reporting_status",
    "deadline__reporting_status_changed_at", "deadline__virtual_account_id",
)  # fmt: skip


def _recompute_reference(scope: _Scope, plan: _Plan) -> list[ProductInstance]:
    """The rules of `policy.rules` for the scope's instances: their deadline and status written where
    they differ (`changed` set on each). Returns every instance of the scope, removed ones included
    (their alerts are resolved)."""
    instances = list(
        ProductInstance.objects.filter(**scope.orm("pk")).select_related("deadline").only(*_RECOMPUTE_FIELDS)
    )
    classes: dict[int, set[str]] = defaultdict(set)
    usage = (
        ProductInstanceUsage.objects.filter(**scope.orm("product_instance_id"), count__gt=0)
        .values_list("product_instance_id", "license__policy_class")
        .distinct()
    )
    for instance_id, license_class in usage:
        classes[instance_id].add(license_class)
    assigned = dict(
        AccountPolicy.objects.filter(smart_account_id__in={i.smart_account_id for i in instances}).values_list(
            "smart_account_id", "policy_id"
        )
    )
    changed = []
    for instance in instances:
        instance.changed = False
        if instance.status == ProductInstance.Status.REMOVED:
            continue
        version = plan.versions.version_for(assigned.get(instance.smart_account_id))
        _, due = policy_rules.instance_deadline(
            instance,
            classes[instance.pk],
            plan.versions.rules_of(version),
            last_report_at=instance.last_report_at,
            pending_change_at=instance.pending_change_at,
        )
        status = policy_rules.status_for(due, plan.now)
        deadline = instance.deadline
        if due != deadline.next_due_at or status != deadline.reporting_status:
            if status != deadline.reporting_status:
                deadline.reporting_status_changed_at = plan.now
            deadline.next_due_at, deadline.reporting_status, instance.changed = due, status, True
            changed.append(deadline)
    InstanceDeadline.objects.bulk_update(
        changed, ["next_due_at", "reporting_status", "reporting_status_changed_at"], batch_size=500
    )
    return instances


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


def _record_alert_events(opened: list[Alert], resolved: list[Alert], now: datetime) -> None:
    """The events of the alerts a batch opened and resolved: one per account, VA and kind."""
    if not opened and not resolved:
        return
    va_names = dict(
        VirtualAccount.objects.filter(pk__in={a.virtual_account_id for a in opened + resolved}).values_list(
            "pk", "name"
        )
    )
    groups: Counter = Counter()
    for action, alerts in (("policy.alert_opened", opened), ("policy.alert_resolved", resolved)):
        for alert in alerts:
            groups[(action, alert.smart_account_id, alert.virtual_account_id, alert.kind)] += 1
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
