"""Usage reports in, signed ACKs out: `ingest_usage_report` and the offline upload built on it."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from licensing.ledger import set_instance_usage
from licensing.models import License, ProductInstance
from smartaccounts.models import Event, User, VirtualAccount
from smartaccounts.selectors import effective_role
from smartaccounts.services import record_event, require_va_role

from .. import signing
from ..formats import ParsedReport, Refusal, canonical_bytes, iso, parse_report, signature_matches, split_batch
from ..models import Acknowledgement, Alert, Change, UsageMeasurement, UsageReport, UsageUpload
from ..rules import terms_for
from . import rows
from .common import (
    deadline_state,
    find_instance,
    lookups,
    reconcile_deadline_alerts,
    refuse_future_times,
    refuse_partner_holding,
    refuse_reserved,
    refuse_unknown_tags,
)

__all__ = ["IngestOutcome", "ack_is_authentic", "ingest_report", "ingest_usage_report", "upload_usage_file"]

Source = UsageReport.Source
MAX_UPLOAD_REPORTS = 10_000


@dataclass(frozen=True)
class IngestOutcome:
    acknowledgement: Acknowledgement
    report_pk: int
    instance_pk: int
    replayed: bool  # the same report was received before: its ACK again, nothing applied


def ingest_usage_report(
    *, payload, source: str, actor: User | None = None, virtual_account: VirtualAccount | None = None
) -> Acknowledgement:
    """Accept one usage report and return its signed ACK, or refuse it whole with a reason.

    `source`: `device` (the online endpoint: the instance must exist and have a trust code, and the
    report must be signed with it), `upload` (an offline file: `actor` uploads into
    `virtual_account`, where instances the portal has never seen are created; the actor needs the
    User role there and on the VA of any instance reported) or `command` (an operator; unknown
    instances are created in `virtual_account` when one is given).

    Refusals (`policy.formats.Refusal`, a ValidationError whose code names the rule), checked before
    anything is written: schema errors with the JSON path; a missing or wrong signature for an
    instance with a trust code; a signature that cannot be checked (no trust code); an instance in a
    Partner Holding account; a reserved instance; unknown entitlement tags; times more than 5
    minutes ahead; a report generated before the instance's last accepted one. The same report
    again returns the same ACK and applies nothing twice; another report under a used id is refused.
    """
    if source == Source.UPLOAD:
        if actor is None or virtual_account is None:
            raise ValueError("An upload names the uploading user and the Virtual Account.")
        require_va_role(actor, virtual_account, "operate")
    return ingest_report(payload, source=source, actor=actor, virtual_account=virtual_account).acknowledgement


def ingest_report(
    payload, *, source: str, actor: User | None = None, virtual_account: VirtualAccount | None = None
) -> IngestOutcome:
    """`ingest_usage_report` after the caller's rights were checked; says whether it was a replay."""
    if source not in Source.values:
        raise ValueError(f"Unknown report source {source!r}.")
    report = parse_report(payload)
    for attempt in range(2):
        try:
            with transaction.atomic():
                return _ingest(report, source=source, actor=actor, virtual_account=virtual_account)
        except IntegrityError:
            # A concurrent writer won a race: the same report id (answer as for a replay), or the
            # same new UDI registered a moment ago (try again: the instance exists now).
            stored = _stored(report.report_id)
            if stored is not None:
                return _replayed(stored, report)
            if attempt:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _stored(report_id: uuid.UUID) -> UsageReport | None:
    """The report already received under this id, if any (the common answer, none, costs one small query)."""
    column = UsageReport._meta.get_field("report_id")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {UsageReport._meta.db_table} WHERE {column.column} = %s",
            [column.get_db_prep_value(report_id, connection)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return UsageReport.objects.select_related("acknowledgement").get(pk=row[0])


def _full_canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _replayed(stored: UsageReport, report: ParsedReport) -> IngestOutcome:
    if _full_canonical(stored.payload) != _full_canonical(report.document):
        raise Refusal(
            f"Report id {report.report_id} was already used by a different report. Every report needs a new id.",
            code="duplicate_id",
        )
    return IngestOutcome(stored.acknowledgement, stored.pk, stored.product_instance_id, replayed=True)


def _resolve(report: ParsedReport, *, source, actor, virtual_account) -> ProductInstance | None:
    """The instance the report is about, or None when it is to be created in `virtual_account`."""
    instance = find_instance(report.pid, report.serial_number)
    if instance is None:
        if source == Source.DEVICE or virtual_account is None:
            raise Refusal(
                f"No product instance {report.udi} is registered. Register the device with a registration token "
                "first; it then signs its reports with the trust code it receives."
                if source == Source.DEVICE
                else f"No product instance {report.udi} is registered; name a Virtual Account to create it in.",
                code="unknown_instance",
            )
        return None
    if virtual_account is not None and source == Source.UPLOAD:
        if instance.smart_account_id != virtual_account.smart_account_id:
            raise Refusal(f"{report.udi} cannot be reported in this Smart Account.", code="other_account")
        if actor is not None and instance.virtual_account_id != virtual_account.pk:
            role = effective_role(actor, instance.virtual_account)
            if role is None or not role.allows("operate"):
                raise Refusal(
                    f"{report.udi} is in a Virtual Account where your role does not allow reporting usage.",
                    code="not_permitted",
                )
    return instance


def _check_signature(report: ParsedReport, instance: ProductInstance | None, source: str) -> bool:
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


def _ingest(report: ParsedReport, *, source, actor, virtual_account) -> IngestOutcome:
    now = timezone.now()
    instance = _resolve(report, source=source, actor=actor, virtual_account=virtual_account)
    stored_id, known, current_usage = lookups(report.report_id, report.tags(), instance.pk if instance else None)
    if stored_id is not None:
        return _replayed(_stored(report.report_id), report)
    signed = _check_signature(report, instance, source)
    if instance is not None:
        refuse_partner_holding(instance)
        refuse_reserved(instance)
    elif virtual_account.smart_account.is_partner_holding:
        raise Refusal(
            f"{virtual_account.smart_account.name} is a Partner Holding account, where licenses cannot be used: "
            f"{report.udi} cannot be created or report usage there.",
            code="partner_holding",
        )
    refuse_unknown_tags(report.tags(), known)
    refuse_future_times(report.times(), now)
    if instance is not None and instance.last_report_at and report.generated_at < instance.last_report_at:
        raise Refusal(
            f"The report was generated at {iso(report.generated_at)}, before the last accepted report of "
            f"{report.udi} ({iso(instance.last_report_at)}). Reports are accepted in the order they were generated.",
            code="out_of_date",
        )

    created = instance is None
    if created:
        instance = _create_instance(report, virtual_account, actor, now)
    return _apply(
        report, instance, source=source, actor=actor, signed=signed, created=created, known=known,
        current=current_usage, now=now,
    )  # fmt: skip


def _create_instance(report: ParsedReport, virtual_account: VirtualAccount, actor, now) -> ProductInstance:
    """No registration on day 0: an offline report of an unknown device creates it in the upload's VA."""
    instance = ProductInstance.objects.create(
        smart_account_id=virtual_account.smart_account_id,
        virtual_account=virtual_account,
        pid=report.pid,
        serial_number=report.serial_number,
        hostname=report.hostname,
        software_version=report.software_version,
        status=ProductInstance.Status.ACTIVE,
        registered_at=now,
    )
    instance.smart_account = virtual_account.smart_account
    record_event(
        actor=actor,
        smart_account=virtual_account.smart_account,
        virtual_account=virtual_account,
        action="instance.created_from_report",
        message=f"{report.udi} reported usage for the first time; created in {virtual_account.name}.",
        details={"udi": report.udi, "report_id": str(report.report_id)},
    )
    return instance


def _apply(report: ParsedReport, instance: ProductInstance, *, source, actor, signed, created, known, current, now):
    generated = report.generated_at
    stated = report.usage_by_tag()
    usage = {known[tag].pk: count for tag, count in stated.items()}
    had_report = instance.last_report_at is not None
    # The ledger moves `in_use` on the balances (locking them) only when the usage differs: a
    # periodic report usually restates it, and then the read made with the other lookups is all it costs.
    if current != {lic: count for lic, count in usage.items() if count > 0}:
        deltas = set_instance_usage(instance, usage, replace=True)
    else:
        deltas = {}
    classes_now = {known[tag].policy_class for tag, count in stated.items() if count > 0}
    dropped = [lic for lic in deltas if usage.get(lic, 0) == 0]
    classes_before = (
        set(License.objects.filter(pk__in=dropped).values_list("policy_class", flat=True)) if dropped else set()
    )

    # First use: the earliest time the instance is known to have used a license (registration, or
    # the start of a reported period with licenses in use, whichever is earlier).
    starts = [m.start for m in report.measurements if m.count > 0]
    first_use_at = min([*starts, *([instance.first_use_at] if instance.first_use_at else [])], default=None)
    instance.first_use_at = first_use_at

    # Changes: pending ones (from change notices) the report covers, the ones it states, and the
    # ones its usage and software version reveal (see README: derived changes).
    pending = (
        list(Change.objects.filter(product_instance=instance, report__isnull=True))
        if instance.pending_change_at
        else []
    )
    covered = [c for c in pending if c.occurred_at <= generated]
    remaining = [c for c in pending if c.occurred_at > generated]
    stated_changes: list[Change] = []
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
        stated_changes.append(
            Change(
                product_instance=instance,
                kind=event.kind,
                occurred_at=event.at,
                from_value=event.from_value[:64],
                to_value=event.to_value[:64],
                license_id=license_id,
                source=Change.Source.REPORT,
            )
        )
    derived: list[Change] = []
    if not created:
        explicit = {known[e.tag].pk for e in report.events if e.tag}
        if had_report:
            for license_id, delta in sorted(deltas.items()):
                if license_id in explicit:
                    continue
                derived.append(
                    Change(
                        product_instance=instance,
                        kind=Change.Kind.FEATURE_CHANGE,
                        occurred_at=generated,
                        from_value=str(usage.get(license_id, 0) - delta),
                        to_value=str(usage.get(license_id, 0)),
                        license_id=license_id,
                        source=Change.Source.USAGE,
                    )
                )
        upgraded = any(e.kind == Change.Kind.SOFTWARE_UPGRADE for e in report.events)
        old_version, new_version = instance.software_version, report.software_version
        if old_version and new_version and old_version != new_version and not upgraded:
            derived.append(
                Change(
                    product_instance=instance,
                    kind=Change.Kind.SOFTWARE_UPGRADE,
                    occurred_at=generated,
                    from_value=old_version,
                    to_value=new_version[:64],
                    source=Change.Source.USAGE,
                )
            )

    state = deadline_state(
        instance=instance,
        classes=classes_now,
        last_report_at=generated,
        pending_change_at=min((c.occurred_at for c in remaining), default=None),
        now=now,
    )
    if state.version is None:
        raise ValidationError("No reporting policy is in force: staff must mark one policy as the default.")
    late_terms = state.terms if not classes_before else terms_for(state.rules, classes_now | classes_before)
    allowed = late_terms.report_on_change_days
    late_ids = set()
    if allowed:
        for change in covered + stated_changes:
            if generated - change.occurred_at > timedelta(days=allowed):
                change.late = True
                if change.pk:
                    late_ids.add(change.pk)

    ack = _acknowledge(report, instance, state, now)
    report_pk = rows.insert(
        UsageReport,
        {
            "report_id": report.report_id,
            "product_instance_id": instance.pk,
            "source": source,
            "actor_id": actor.pk if actor is not None and actor.is_authenticated else None,
            "generated_at": generated,
            "received_at": now,
            "signed": signed,
            "software_version": report.software_version,
            "payload": report.document,
            "acknowledgement_id": ack.pk,
        },
    )
    rows.insert_many(
        UsageMeasurement,
        [
            {
                "report_id": report_pk,
                "product_instance_id": instance.pk,
                "license_id": known[m.tag].pk,
                "count": m.count,
                "start": m.start,
                "end": m.end,
            }
            for m in report.measurements
        ],
    )
    if covered:
        for late in (True, False):
            ids = [c.pk for c in covered if (c.pk in late_ids) == late]
            if ids:
                Change.objects.filter(pk__in=ids).update(report_id=report_pk, reported_at=now, late=late)
    new_changes = stated_changes + derived
    for change in new_changes:
        change.report_id = report_pk
        change.reported_at = now
    if new_changes:
        Change.objects.bulk_create(new_changes)

    status_changed = state.status != instance.reporting_status
    fields = {
        "first_use_at": first_use_at,
        "last_report_at": generated,
        "last_report_received_at": now,
        "pending_change_at": min((c.occurred_at for c in remaining), default=None),
        "next_due_at": state.next_due_at,
        "reporting_status": state.status,
    }
    if report.software_version:
        fields["software_version"] = report.software_version
    if report.hostname:
        fields["hostname"] = report.hostname
    if source == Source.DEVICE:
        fields["last_contact_at"] = now
    if status_changed:
        fields["reporting_status_changed_at"] = now
    rows.update(ProductInstance, instance.pk, fields)
    for name, value in fields.items():
        setattr(instance, name, value)

    reconcile_deadline_alerts(instance, status=state.status, next_due_at=state.next_due_at, now=now, resolve_late=True)
    late_changes = [c for c in covered + stated_changes if c.late]
    if late_changes:
        _open_late_change_alert(instance, late_changes, allowed, generated, now)

    subject = instance.hostname or instance.udi
    # The event row that `record_event` would write, written as a plain row (the hot path again).
    message = f"Usage report from {subject} accepted ({Source(source).label.lower()}); " + (
        f"next report due {state.next_due_at:%Y-%m-%d}." if state.next_due_at else "no report required."
    )
    rows.insert(
        Event,
        {
            "created_at": now,
            "actor_id": actor.pk if actor is not None and actor.is_authenticated else None,
            "smart_account_id": instance.smart_account_id,
            "virtual_account_id": instance.virtual_account_id,
            "virtual_account_name": instance.virtual_account.name,
            "action": "usage.report_accepted",
            "message": message[:1000],
            "details": {
                "report_id": str(report.report_id),
                "ack_id": str(ack.ack_id),
                "udi": instance.udi,
                "source": source,
                "signed": signed,
                "next_report_due": iso(state.next_due_at),
                "changes": len(new_changes) + len(covered),
                "late_changes": len(late_changes),
            },
        },
    )
    return IngestOutcome(ack, report_pk, instance.pk, replayed=False)


def _open_late_change_alert(instance, late_changes: list[Change], allowed: int, generated, now) -> None:
    first = min(late_changes, key=lambda c: c.occurred_at)
    days = (generated - first.occurred_at).days
    what = "software upgrade" if first.kind == Change.Kind.SOFTWARE_UPGRADE else "feature change"
    more = f" and {len(late_changes) - 1} more" if len(late_changes) > 1 else ""
    Alert.objects.bulk_create(
        [
            Alert(
                smart_account_id=instance.smart_account_id,
                virtual_account_id=instance.virtual_account_id,
                product_instance=instance,
                kind=Alert.Kind.LATE_CHANGE,
                severity=Alert.Severity.WARNING,
                message=(
                    f"Change reported late: {instance.hostname or instance.udi} reported a {what} of "
                    f"{first.occurred_at:%Y-%m-%d}{more} {days} days after it happened; the policy allows {allowed}."
                )[:500],
                due_at=first.occurred_at + timedelta(days=allowed),
                opened_at=now,
            )
        ],
        ignore_conflicts=True,
    )


def _acknowledge(report: ParsedReport, instance: ProductInstance, state, now) -> Acknowledgement:
    ack_id = uuid.uuid4()
    document = {
        "type": "usage_report_ack",
        "ack_id": str(ack_id),
        "acknowledged_report_ids": [str(report.report_id)],
        "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
        "policy": {"name": state.version.policy.name, "version": state.version.number},
        "ack_required": state.ack_required,
        "next_report_due": iso(state.next_due_at),
        "reporting_status": state.status,
        "issued_at": iso(now),
    }
    document["signature"] = signing.sign(canonical_bytes(document))
    values = {
        "ack_id": ack_id,
        "product_instance_id": instance.pk,
        "policy_version_id": state.version.pk,
        "next_due_at": state.next_due_at,
        "document": document,
        "created_at": now,
    }
    ack = Acknowledgement(id=rows.insert(Acknowledgement, values), **values)
    ack._state.adding, ack._state.db = False, "default"
    return ack


def ack_is_authentic(document: dict, public_key_pem: str | None = None) -> bool:
    """Check an ACK's Ed25519 signature (with the portal's key, or the given public key)."""
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, str):
        return False
    return signing.verify(canonical_bytes(document), signature, public_key_pem)


# --- Offline upload --------------------------------------------------------------------------------


def read_usage_file(content: bytes) -> list:
    """The reports in a usage file: a JSON report, a JSON array of them, {"reports": [...]}, or JSON Lines."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text. Upload the JSON file the device wrote.") from None
    if not text.strip():
        raise ValidationError("The file is empty.")
    try:
        return split_batch(json.loads(text))
    except json.JSONDecodeError as whole_error:
        documents = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                documents.append(json.loads(line))
            except json.JSONDecodeError:
                raise ValidationError(
                    f"The file is neither JSON nor JSON Lines: {whole_error.msg} at line {whole_error.lineno}, "
                    f"column {whole_error.colno}; line {number} is not a JSON document either."
                ) from None
        return documents


def _result_row(index: int, document) -> dict:
    row = {"index": index, "report_id": "", "udi": "", "status": "", "message": "", "report": None}
    if isinstance(document, dict):
        if isinstance(document.get("report_id"), str):
            row["report_id"] = document["report_id"][:36]
        udi = document.get("udi")
        if isinstance(udi, dict) and isinstance(udi.get("pid"), str) and isinstance(udi.get("serial_number"), str):
            row["udi"] = f"PID:{udi['pid'][:64]} SN:{udi['serial_number'][:64]}"
    return row


def upload_usage_file(*, actor: User, virtual_account: VirtualAccount, file_name: str, content: bytes) -> UsageUpload:
    """Ingest an offline usage file into a VA: each report is accepted or refused on its own.

    The actor needs the User role on the VA. The returned upload keeps one result per report
    (accepted, already received, or refused with the reason) and names the ACKs to carry back.
    """
    va = (
        VirtualAccount.objects.select_related("smart_account")
        .filter(pk=virtual_account.pk, deleted_at__isnull=True)
        .first()
    )
    if va is None:
        raise ValidationError("That Virtual Account no longer exists.")
    require_va_role(actor, va, "operate")
    if va.smart_account.is_partner_holding:
        raise ValidationError(
            f"{va.smart_account.name} is a Partner Holding account: devices cannot report usage there.",
            code="partner_holding",
        )
    documents = read_usage_file(content)
    if len(documents) > MAX_UPLOAD_REPORTS:
        raise ValidationError(
            f"The file holds {len(documents)} reports; upload at most {MAX_UPLOAD_REPORTS} at a time."
        )
    results = []
    for index, document in enumerate(documents, start=1):
        row = _result_row(index, document)
        try:
            outcome = ingest_report(document, source=Source.UPLOAD, actor=actor, virtual_account=va)
        except Refusal as refusal:
            row.update(status="refused", message=refusal.message, reason=refusal.reason)
        else:
            ack = outcome.acknowledgement
            row.update(
                status="already received" if outcome.replayed else "accepted",
                message=f"Next report due {ack.next_due_at:%Y-%m-%d}." if ack.next_due_at else "No report required.",
                report=outcome.report_pk,
                instance=outcome.instance_pk,
                next_due=iso(ack.next_due_at),
            )
        results.append(row)
    accepted = sum(1 for r in results if r["status"] != "refused")
    with transaction.atomic():
        upload = UsageUpload.objects.create(
            smart_account=va.smart_account,
            virtual_account=va,
            actor=actor,
            file_name=(file_name or "")[:255],
            accepted_count=accepted,
            refused_count=len(results) - accepted,
            results=results,
        )
        record_event(
            actor=actor,
            smart_account=va.smart_account,
            virtual_account=va,
            action="usage.uploaded",
            message=f"Usage file {file_name or '(unnamed)'} uploaded to {va.name}: {accepted} report(s) accepted, "
            f"{len(results) - accepted} refused.",
            details={"upload": upload.pk, "accepted": accepted, "refused": len(results) - accepted},
        )
    return upload
