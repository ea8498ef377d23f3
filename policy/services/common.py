"""What the report and notice services share: instance lookup and locking, the deadline state of
one instance, its deadline alerts, the time checks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from licensing.models import License, ProductInstance, ProductInstanceUsage

from .. import rules as policy_rules
from ..formats import Refusal, iso
from ..models import PolicyRule, PolicyVersion

# Times in a report may run ahead of the portal's clock by this much (device clocks drift).
FUTURE_TOLERANCE = timedelta(minutes=5)

Status = ProductInstance.ReportingStatus


def find_instance(pid: str, serial_number: str) -> ProductInstance | None:
    """The live instance with this UDI, with its account and VA, its row locked until the transaction ends.

    The row lock serialises every report and notice of one instance (and comes before any balance
    lock, the order the ledger requires). Two reports of the same unknown UDI both find nothing; the
    UDI's unique constraint then lets only one create it, and the other retries.
    """
    found = policy_rules.lock_live_instances([(pid, serial_number)])
    return found[0] if found else None


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


@dataclass(frozen=True)
class LicenseRef:
    """What a report needs of a catalog license."""

    pk: int
    tag: str
    name: str
    policy_class: str


def licenses_by_tag(tags: set[str]) -> dict[str, LicenseRef]:
    if not tags:
        return {}
    found = License.objects.filter(tag__in=sorted(tags)).values_list("pk", "tag", "name", "policy_class")
    return {tag: LicenseRef(pk, tag, name, policy_class) for pk, tag, name, policy_class in found}


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
    terms, due = policy_rules.instance_deadline(
        instance, classes, rules, last_report_at=last_report_at, pending_change_at=pending_change_at
    )
    return DeadlineState(version, rules, terms, due, policy_rules.status_for(due, now), frozenset(classes))


def reconcile_deadline_alerts(instance: ProductInstance, *, now: datetime, resolve_late: bool) -> None:
    """Make the instance's open alerts agree with its new status (`policy.rules.reconcile_alerts`)."""
    policy_rules.reconcile_alerts([instance], now=now, resolve_late=resolve_late)
