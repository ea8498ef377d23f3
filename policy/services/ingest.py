"""Usage reports in, signed ACKs out: `ingest_usage_report` (one), `ingest_usage_reports` (a batch in one
transaction), and the offline upload and the `ingest_usage` command built on the batch."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone

from config.jsondoc import DocumentError, load_json
from licensing.identifiers import printable
from smartaccounts.models import User, VirtualAccount
from smartaccounts.services import record_event, require_va_role

from .. import signing
from ..formats import Refusal, canonical_bytes, iso, parse_report, split_batch
from ..models import Acknowledgement, UsageReport, UsageUpload
from .batch import Batch, Replay

__all__ = [
    "BATCH_SIZE",
    "IngestOutcome",
    "IngestResult",
    "ack_is_authentic",
    "ingest_report",
    "ingest_usage_report",
    "ingest_usage_reports",
    "upload_usage_file",
]

Source = UsageReport.Source
MAX_UPLOAD_REPORTS = 10_000
# Reports ingested per transaction by the upload and the command (the device endpoint takes up to
# 1,000 per request): large enough to amortise the commit, small enough to hold instance locks briefly.
BATCH_SIZE = 1_000
# PostgreSQL codes worth one more try of the whole batch: a deadlock (another writer locked rows in
# another order, e.g. an evaluation) and a serialization failure.
RETRY_SQLSTATES = {"40P01", "40001"}


@dataclass(frozen=True)
class IngestOutcome:
    acknowledgement: Acknowledgement
    report_pk: int
    instance_pk: int
    replayed: bool  # the same report was received before: its ACK again, nothing applied


@dataclass(frozen=True)
class IngestResult:
    """What became of one report of a batch, in the batch's order."""

    index: int  # position in the batch, from 0
    report_id: str  # as the document names it ("" when it names none)
    status: str  # "accepted", "already received" or "refused"
    outcome: IngestOutcome | None = None
    error: ValidationError | None = None  # a refusal (`policy.formats.Refusal`, with its `reason`)

    @property
    def acknowledgement(self) -> Acknowledgement | None:
        return self.outcome.acknowledgement if self.outcome is not None else None

    @property
    def code(self) -> str:
        if self.error is None:
            return ""
        return getattr(self.error, "reason", None) or self.error.code or "invalid"

    @property
    def message(self) -> str:
        return " ".join(self.error.messages) if self.error is not None else ""


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
    _check_source(source, actor, virtual_account)
    return ingest_report(payload, source=source, actor=actor, virtual_account=virtual_account).acknowledgement


def ingest_usage_reports(
    *, payloads: list, source: str, actor: User | None = None, virtual_account: VirtualAccount | None = None
) -> list[IngestResult]:
    """Ingest a batch of usage reports in ONE transaction; one result per report, in order.

    Each report is judged by exactly the rules of `ingest_usage_report`, in the batch's order (a
    later report of the same instance sees what an earlier one did), and is accepted, `already
    received` (a replay: its ACK again, nothing applied) or refused with its reason; a refused
    report writes nothing and does not stop the others. The accepted ones are written set-based
    (see `policy.services.batch`): the ledger moves each balance once for the whole batch, locked in
    the standard order. Rights as for one report (an upload needs the User role on the VA).
    """
    _check_source(source, actor, virtual_account)
    return _ingest(payloads, source=source, actor=actor, virtual_account=virtual_account)


def ingest_report(
    payload, *, source: str, actor: User | None = None, virtual_account: VirtualAccount | None = None
) -> IngestOutcome:
    """`ingest_usage_report` after the caller's rights were checked; says whether it was a replay."""
    (result,) = _ingest([payload], source=source, actor=actor, virtual_account=virtual_account)
    if result.error is not None:
        raise result.error
    return result.outcome


def _check_source(source: str, actor, virtual_account) -> None:
    if source not in Source.values:
        raise ValueError(f"Unknown report source {source!r}.")
    if source == Source.UPLOAD:
        if actor is None or virtual_account is None:
            raise ValueError("An upload names the uploading user and the Virtual Account.")
        require_va_role(actor, virtual_account, "operate")


def _report_id(document) -> str:
    """The report id a document names, safe to store and show (it may be anything in a refused one)."""
    value = document.get("report_id") if isinstance(document, dict) else None
    return printable(value, 36)


def _ingest(payloads: list, *, source, actor, virtual_account) -> list[IngestResult]:
    if source not in Source.values:
        raise ValueError(f"Unknown report source {source!r}.")
    errors: dict[int, ValidationError] = {}
    parsed = []
    for index, payload in enumerate(payloads):
        try:
            parsed.append((index, parse_report(payload)))
        except Refusal as refusal:
            errors[index] = refusal
    for attempt in range(3):
        try:
            with transaction.atomic():
                outcomes = Batch(
                    parsed, source=source, actor=actor, virtual_account=virtual_account, now=timezone.now()
                ).run()
            break
        except IntegrityError:
            # A concurrent writer won a race: the same report id (the next attempt answers it as a
            # replay), or the same new UDI registered a moment ago (the instance exists now).
            if attempt:
                raise
        except OperationalError as error:
            if getattr(error.__cause__, "pgcode", None) not in RETRY_SQLSTATES or attempt == 2:
                raise
    results = []
    for index, payload in enumerate(payloads):
        report_id = _report_id(payload)
        outcome = errors.get(index) or outcomes[index]
        if isinstance(outcome, ValidationError):
            results.append(IngestResult(index, report_id, "refused", error=outcome))
        elif isinstance(outcome, Replay):
            first = outcome.accepted
            ack = first.acknowledgement() if first is not None else outcome.acknowledgement
            report_pk = first.report_pk if first is not None else outcome.report_pk
            results.append(
                IngestResult(
                    index, report_id, "already received", IngestOutcome(ack, report_pk, outcome.instance_pk, True)
                )
            )
        else:
            results.append(
                IngestResult(
                    index,
                    report_id,
                    "accepted",
                    IngestOutcome(outcome.acknowledgement(), outcome.report_pk, outcome.slot.instance.pk, False),
                )
            )
    return results


def ack_is_authentic(document: dict, public_key_pem: str | None = None) -> bool:
    """Check an ACK's Ed25519 signature (with the portal's key, or the given public key)."""
    signature = document.get("signature") if isinstance(document, dict) else None
    if not isinstance(signature, str):
        return False
    return signing.verify(canonical_bytes(document), signature, public_key_pem)


# --- Offline upload --------------------------------------------------------------------------------


def read_usage_file(content: bytes) -> list:
    """The reports in a usage file: a JSON report, a JSON array of them, {"reports": [...]}, or JSON Lines.

    Read with `config.jsondoc.load_json`: a report nested past its bound is refused alone (`too_deep`)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("The file is not UTF-8 text. Upload the JSON file the device wrote.") from None
    if not text.strip():
        raise ValidationError("The file is empty.")
    try:
        # Capped: a report nested too deep is refused alone (`too_deep`), not the whole file.
        return split_batch(load_json(text, cap=True))
    except DocumentError as whole_error:
        if whole_error.code == "too_deep":
            raise ValidationError(f"The file is not a usage file: {whole_error}") from None
        documents = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                documents.append(load_json(line, cap=True))
            except DocumentError as line_error:
                if line_error.code == "too_deep":
                    raise ValidationError(f"Line {number} is not a usage report: {line_error}") from None
                raise ValidationError(
                    f"The file is neither JSON nor JSON Lines. {whole_error} Line {number} is not a JSON document "
                    "either."
                ) from None
        return documents


def _result_row(index: int, document) -> dict:
    """One line of an upload's results. What a refused document names is stored made printable: it may hold
    anything (NUL, which PostgreSQL's jsonb refuses, or lone surrogates, which no database stores)."""
    row = {"index": index, "report_id": _report_id(document), "udi": "", "status": "", "message": "", "report": None}
    if isinstance(document, dict):
        udi = document.get("udi")
        if isinstance(udi, dict) and isinstance(udi.get("pid"), str) and isinstance(udi.get("serial_number"), str):
            row["udi"] = f"PID:{printable(udi['pid'], 64)} SN:{printable(udi['serial_number'], 64)}"
    return row


def upload_usage_file(*, actor: User, virtual_account: VirtualAccount, file_name: str, content: bytes) -> UsageUpload:
    """Ingest an offline usage file into a VA: each report is accepted or refused on its own.

    The reports go through `ingest_usage_reports`' batch path, `BATCH_SIZE` per transaction. The
    actor needs the User role on the VA. The returned upload keeps one result per report
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
    # The browser sends the name; Django drops unprintable characters from it, a direct caller may not.
    file_name = printable(file_name, 255)
    documents = read_usage_file(content)
    if len(documents) > MAX_UPLOAD_REPORTS:
        raise ValidationError(
            f"The file holds {len(documents)} reports; upload at most {MAX_UPLOAD_REPORTS} at a time."
        )
    results = []
    for start in range(0, len(documents), BATCH_SIZE):
        chunk = documents[start : start + BATCH_SIZE]
        for result in _ingest(chunk, source=Source.UPLOAD, actor=actor, virtual_account=va):
            row = _result_row(start + result.index + 1, chunk[result.index])
            if result.error is not None:
                row.update(status="refused", message=result.message, reason=result.code)
            else:
                outcome = result.outcome
                ack = outcome.acknowledgement
                row.update(
                    status=result.status,
                    message=f"Next report due {ack.next_due_at:%Y-%m-%d}."
                    if ack.next_due_at
                    else "No report required.",
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
            file_name=file_name,
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
