"""Step 3 of a batch: each report decided in order, in Python, exactly as one report at a time would be."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.exceptions import ValidationError

from licensing.limits import MAX_ACCOUNT_USAGE, account_usage_refusal
from licensing.models import ProductInstance
from smartaccounts.selectors import effective_role
from smartaccounts.services import record_event

from ... import signing
from ...formats import ParsedReport, Refusal, canonical_bytes, iso, signature_matches
from ...models import (
    Change,
    UsageReport,
)
from ...rules import terms_for
from ..common import (
    deadline_state,
    refuse_future_times,
    refuse_partner_holding,
    refuse_reserved,
    refuse_unknown_tags,
)
from .state import INSTANCE_UPDATE, Accepted, BatchState, NewChange, Pending, Replay, Slot, full_canonical

Source = UsageReport.Source


def decide(batch: BatchState, index: int, report: ParsedReport) -> Accepted | Replay:
    source, va = batch.source, batch.virtual_account
    slot = batch.slots.get((report.pid, report.serial_number))
    if slot is None:
        if source == Source.DEVICE or va is None:
            raise Refusal(
                f"No product instance {report.udi} is registered. Register the device with a registration token "
                "first; it then signs its reports with the trust code it receives."
                if source == Source.DEVICE
                else f"No product instance {report.udi} is registered; name a Virtual Account to create it in.",
                code="unknown_instance",
            )
    elif va is not None and source == Source.UPLOAD:
        instance = slot.instance
        if instance.smart_account_id != va.smart_account_id:
            raise Refusal(f"{report.udi} cannot be reported in this Smart Account.", code="other_account")
        if batch.actor is not None and instance.virtual_account_id != va.pk and not may_operate(batch, instance):
            raise Refusal(
                f"{report.udi} is in a Virtual Account where your role does not allow reporting usage.",
                code="not_permitted",
            )

    earlier = batch.accepted.get(report.report_id)
    if earlier is not None:
        if full_canonical(earlier.report.document) != full_canonical(report.document):
            raise _duplicate_id(report)
        return Replay(None, earlier, 0, earlier.slot.instance.pk)
    stored = batch.stored.get(report.report_id)
    if stored is not None:
        if full_canonical(stored.payload) != full_canonical(report.document):
            raise _duplicate_id(report)
        return Replay(stored.acknowledgement, None, stored.pk, stored.product_instance_id)

    instance = slot.instance if slot is not None else None
    signed = check_signature(report, instance, source)
    if instance is not None:
        refuse_partner_holding(instance)
        refuse_reserved(instance)
    elif va.smart_account.is_partner_holding:
        raise Refusal(
            f"{va.smart_account.name} is a Partner Holding account, where licenses cannot be used: "
            f"{report.udi} cannot be created or report usage there.",
            code="partner_holding",
        )
    refuse_unknown_tags(report.tags(), batch.licenses)
    refuse_future_times(report.times(), batch.now)
    if instance is not None and instance.last_report_at and report.generated_at < instance.last_report_at:
        raise Refusal(
            f"The report was generated at {iso(report.generated_at)}, before the last accepted report of "
            f"{report.udi} ({iso(instance.last_report_at)}). Reports are accepted in the order they were "
            "generated.",
            code="out_of_date",
        )
    account_id = instance.smart_account_id if instance is not None else va.smart_account_id
    version, rules = batch.policies.get(account_id, (None, {}))
    if version is None:
        raise ValidationError(
            "No reporting policy is in force: staff must mark one policy as the default.", code="no_policy"
        )
    refuse_past_account_maximum(batch, report, slot, account_id)
    created = slot is None
    if created:
        slot = create_instance(batch, report)
    accepted = apply(batch, index, report, slot, signed=signed, created=created, rules=rules, version=version)
    slot.accepted.append(accepted)
    batch.accepted[report.report_id] = accepted
    return accepted


def refuse_past_account_maximum(batch: BatchState, report: ParsedReport, slot: Slot | None, account_id: int) -> None:
    """A report whose usage would take its account past `MAX_ACCOUNT_USAGE` of a license is refused alone
    (the ledger checks the batch's sum again under the locks)."""
    current = slot.usage if slot is not None else {}
    for tag, count in report.usage_by_tag().items():
        license = batch.licenses[tag]
        increase = count - current.get(license.pk, 0)
        if increase > 0:
            in_use = batch.account_usage.get((account_id, license.pk), 0)
            if in_use + increase > MAX_ACCOUNT_USAGE:
                refusal = account_usage_refusal(license.tag, in_use, increase)
                raise Refusal(refusal.messages[0], code=refusal.code)


def may_operate(batch: BatchState, instance: ProductInstance) -> bool:
    va_id = instance.virtual_account_id
    if va_id not in batch.operable:
        role = effective_role(batch.actor, instance.virtual_account)
        batch.operable[va_id] = role is not None and role.allows("operate")
    return batch.operable[va_id]


def create_instance(batch: BatchState, report: ParsedReport) -> Slot:
    """No registration on day 0: an offline report of an unknown device creates it in the batch's VA."""
    va = batch.virtual_account
    instance = ProductInstance.objects.create(
        smart_account_id=va.smart_account_id,
        virtual_account=va,
        pid=report.pid,
        serial_number=report.serial_number,
        hostname=report.hostname,
        software_version=report.software_version,
        status=ProductInstance.Status.ACTIVE,
        registered_at=batch.now,
    )
    instance.smart_account = va.smart_account
    record_event(
        actor=batch.actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="instance.created_from_report",
        message=f"{report.udi} reported usage for the first time; created in {va.name}.",
        details={"udi": report.udi, "report_id": str(report.report_id)},
    )
    slot = Slot(instance=instance, usage={}, initial=tuple(getattr(instance, name) for name in INSTANCE_UPDATE))
    batch.slots[(instance.pid, instance.serial_number)] = slot
    return slot


def apply(batch: BatchState, index, report: ParsedReport, slot: Slot, *, signed, created, rules, version) -> Accepted:
    """An accepted report applied to its slot: usage, first use, changes, deadline, instance, ACK."""
    now, instance, known = batch.now, slot.instance, batch.licenses
    generated = report.generated_at
    stated = report.usage_by_tag()
    usage = {known[tag].pk: count for tag, count in stated.items()}
    had_report = instance.last_report_at is not None
    deltas = _apply_usage(batch, slot, usage)
    classes_now = {known[tag].policy_class for tag, count in stated.items() if count > 0}
    classes_before = {batch.license_classes[lic] for lic in deltas if usage.get(lic, 0) == 0}

    # First use: the earliest time the instance is known to have used a license (registration, or
    # the start of a reported period with licenses in use, whichever is earlier).
    starts = [m.start for m in report.measurements if m.count > 0]
    instance.first_use_at = min([*starts, *([instance.first_use_at] if instance.first_use_at else [])], default=None)

    # Changes: pending ones (from change notices) the report covers, the ones it states, and the
    # ones its usage and software version reveal (see README: derived changes).
    pending = slot.pending if instance.pending_change_at else []
    covered = [c for c in pending if c.occurred_at <= generated]
    remaining = [c for c in pending if c.occurred_at > generated]
    stated_changes = _stated_changes(report, covered, known)
    derived = [] if created else _derived_changes(report, instance, deltas, usage, known, had_report=had_report)

    pending_change_at = min((c.occurred_at for c in remaining), default=None)
    state = deadline_state(
        instance=instance,
        classes=classes_now,
        last_report_at=generated,
        pending_change_at=pending_change_at,
        now=now,
        version=version,
        rules=rules,
    )
    late_terms = state.terms if not classes_before else terms_for(state.rules, classes_now | classes_before)
    allowed = late_terms.report_on_change_days
    late_ids: set[int] = set()
    if allowed:
        limit = timedelta(days=allowed)
        late_ids = {c.pk for c in covered if generated - c.occurred_at > limit}
        for change in stated_changes:
            change.late = generated - change.occurred_at > limit
    late_changes = [c for c in covered if c.pk in late_ids or c.late] + [c for c in stated_changes if c.late]

    ack_uuid = uuid.uuid4()
    ack = _ack_document(report, instance, state, ack_uuid, now)
    _update_instance(batch, instance, report, state, pending_change_at)
    slot.pending = remaining

    subject = instance.hostname or instance.udi
    new_changes = stated_changes + derived
    return Accepted(
        index=index,
        report=report,
        slot=slot,
        signed=signed,
        ack_uuid=ack_uuid,
        ack_document=ack,
        version_id=state.version.pk,
        next_due_at=state.next_due_at,
        new_changes=new_changes,
        covered=[(c.pk, c.pk in late_ids) for c in covered],
        event_message=(
            f"Usage report from {subject} accepted ({Source(batch.source).label.lower()}); "
            + (f"next report due {state.next_due_at:%Y-%m-%d}." if state.next_due_at else "no report required.")
        )[:1000],
        event_details={
            "report_id": str(report.report_id),
            "ack_id": str(ack_uuid),
            "udi": instance.udi,
            "source": batch.source,
            "signed": signed,
            "next_report_due": iso(state.next_due_at),
            "changes": len(new_changes) + len(covered),
            "late_changes": len(late_changes),
        },
        late_alert=_late_alert(subject, late_changes, generated, allowed),
        now=now,
    )


def _apply_usage(batch: BatchState, slot: Slot, usage: dict[int, int]) -> dict[int, int]:
    """The slot's usage set to the report's; returns the change per license (and counts it in its account)."""
    target = {lic: count for lic, count in usage.items() if count > 0}
    if slot.usage == target:
        return {}
    deltas = {lic: target.get(lic, 0) - slot.usage.get(lic, 0) for lic in slot.usage.keys() | target.keys()}
    deltas = {lic: delta for lic, delta in deltas.items() if delta}
    slot.usage = target
    for lic, delta in deltas.items():
        key = (slot.instance.smart_account_id, lic)
        batch.account_usage[key] = batch.account_usage.get(key, 0) + delta
    return deltas


def _stated_changes(report: ParsedReport, covered: list[Pending], known) -> list[NewChange]:
    """The changes the report states that no covered pending change (a notice's) already records."""
    stated: list[NewChange] = []
    confirmed: set[int] = set()
    for event in report.events:
        license_id = known[event.tag].pk if event.tag else None
        match = next(
            (
                c
                for c in covered
                if c.pk not in confirmed
                and (c.kind, c.occurred_at, c.license_id, c.to_value)
                == (event.kind, event.at, license_id, event.to_value)
            ),
            None,
        )
        if match is not None:
            confirmed.add(match.pk)
            continue
        stated.append(
            NewChange(
                event.kind, event.at, event.from_value[:64], event.to_value[:64], license_id, Change.Source.REPORT
            )
        )
    return stated


def _derived_changes(report, instance, deltas, usage, known, *, had_report: bool) -> list[NewChange]:
    """The changes the report reveals without stating them: a count that moved since the last report
    (feature change), a new software version (upgrade)."""
    generated = report.generated_at
    derived: list[NewChange] = []
    explicit = {known[e.tag].pk for e in report.events if e.tag}
    if had_report:
        for license_id, delta in sorted(deltas.items()):
            if license_id not in explicit:
                count = usage.get(license_id, 0)
                derived.append(
                    NewChange(
                        Change.Kind.FEATURE_CHANGE, generated, str(count - delta), str(count), license_id,
                        Change.Source.USAGE,
                    )
                )  # fmt: skip
    upgraded = any(e.kind == Change.Kind.SOFTWARE_UPGRADE for e in report.events)
    old_version, new_version = instance.software_version, report.software_version
    if old_version and new_version and old_version != new_version and not upgraded:
        derived.append(
            NewChange(Change.Kind.SOFTWARE_UPGRADE, generated, old_version, new_version[:64], None, Change.Source.USAGE)
        )
    return derived


def _ack_document(report: ParsedReport, instance: ProductInstance, state, ack_uuid: uuid.UUID, now) -> dict:
    ack = {
        "type": "usage_report_ack",
        "ack_id": str(ack_uuid),
        "acknowledged_report_ids": [str(report.report_id)],
        "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
        "policy": {"name": state.version.policy.name, "version": state.version.number},
        "ack_required": state.ack_required,
        "next_report_due": iso(state.next_due_at),
        "reporting_status": state.status,
        "issued_at": iso(now),
    }
    ack["signature"] = signing.sign(canonical_bytes(ack))
    return ack


def _update_instance(batch: BatchState, instance: ProductInstance, report: ParsedReport, state, pending_change_at):
    """The instance as the accepted report leaves it (written in the batch's write step)."""
    now = batch.now
    deadline = instance.deadline
    if state.status != deadline.reporting_status:
        deadline.reporting_status_changed_at = now
    instance.last_report_at = report.generated_at
    instance.last_report_received_at = now
    instance.pending_change_at = pending_change_at
    deadline.next_due_at = state.next_due_at
    deadline.reporting_status = state.status
    if report.software_version:
        instance.software_version = report.software_version
    if report.hostname:
        instance.hostname = report.hostname
    if batch.source == Source.DEVICE:
        instance.last_contact_at = now


def _late_alert(subject: str, late_changes: list, generated, allowed: int) -> tuple[str, object] | None:
    """(message, due) of the late-change alert a report with late changes opens."""
    if not late_changes:
        return None
    first = min(late_changes, key=lambda c: c.occurred_at)
    days = (generated - first.occurred_at).days
    what = "software upgrade" if first.kind == Change.Kind.SOFTWARE_UPGRADE else "feature change"
    more = f" and {len(late_changes) - 1} more" if len(late_changes) > 1 else ""
    return (
        (
            f"Change reported late: {subject} reported a {what} of {first.occurred_at:%Y-%m-%d}{more} "
            f"{days} days after it happened; the policy allows {allowed}."
        )[:500],
        first.occurred_at + timedelta(days=allowed),
    )


def _duplicate_id(report: ParsedReport) -> Refusal:
    return Refusal(
        f"Report id {report.report_id} was already used by a different report. Every report needs a new id.",
        code="duplicate_id",
    )


def check_signature(report: ParsedReport, instance: ProductInstance | None, source: str) -> bool:
    """True when the report carries a valid signature; refuses what the rules do not allow."""
    trust_code = instance.trust_code if instance is not None else ""
    if source == Source.DEVICE and not trust_code:
        raise Refusal(
            f"{report.udi} has no trust code, so it cannot report online. Re-issue its trust code in the portal, "
            "or upload the report offline.",
            code="no_trust_code",
        )
    if trust_code:
        if not report.signed:
            raise Refusal(
                f"The report is not signed. {report.udi} has a trust code: its reports must carry an "
                "HMAC-SHA256 signature made with it.",
                code="signature_missing",
            )
        if not signature_matches(report.document, trust_code):
            raise Refusal(
                "The signature does not match: the report was changed after it was signed, or it was signed "
                f"with a trust code that is not {report.udi}'s.",
                code="signature_invalid",
            )
        return True
    if report.signed:
        raise Refusal(
            f"The report is signed, but {report.udi} "
            + ("is not registered here" if instance is None else "has no trust code")
            + ", so its signature cannot be checked. Re-issue the instance's trust code, or upload the report "
            "without its signature.",
            code="signature_unverifiable",
        )
    return False
