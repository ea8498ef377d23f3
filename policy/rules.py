"""The reporting rules, each written once and readably: which policy version holds an account, what
it asks of an instance, when the instance's next report is due, which alerts its state asks for,
and how its row is locked. This is the reference: on SQLite it is what runs. `policy.queries` holds
the PostgreSQL statements that compute some of it faster for many instances at once, and
tests/policy/test_queries_differential.py holds the two to the same answers.

Deadline rule (times in UTC; a day is 24 hours, so daylight saving never moves a deadline):
next due = the earliest of
- first use + first-report days, while the instance has never reported;
- the earliest change not yet covered by a report + report-on-change days;
- the last accepted report + reporting-frequency days;
each rule taken from the STRICTEST license class the instance uses (per rule, the smallest
non-zero number of days among the classes of its licenses in use; 0 means the rule does not
apply). No license in use, no applicable rule, or a reserved (SLR/PLR) instance: no deadline.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, Subquery

from licensing.models import LicenseClass, ProductInstance

from .models import AccountPolicy, Alert, Policy, PolicyRule, PolicyVersion

Status = ProductInstance.ReportingStatus


@dataclass(frozen=True)
class Terms:
    """What applies to one instance: the strictest non-zero days per rule (None: not required)."""

    first_report_days: int | None = None
    reporting_frequency_days: int | None = None
    report_on_change_days: int | None = None

    @property
    def applies(self) -> bool:
        return any((self.first_report_days, self.reporting_frequency_days, self.report_on_change_days))


def _smallest(values: Iterable[int]) -> int | None:
    return min((v for v in values if v), default=None)


def strictest(rules: Iterable[PolicyRule]) -> Terms:
    rules = list(rules)
    return Terms(
        first_report_days=_smallest(r.first_report_days for r in rules),
        reporting_frequency_days=_smallest(r.reporting_frequency_days for r in rules),
        report_on_change_days=_smallest(r.report_on_change_days for r in rules),
    )


def next_due(
    *,
    terms: Terms,
    first_use_at: datetime | None,
    last_report_at: datetime | None,
    pending_change_at: datetime | None,
) -> datetime | None:
    candidates = []
    if last_report_at is None and terms.first_report_days and first_use_at is not None:
        candidates.append(first_use_at + timedelta(days=terms.first_report_days))
    if pending_change_at is not None and terms.report_on_change_days:
        candidates.append(pending_change_at + timedelta(days=terms.report_on_change_days))
    if last_report_at is not None and terms.reporting_frequency_days:
        candidates.append(last_report_at + timedelta(days=terms.reporting_frequency_days))
    return min(candidates, default=None)


def instance_deadline(
    instance: ProductInstance,
    classes: Iterable[str],
    rules: dict[str, PolicyRule],
    *,
    last_report_at: datetime | None,
    pending_change_at: datetime | None,
) -> tuple[Terms, datetime | None]:
    """The terms and the next deadline of an instance using licenses of `classes` under `rules`: only an
    active instance has a deadline (a reserved one is counted by its reservation); first use counts
    from registration when no use is known."""
    in_use = set(classes) if instance.status == ProductInstance.Status.ACTIVE else set()
    terms = terms_for(rules, in_use)
    due = next_due(
        terms=terms,
        first_use_at=instance.first_use_at or instance.registered_at,
        last_report_at=last_report_at,
        pending_change_at=pending_change_at,
    )
    return terms, due


def status_for(due: datetime | None, now: datetime) -> str:
    if due is None:
        return Status.NOT_REQUIRED.value
    if due < now:
        return Status.OVERDUE.value
    if due <= now + timedelta(days=settings.REPORTING_DUE_SOON_DAYS):
        return Status.DUE_SOON.value
    return Status.OK.value


# --- The policy in force (the reference; `policy.queries` computes it in SQL for the evaluation) -----


@dataclass(frozen=True)
class VersionsInForce:
    """Every policy's latest version and its rules: what decides the terms of any account."""

    latest: dict[int, PolicyVersion]  # {policy id: its latest version, with its policy}
    default_policy_id: int | None
    rules: dict[int, dict[str, PolicyRule]]  # {version id: {license class: rule}}

    def version_for(self, assigned_policy_id: int | None) -> PolicyVersion | None:
        """The version in force for an account assigned this policy (None: the default policy's)."""
        return self.latest.get(self.default_policy_id if assigned_policy_id is None else assigned_policy_id)

    def rules_of(self, version: PolicyVersion | None) -> dict[str, PolicyRule]:
        return self.rules.get(version.pk, {}) if version is not None else {}


# The columns `versions_from_rows` reads: a version, its policy and one of its rules (None: no rule).
VERSION_ROW = (
    "pk", "number", "policy_id", "policy__name", "policy__is_default", "rules__pk", "rules__license_class",
    "rules__first_report_days", "rules__reporting_frequency_days", "rules__report_on_change_days",
    "rules__ack_required",
)  # fmt: skip


def versions_in_force(policy_ids: Iterable[int] | None = None) -> VersionsInForce:
    """The latest version of each policy (of `policy_ids` and the default; None: every policy) with its
    rules: one query (versions joined with their rules)."""
    versions = PolicyVersion.objects.all()
    if policy_ids is not None:
        versions = versions.filter(Q(policy_id__in=list(policy_ids)) | Q(policy__is_default=True))
    return versions_from_rows(versions.values(*VERSION_ROW))


def versions_from_rows(rows: Iterable[dict]) -> VersionsInForce:
    """The latest version of each policy among `rows` (dicts of `VERSION_ROW`, in any order) and its rules."""
    rows = sorted(rows, key=lambda row: (row["policy_id"], row["number"]))
    latest: dict[int, PolicyVersion] = {}
    rules: dict[int, dict[str, PolicyRule]] = {}
    default_policy_id = None
    for row in rows:
        version = latest.get(row["policy_id"])
        if version is None or version.pk != row["pk"]:  # by number: the last version seen is the latest
            policy = Policy(id=row["policy_id"], name=row["policy__name"], is_default=bool(row["policy__is_default"]))
            version = latest[row["policy_id"]] = PolicyVersion(id=row["pk"], number=row["number"], policy=policy)
            rules[version.pk] = {}
            if policy.is_default:
                default_policy_id = policy.pk
        if row["rules__pk"] is not None:
            rules[version.pk][row["rules__license_class"]] = PolicyRule(
                id=row["rules__pk"],
                version=version,
                license_class=row["rules__license_class"],
                first_report_days=row["rules__first_report_days"],
                reporting_frequency_days=row["rules__reporting_frequency_days"],
                report_on_change_days=row["rules__report_on_change_days"],
                ack_required=bool(row["rules__ack_required"]),
            )
    in_force = {version.pk for version in latest.values()}
    return VersionsInForce(latest, default_policy_id, {pk: found for pk, found in rules.items() if pk in in_force})


def policies_in_force(
    smart_account_ids: Iterable[int], *, assigned: dict[int, int] | None = None, table: VersionsInForce | None = None
) -> dict[int, tuple[PolicyVersion, dict[str, PolicyRule]]]:
    """{account id: (the version in force, its rules by license class)}: the latest version of the
    policy assigned to the account, else of the default policy. An account without either is left out.
    `assigned` ({account id: policy id}, every assignment of these accounts) and `table` (the versions of
    those policies and the default's): when the caller has read them."""
    ids = set(smart_account_ids)
    if not ids:
        return {}
    if assigned is None:
        assigned = dict(
            AccountPolicy.objects.filter(smart_account_id__in=ids).values_list("smart_account_id", "policy_id")
        )
    if table is None:
        table = versions_in_force(assigned.values())
    found = {}
    for account_id in ids:
        version = table.version_for(assigned.get(account_id))
        if version is not None:
            found[account_id] = (version, table.rules_of(version))
    return found


def rules_in_force(smart_account_id: int) -> tuple[PolicyVersion | None, dict[str, PolicyRule]]:
    """The version in force for one account and its rules by license class (`policies_in_force` for one
    account, its assignment read in the same query as the versions: one query)."""
    assignment = AccountPolicy.objects.filter(smart_account_id=smart_account_id).values("policy_id")
    rows = list(
        PolicyVersion.objects.filter(Q(policy_id__in=assignment) | Q(policy__is_default=True))
        .annotate(assigned_policy_id=Subquery(assignment[:1]))  # on every row, even of a policy without versions
        .values(*VERSION_ROW, "assigned_policy_id")
    )
    assigned = {smart_account_id: rows[0]["assigned_policy_id"]} if rows and rows[0]["assigned_policy_id"] else {}
    found = policies_in_force([smart_account_id], assigned=assigned, table=versions_from_rows(rows))
    return found.get(smart_account_id, (None, {}))


def terms_for(rules: dict[str, PolicyRule], license_classes: Iterable[str]) -> Terms:
    return strictest(rules[c] for c in set(license_classes) if c in rules)


# --- Sets of license classes as bit masks (the set-based evaluation's lookup key) -------------------

# Bit i stands for the i-th license class: an instance's classes in use are one small integer, and
# the terms of every set of classes under a version are worked out here once, by `terms_for`.
CLASS_BITS: dict[str, int] = {license_class: 1 << i for i, license_class in enumerate(LicenseClass.values)}


def classes_of(mask: int) -> set[str]:
    return {license_class for license_class, bit in CLASS_BITS.items() if mask & bit}


def terms_by_mask(rules: dict[str, PolicyRule]) -> dict[int, Terms]:
    """{class mask: the terms an instance using exactly those classes gets}, for the masks that ask a report."""
    found = {}
    for mask in range(1 << len(CLASS_BITS)):
        terms = terms_for(rules, classes_of(mask))
        if terms.applies:
            found[mask] = terms
    return found


# --- Alert reconciliation (the reference; `policy.queries` does it in SQL for the evaluation) -------

DEADLINE_KINDS = (Alert.Kind.DUE_SOON, Alert.Kind.OVERDUE)


ALERT_MESSAGE_PREFIX = {Alert.Kind.OVERDUE: "Usage report overdue: ", Alert.Kind.DUE_SOON: "Usage report due soon: "}


def deadline_alert_message(kind: str, instance: ProductInstance) -> str:
    """The alert's text: its kind, and the instance's hostname, else its UDI."""
    return (ALERT_MESSAGE_PREFIX[kind] + (instance.hostname or instance.udi))[:500]


def alert_holds(alert: Alert, instance: ProductInstance, *, resolve_late: bool) -> bool:
    """Whether an open alert still agrees with its instance. Every alert of a removed instance is
    resolved; a late-change alert stays until a report is accepted (`resolve_late`); a deadline alert
    stays while its instance has that status, in that VA, with that due date."""
    if instance.status == ProductInstance.Status.REMOVED:
        return False
    if alert.kind == Alert.Kind.LATE_CHANGE:
        return not resolve_late
    return (
        alert.kind == instance.reporting_status
        and alert.virtual_account_id == instance.virtual_account_id
        and alert.due_at == instance.next_due_at
    )


def wanted_alert(instance: ProductInstance, now: datetime) -> Alert | None:
    """The deadline alert the instance's status asks for (a live instance due soon or overdue)."""
    status = instance.reporting_status
    if instance.status == ProductInstance.Status.REMOVED or status not in DEADLINE_KINDS:
        return None
    return Alert(
        smart_account_id=instance.smart_account_id,
        virtual_account_id=instance.virtual_account_id,
        product_instance_id=instance.pk,
        kind=status,
        severity=Alert.Severity.CRITICAL if status == Alert.Kind.OVERDUE else Alert.Severity.WARNING,
        message=deadline_alert_message(status, instance),
        due_at=instance.next_due_at,
        opened_at=now,
    )


def reconcile_alerts(
    instances: Iterable[ProductInstance], *, now: datetime, resolve_late: bool = False
) -> tuple[list[Alert], list[Alert]]:
    """Make the instances' open alerts agree with their stored state: resolve those that no longer hold
    (`alert_holds`), open the deadline alert a status asks for when none is open. Three queries whatever
    the number of instances. Returns (resolved, opened); the database keeps one open alert per
    instance and kind, so a racing writer's alert is never doubled."""
    by_pk = {instance.pk: instance for instance in instances}
    if not by_pk:
        return [], []
    open_alerts = list(
        Alert.objects.filter(product_instance_id__in=list(by_pk), resolved_at__isnull=True).only(
            "pk", "smart_account_id", "virtual_account_id", "product_instance_id", "kind", "due_at"
        )
    )
    resolved = [a for a in open_alerts if not alert_holds(a, by_pk[a.product_instance_id], resolve_late=resolve_late)]
    if resolved:
        Alert.objects.filter(pk__in=[a.pk for a in resolved]).update(resolved_at=now)
    kept = {(a.product_instance_id, a.kind) for a in open_alerts} - {(a.product_instance_id, a.kind) for a in resolved}
    opened = [
        alert
        for instance in by_pk.values()
        if (alert := wanted_alert(instance, now)) is not None and (instance.pk, alert.kind) not in kept
    ]
    if opened:
        Alert.objects.bulk_create(opened, ignore_conflicts=True)
    return resolved, opened


# --- Instance locking (the reference; `policy.queries` has the batch's statement for PostgreSQL) -----


def lock_live_instances(udis: Iterable[tuple[str, str]]) -> list[ProductInstance]:
    """The live (not removed) instances with these UDIs (pid, serial number), with their account and VA,
    their rows locked until the transaction ends, in primary-key order: the ledger's lock order
    (instance rows before balance rows), which keeps concurrent reports from deadlocking."""
    udis = sorted(set(udis))
    if not udis:
        return []
    condition = Q()
    for pid, serial_number in udis:
        condition |= Q(pid=pid, serial_number=serial_number)
    return list(
        ProductInstance.objects.select_related("smart_account", "virtual_account", "deadline")
        .filter(condition)
        .exclude(status=ProductInstance.Status.REMOVED)
        .order_by("pk")
        .select_for_update(of=("self",))
    )


# --- Plain words -----------------------------------------------------------------------------------

CLASS_WORDS = {
    LicenseClass.UNENFORCED_PERPETUAL: "unenforced perpetual licenses",
    LicenseClass.UNENFORCED_SUBSCRIPTION: "unenforced subscription licenses",
    LicenseClass.ENFORCED: "enforced licenses",
    LicenseClass.EXPORT_CONTROLLED: "export-controlled licenses",
}


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def rule_sentence(first: int, every: int, on_change: int, ack: bool) -> str:
    """What one rule asks, as a sentence fragment after 'Devices using … '."""
    if not (first or every or on_change):
        return "need no usage reports (they are authorized instead)"
    parts = []
    if first and on_change and first == on_change:
        parts.append(f"report within {_days(first)} of first use and of any software upgrade or feature change")
    else:
        if first:
            parts.append(f"report within {_days(first)} of first use")
        if on_change:
            parts.append(f"report within {_days(on_change)} of any software upgrade or feature change")
    if every:
        parts.append(f"then once every {_days(every)}" if parts else f"report once every {_days(every)}")
    sentence = ", ".join(parts)
    if ack:
        sentence += "; each report must be acknowledged"
    return sentence


def describe(rules: dict[str, PolicyRule]) -> list[str]:
    """The policy in plain words: one sentence per group of license classes with the same rule."""
    groups: dict[tuple, list[str]] = {}
    for license_class in LicenseClass.values:
        rule = rules.get(license_class)
        key = (
            (rule.first_report_days, rule.reporting_frequency_days, rule.report_on_change_days, rule.ack_required)
            if rule
            else (0, 0, 0, False)
        )
        groups.setdefault(key, []).append(CLASS_WORDS[license_class])
    sentences = []
    for (first, every, on_change, ack), classes in groups.items():
        names = classes[0] if len(classes) == 1 else ", ".join(classes[:-1]) + " and " + classes[-1]
        sentences.append(f"Devices using {names} {rule_sentence(first, every, on_change, ack)}.")
    return sentences
