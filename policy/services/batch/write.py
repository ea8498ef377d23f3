"""Step 4 of a batch: every table written with one statement (one round trip on PostgreSQL)."""

from __future__ import annotations

from licensing import ledger
from licensing.models import InstanceDeadline, ProductInstance
from smartaccounts.models import Event

from ... import rules as policy_rules
from ...models import (
    Acknowledgement,
    Alert,
    Change,
    UsageMeasurement,
    UsageReport,
)
from .. import rows
from .state import DEADLINE_UPDATE, INSTANCE_UPDATE, Accepted, BatchState, Slot

Source = UsageReport.Source


def write(batch: BatchState) -> None:
    """Everything the accepted reports decided, written: usage through the ledger, then each table with one
    statement (all in one round trip on PostgreSQL)."""
    now = batch.now
    slots = [slot for slot in batch.slots.values() if slot.accepted]
    _write_usage(slots)
    accepted = sorted((a for slot in slots for a in slot.accepted), key=lambda a: a.index)
    if not accepted:
        return
    statements = rows.Statements()
    _write_acks_and_reports(batch, statements, accepted)
    actor_id = batch.actor.pk if batch.actor is not None else None

    known = batch.licenses
    statements.insert(
        UsageMeasurement,
        ("report_id", "product_instance_id", "smart_account_id", "received_at", "license_id", "count", "start", "end"),
        [
            (
                a.report_pk,
                a.slot.instance.pk,
                a.slot.instance.smart_account_id,
                now,
                known[m.tag].pk,
                m.count,
                m.start,
                m.end,
            )
            for a in accepted
            for m in a.report.measurements
        ],
    )
    statements.insert(
        Change,
        (
            "product_instance_id", "kind", "occurred_at", "from_value", "to_value", "license_id", "report_id",
            "reported_at", "late", "source", "smart_account_id",
        ),
        [
            (a.slot.instance.pk, c.kind, c.occurred_at, c.from_value, c.to_value, c.license_id, a.report_pk, now,
             c.late, c.source, a.slot.instance.smart_account_id)
            for a in accepted
            for c in a.new_changes
        ],
    )  # fmt: skip
    statements.update(
        Change,
        ("report_id", "reported_at", "late"),
        [(pk, a.report_pk, now, late) for a in accepted for pk, late in a.covered],
    )
    # Only the columns some report changed (a periodic report leaves the status, hostname and
    # software version as they were): fewer values to send, and a trigger declared for some
    # columns only (`UPDATE OF …`) does not fire for what no report changed.
    final = {slot.instance.pk: tuple(getattr(slot.instance, name) for name in INSTANCE_UPDATE) for slot in slots}
    columns = [
        i for i in range(len(INSTANCE_UPDATE)) if any(final[slot.instance.pk][i] != slot.initial[i] for slot in slots)
    ]
    for model, names in (
        (ProductInstance, set(INSTANCE_UPDATE) - set(DEADLINE_UPDATE)),
        (InstanceDeadline, DEADLINE_UPDATE),
    ):
        written = [i for i in columns if INSTANCE_UPDATE[i] in names]
        if written:
            statements.update(
                model,
                tuple(INSTANCE_UPDATE[i] for i in written),
                [(slot.instance.pk, *(final[slot.instance.pk][i] for i in written)) for slot in slots],
            )
    write_alerts(batch, statements, slots)
    statements.insert(
        Event,
        (
            "created_at", "actor_id", "smart_account_id", "virtual_account_id", "virtual_account_name", "action",
            "message", "details",
        ),
        [
            (now, actor_id, a.slot.instance.smart_account_id, a.slot.instance.virtual_account_id,
             a.slot.instance.virtual_account.name, "usage.report_accepted", a.event_message, a.event_details)
            for a in accepted
        ],
    )  # fmt: skip
    statements.run()


def _write_usage(slots: list[Slot]) -> None:
    """The usage changes through the ledger (`set_instances_usage`: summed per balance, locked in order)."""
    changed = {slot.instance.pk: slot.usage for slot in slots if slot.usage != slot.initial_usage}
    if changed:
        applied = ledger.set_instances_usage(changed, replace=True)
        for slot in slots:
            expected = {
                lic: slot.usage.get(lic, 0) - slot.initial_usage.get(lic, 0)
                for lic in slot.usage.keys() | slot.initial_usage.keys()
            }
            expected = {lic: delta for lic, delta in expected.items() if delta}
            if applied.get(slot.instance.pk, {}) != expected:  # pragma: no cover - the instance lock prevents it
                raise RuntimeError(f"Usage of instance {slot.instance.pk} changed under its lock.")


def _write_acks_and_reports(batch: BatchState, statements: rows.Statements, accepted: list[Accepted]) -> None:
    """The ACKs and reports: with the ids reserved at the read on PostgreSQL, one by one elsewhere (their ids
    are needed by the rows that follow)."""
    now = batch.now
    actor_id = batch.actor.pk if batch.actor is not None else None
    ack_names = (
        "ack_id", "product_instance_id", "policy_version_id", "next_due_at", "document", "created_at",
        "smart_account_id",
    )  # fmt: skip
    report_names = (
        "report_id", "product_instance_id", "source", "actor_id", "generated_at", "received_at", "signed",
        "software_version", "payload", "acknowledgement_id", "smart_account_id",
    )  # fmt: skip

    def ack_row(a: Accepted):
        return (
            a.ack_uuid, a.slot.instance.pk, a.version_id, a.next_due_at, a.ack_document, now,
            a.slot.instance.smart_account_id,
        )  # fmt: skip

    def report_row(a: Accepted):
        r = a.report
        return (
            r.report_id, a.slot.instance.pk, batch.source, actor_id, r.generated_at, now, a.signed,
            r.software_version, r.document, a.ack_pk, a.slot.instance.smart_account_id,
        )  # fmt: skip

    if batch.pg:
        for a, ack_pk, report_pk in zip(accepted, batch.ack_ids, batch.report_ids, strict=False):
            a.ack_pk, a.report_pk = ack_pk, report_pk
        statements.insert(Acknowledgement, ("id", *ack_names), [(a.ack_pk, *ack_row(a)) for a in accepted])
        statements.insert(UsageReport, ("id", *report_names), [(a.report_pk, *report_row(a)) for a in accepted])
    else:
        for a in accepted:
            a.ack_pk = rows.insert_returning(Acknowledgement, ack_names, ack_row(a))
            a.report_pk = rows.insert_returning(UsageReport, report_names, report_row(a))


def write_alerts(batch: BatchState, statements: rows.Statements, slots: list[Slot]) -> None:
    """Each reported instance's open alerts made to agree with the state the batch leaves it in, by the
    rule of `policy.rules.reconcile_alerts` (`alert_holds`, `wanted_alert`) applied to the alerts read
    with the batch: deadline alerts of another kind, due date or VA, and any late-change alert,
    resolved; the open alert its status calls for; and a late-change alert for a report with late
    changes (already resolved when a later report of the same instance in the batch follows it, as
    that report would have resolved it). Written with the batch's other statements (no round trip)."""
    now = batch.now
    resolved = [
        (slot, alert)
        for slot in slots
        for alert in slot.open_alerts
        if not policy_rules.alert_holds(alert, slot.instance, resolve_late=True)
    ]
    statements.update(Alert, ("resolved_at",), [(alert.pk, now) for _, alert in resolved])
    kept = {(slot.instance.pk, alert.kind) for slot in slots for alert in slot.open_alerts} - {
        (slot.instance.pk, alert.kind) for slot, alert in resolved
    }
    names = (
        "smart_account_id", "virtual_account_id", "product_instance_id", "kind", "severity", "message", "due_at",
        "opened_at", "resolved_at",
    )  # fmt: skip
    alerts = []
    for slot in slots:
        instance = slot.instance
        place = (instance.smart_account_id, instance.virtual_account_id, instance.pk)
        for a in slot.accepted:
            if a.late_alert is not None:
                message, due = a.late_alert
                resolved_at = None if a is slot.accepted[-1] else now
                alerts.append((*place, Alert.Kind.LATE_CHANGE, Alert.Severity.WARNING, message, due, now, resolved_at))
        wanted = policy_rules.wanted_alert(instance, now)
        if wanted is not None and (instance.pk, wanted.kind) not in kept:
            alerts.append((*place, wanted.kind, wanted.severity, wanted.message, wanted.due_at, now, None))
    statements.insert(Alert, names, alerts, ignore_conflicts=True)
