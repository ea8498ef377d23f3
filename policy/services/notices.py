"""Change notices: a software upgrade or feature change known before the device's next report."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from licensing.models import InstanceDeadline, ProductInstance
from smartaccounts.services import record_event

from ..formats import Refusal, iso, parse_notice, signature_matches
from ..models import Change
from .common import (
    current_classes,
    deadline_state,
    find_instance,
    licenses_by_tag,
    reconcile_deadline_alerts,
    refuse_future_times,
    refuse_partner_holding,
    refuse_reserved,
    refuse_unknown_tags,
)

__all__ = ["record_change_notice"]


def record_change_notice(*, payload) -> dict:
    """Record the changes a signed notice announces as pending; they start the report-on-change clock.

    The notice is signed like a usage report (HMAC-SHA256 with the instance's trust code) and
    refused whole, with a reason, when it does not match the schema, names an unknown instance or
    one without a trust code, is not signed or not signed by it, is about an instance in a Partner
    Holding account or a reserved one, names unknown entitlement tags, has times more than 5 minutes
    ahead, or announces a change from before the instance's last accepted report (that report
    covers it). The same change announced again is recorded once. Returns the answer for the device.
    """
    notice = parse_notice(payload)
    with transaction.atomic():
        now = timezone.now()
        instance = _instance_for(notice)
        known = licenses_by_tag({c.tag for c in notice.changes if c.tag})
        _refuse_notice(notice, instance, known, now)

        pending = set(
            Change.objects.filter(product_instance=instance, report__isnull=True).values_list(
                "kind", "occurred_at", "license_id", "from_value", "to_value"
            )
        )
        new = _new_changes(notice, instance, pending, known, now)
        earliest = min(
            [c.occurred_at for c in new] + ([instance.pending_change_at] if instance.pending_change_at else [])
        )
        state = deadline_state(
            instance=instance,
            classes=current_classes(instance),
            last_report_at=instance.last_report_at,
            pending_change_at=earliest,
            now=now,
        )
        if new:
            Change.objects.bulk_create(new)
            ProductInstance.objects.filter(pk=instance.pk).update(last_contact_at=now, pending_change_at=earliest)
            instance.pending_change_at = earliest
            deadline = instance.deadline
            fields = {"next_due_at": state.next_due_at, "reporting_status": state.status}
            if state.status != deadline.reporting_status:
                fields["reporting_status_changed_at"] = now
            InstanceDeadline.objects.filter(pk=instance.pk).update(**fields)
            for name, value in fields.items():
                setattr(deadline, name, value)
            reconcile_deadline_alerts(instance, now=now, resolve_late=False)
            record_event(
                actor=None,
                smart_account=instance.smart_account,
                virtual_account=instance.virtual_account,
                action="usage.change_noticed",
                message=f"Change notice from {instance.hostname or instance.udi}: {len(new)} change(s) to report; "
                + (f"next report due {state.next_due_at:%Y-%m-%d}." if state.next_due_at else "no report required."),
                details={
                    "notice_id": str(notice.notice_id),
                    "udi": instance.udi,
                    "changes": len(new),
                    "next_report_due": iso(state.next_due_at),
                },
            )
        return {
            "notice_id": str(notice.notice_id),
            "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
            "recorded": len(new),
            "pending_change_at": iso(earliest),
            "next_report_due": iso(state.next_due_at),
            "reporting_status": state.status,
        }


def _instance_for(notice) -> ProductInstance:
    """The notice's instance, locked (`find_instance`), or the refusal of an unknown one."""
    instance = find_instance(notice.pid, notice.serial_number)
    if instance is None:
        raise Refusal(
            f"No product instance {notice.udi} is registered. Register the device with a token first.",
            code="unknown_instance",
        )
    return instance


def _refuse_notice(notice, instance: ProductInstance, known: dict, now) -> None:
    """Every reason to refuse the notice whole (see `record_change_notice`)."""
    if not instance.trust_code:
        raise Refusal(
            f"{notice.udi} has no trust code, so it cannot send change notices. Re-issue its trust code first.",
            code="no_trust_code",
        )
    if not signature_matches(notice.document, instance.trust_code):
        raise Refusal(
            "The signature does not match: the notice was changed after it was signed, or it was signed "
            f"with a trust code that is not {notice.udi}'s.",
            code="signature_invalid",
        )
    refuse_partner_holding(instance)
    refuse_reserved(instance)
    refuse_unknown_tags({c.tag for c in notice.changes if c.tag}, known)
    refuse_future_times(notice.times(), now)
    last = instance.last_report_at
    for i, change in enumerate(notice.changes):
        if last is not None and change.at <= last:
            raise Refusal(
                f"$.changes[{i}] happened at {iso(change.at)}, before the last accepted report of {notice.udi} "
                f"({iso(last)}), which covers it. Announce only changes since the last report.",
                code="already_reported",
            )


def _new_changes(notice, instance: ProductInstance, pending: set, known: dict, now) -> list[Change]:
    """The notice's changes not already pending (the same change announced again is recorded once)."""
    new = []
    for change in notice.changes:
        license_id = known[change.tag].pk if change.tag else None
        key = (change.kind, change.at, license_id, change.from_value[:64], change.to_value[:64])
        if key in pending:
            continue
        pending.add(key)
        new.append(
            Change(
                product_instance=instance,
                smart_account_id=instance.smart_account_id,
                kind=change.kind,
                occurred_at=change.at,
                from_value=key[3],
                to_value=key[4],
                license_id=license_id,
                noticed_at=now,
                source=Change.Source.NOTICE,
            )
        )
    return new
