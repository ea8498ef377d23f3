"""What the report and notice services share: instance lookup and locking, the deadline state of
one instance, its deadline alerts, the time checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from licensing.models import License, ProductInstance, ProductInstanceUsage

from .. import rules as policy_rules
from ..formats import Refusal, iso
from ..models import Alert, PolicyRule, PolicyVersion

# Times in a report may run ahead of the portal's clock by this much (device clocks drift).
FUTURE_TOLERANCE = timedelta(minutes=5)

Status = ProductInstance.ReportingStatus
DEADLINE_KINDS = (Alert.Kind.DUE_SOON, Alert.Kind.OVERDUE)


def find_instance(pid: str, serial_number: str, *, lock: bool = True) -> ProductInstance | None:
    """The live instance with this UDI, its row locked until the transaction ends (`lock`).

    The row lock serialises every report and notice of one instance (and comes before any balance
    lock, the order the ledger requires). Two reports of the same unknown UDI both find nothing; the
    UDI's unique constraint then lets only one create it, and the other retries.
    """
    instances = ProductInstance.objects.select_related("smart_account", "virtual_account")
    if lock:
        instances = instances.select_for_update(of=("self",))
    return instances.filter(pid=pid, serial_number=serial_number).exclude(status=ProductInstance.Status.REMOVED).first()


def refuse_future_times(times: list[tuple[str, datetime]], now: datetime) -> None:
    limit = now + FUTURE_TOLERANCE
    for path, value in times:
        if value > limit:
            raise Refusal(
                f"{path} is {iso(value)}, more than 5 minutes ahead of the portal's clock ({iso(now)}). "
                "Set the device's clock (NTP) and generate the report again.",
                code="future_time",
            )


def refuse_unknown_tags(tags: set[str], known: dict[str, License]) -> None:
    unknown = sorted(tags - known.keys())
    if unknown:
        raise Refusal(
            f"Unknown entitlement tag{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}. "
            "The portal's license catalog has no such license.",
            code="unknown_tags",
        )


def refuse_partner_holding(instance: ProductInstance) -> None:
    if instance.smart_account.is_partner_holding:
        raise Refusal(
            f"{instance.udi} is in a Partner Holding account, where licenses cannot be used: it cannot report "
            "usage there. Transfer the licenses to a Customer account and register the device there.",
            code="partner_holding",
        )


def refuse_reserved(instance: ProductInstance) -> None:
    if instance.status == ProductInstance.Status.RESERVED:
        raise Refusal(
            f"{instance.udi} holds a license reservation (SLR/PLR): its licenses are counted by the reservation and "
            "it does not report usage. Release the reservation before the device reports.",
            code="reserved",
        )


def licenses_by_tag(tags: set[str]) -> dict[str, License]:
    if not tags:
        return {}
    return {lic.tag: lic for lic in License.objects.filter(tag__in=tags).only("pk", "tag", "name", "policy_class")}


def current_classes(instance: ProductInstance) -> set[str]:
    return set(
        ProductInstanceUsage.objects.filter(product_instance=instance, count__gt=0).values_list(
            "license__policy_class", flat=True
        )
    )


@dataclass
class DeadlineState:
    version: PolicyVersion | None
    rules: dict[str, PolicyRule]
    terms: policy_rules.Terms
    next_due_at: datetime | None
    status: str
    classes: frozenset[str] = frozenset()

    @property
    def ack_required(self) -> bool:
        """Whether the rule of any license class the instance uses asks for an ACK."""
        return any(self.rules[c].ack_required for c in self.classes if c in self.rules)


def deadline_state(
    *,
    instance: ProductInstance,
    classes: set[str],
    last_report_at: datetime | None,
    pending_change_at: datetime | None,
    now: datetime,
    version: PolicyVersion | None = None,
    rules: dict[str, PolicyRule] | None = None,
) -> DeadlineState:
    """The instance's next deadline and status under the policy in force (see policy.rules)."""
    if rules is None:
        version, rules = policy_rules.rules_in_force(instance.smart_account_id)
    if instance.status != ProductInstance.Status.ACTIVE:
        classes = set()
    terms = policy_rules.terms_for(rules, classes)
    due = policy_rules.next_due(
        terms=terms,
        first_use_at=instance.first_use_at or instance.registered_at,
        last_report_at=last_report_at,
        pending_change_at=pending_change_at,
    )
    return DeadlineState(version, rules, terms, due, policy_rules.status_for(due, now), frozenset(classes))


def alert_subject(instance: ProductInstance) -> str:
    return instance.hostname or instance.udi


def deadline_alert_message(kind: str, instance: ProductInstance) -> str:
    prefix = "Usage report overdue: " if kind == Alert.Kind.OVERDUE else "Usage report due soon: "
    return (prefix + alert_subject(instance))[:500]


def reconcile_deadline_alerts(
    instance: ProductInstance, *, status: str, next_due_at: datetime | None, now: datetime, resolve_late: bool
) -> None:
    """Make the instance's open alerts agree with its new status (what the evaluation would do).

    Open deadline alerts of another kind, another due date or another VA are resolved; an
    accepted report (`resolve_late`) also resolves an open late-change alert. A due-soon or
    overdue status then has its one open alert (the database keeps it to one per kind).
    """
    stale = Q(kind__in=DEADLINE_KINDS) & (
        ~Q(kind=status) | ~Q(virtual_account_id=instance.virtual_account_id) | _due_differs(next_due_at)
    )
    if resolve_late:
        stale |= Q(kind=Alert.Kind.LATE_CHANGE)
    Alert.objects.filter(product_instance=instance, resolved_at__isnull=True).filter(stale).update(resolved_at=now)
    if status in DEADLINE_KINDS:
        Alert.objects.bulk_create(
            [
                Alert(
                    smart_account_id=instance.smart_account_id,
                    virtual_account_id=instance.virtual_account_id,
                    product_instance=instance,
                    kind=status,
                    severity=Alert.Severity.CRITICAL if status == Alert.Kind.OVERDUE else Alert.Severity.WARNING,
                    message=deadline_alert_message(status, instance),
                    due_at=next_due_at,
                    opened_at=now,
                )
            ],
            ignore_conflicts=True,
        )


def _due_differs(next_due_at: datetime | None) -> Q:
    if next_due_at is None:
        return Q(due_at__isnull=False)
    return Q(due_at__isnull=True) | ~Q(due_at=next_due_at)
