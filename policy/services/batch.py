"""The ingestion of usage reports, set-based: a batch of reports in one transaction, in a fixed
number of round trips whatever its size (one report is a batch of one).

1. Lock the instances the reports name, in primary-key order (the ledger's rule 4: instance rows
   before balance rows), and read them with their account and VA: one statement.
2. Read everything the rules need, after the locks: the reports already received under the batch's
   report ids, the catalog licenses of its tags, the instances' usage, their pending changes and
   the policy in force for each account; on PostgreSQL also the ids the new ACKs and reports will
   take. One statement (UNION ALL). When a report raises a device's count of a license, one more: what
   the account has in use of it (a report that would pass `licensing.limits.MAX_ACCOUNT_USAGE` is
   refused alone).
3. Decide each report in order, in Python, exactly as one report at a time would: refused (with
   its reason), a replay (the same ACK again), or accepted. Later reports of the same instance see
   what the earlier ones did (usage, last report, pending changes, software version).
4. Write: the usage changes through the ledger (`set_instances_usage`: summed per balance, locked in
   the standard order), then the ACKs, reports, measurements, changes, instance updates, alerts and
   events, each table with one statement, all in one round trip on PostgreSQL.

Nothing of a refused report is written. See README (usage reports, batches) for what a batch
changes compared with the same reports one at a time (one `now`, alerts of the final state).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils.dateparse import parse_datetime

from licensing import ledger
from licensing.limits import MAX_ACCOUNT_USAGE, account_usage_refusal
from licensing.models import License, LicenseAccountTotal, ProductInstance, ProductInstanceUsage
from smartaccounts.models import Event, User, VirtualAccount
from smartaccounts.selectors import effective_role
from smartaccounts.services import record_event

from .. import queries, signing
from .. import rules as policy_rules
from ..formats import ParsedReport, Refusal, canonical_bytes, iso, signature_matches
from ..models import (
    Acknowledgement,
    Alert,
    Change,
    PolicyRule,
    PolicyVersion,
    UsageMeasurement,
    UsageReport,
)
from ..rules import terms_for
from . import rows
from .common import (
    DEADLINE_KINDS,
    LicenseRef,
    deadline_alert_message,
    deadline_state,
    refuse_future_times,
    refuse_partner_holding,
    refuse_reserved,
    refuse_unknown_tags,
)

Source = UsageReport.Source

# What an accepted report writes on its instance (from the state the batch leaves it in).
INSTANCE_UPDATE = (
    "first_use_at",
    "last_report_at",
    "last_report_received_at",
    "pending_change_at",
    "next_due_at",
    "reporting_status",
    "reporting_status_changed_at",
    "software_version",
    "hostname",
    "last_contact_at",
)


def _aware(value) -> datetime | None:
    """A datetime read with a plain cursor: PostgreSQL gives it aware; SQLite gives text or a naive UTC value."""
    if value is None or isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if isinstance(value, str):
        value = parse_datetime(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def full_canonical(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Pending:
    """A change a notice announced that no report has covered yet."""

    pk: int
    kind: str
    occurred_at: datetime
    license_id: int | None
    to_value: str
    late: bool


@dataclass
class NewChange:
    kind: str
    occurred_at: datetime
    from_value: str
    to_value: str
    license_id: int | None
    source: str
    late: bool = False


@dataclass
class Slot:
    """One instance the batch touches, as the reports decided so far have left it."""

    instance: ProductInstance
    usage: dict[int, int]  # license id -> count in use (> 0)
    pending: list[Pending] = field(default_factory=list)
    initial: tuple = ()  # the instance's INSTANCE_UPDATE values before the batch
    initial_usage: dict[int, int] = field(default_factory=dict)
    accepted: list[Accepted] = field(default_factory=list)


@dataclass
class Accepted:
    index: int
    report: ParsedReport
    slot: Slot
    signed: bool
    ack_uuid: uuid.UUID
    ack_document: dict
    version_id: int
    next_due_at: datetime | None
    new_changes: list[NewChange]
    covered: list[tuple[int, bool]]  # (pending change id, late)
    event_message: str
    event_details: dict
    late_alert: tuple[str, datetime] | None  # (message, due) of the late-change alert it opens
    now: datetime
    ack_pk: int = 0
    report_pk: int = 0

    def acknowledgement(self) -> Acknowledgement:
        ack = Acknowledgement(
            id=self.ack_pk,
            ack_id=self.ack_uuid,
            product_instance_id=self.slot.instance.pk,
            policy_version_id=self.version_id,
            next_due_at=self.next_due_at,
            document=self.ack_document,
            created_at=self.now,
        )
        ack._state.adding, ack._state.db = False, connection.alias
        return ack


@dataclass
class Replay:
    """The same report again: the ACK it got, nothing applied."""

    acknowledgement: Acknowledgement | None
    accepted: Accepted | None  # when the first copy is in this batch
    report_pk: int
    instance_pk: int


# --- What the batch reads: one typed row per kind ------------------------------------------------------
# The reads go as one UNION ALL (one round trip): every row kind fills the same columns (a kind tag,
# `NUMBERS` integers, `TEXTS` texts, one time), each declaring which of its fields it sends where and
# the SQL expression of each. `read_rows` builds the statement and turns each row back into its type.


class ReadRow:
    NUMBERS: ClassVar[dict[str, str]] = {}  # field: SQL expression (an integer)
    TEXTS: ClassVar[dict[str, str]] = {}  # field: SQL expression (a text)
    TIME: ClassVar[dict[str, str]] = {}  # at most one field: SQL expression (a time)


@dataclass(frozen=True)
class StoredReportRow(ReadRow):
    """A report already received under one of the batch's report ids (a replay, or a reused id)."""

    pk: int
    instance_id: int
    report_id: str
    NUMBERS = {"pk": "id", "instance_id": "product_instance_id"}
    TEXTS = {"report_id": "CAST(report_id AS TEXT)"}


@dataclass(frozen=True)
class LicenseRow(ReadRow):
    """A catalog license some report names."""

    pk: int
    tag: str
    policy_class: str
    NUMBERS = {"pk": "id"}
    TEXTS = {"tag": "tag", "policy_class": "policy_class"}


@dataclass(frozen=True)
class UsageRow(ReadRow):
    """A license an instance of the batch uses (or used: count 0)."""

    instance_id: int
    license_id: int
    count: int
    policy_class: str
    NUMBERS = {"instance_id": "u.product_instance_id", "license_id": "u.license_id", "count": "u.count"}
    TEXTS = {"policy_class": "l.policy_class"}


@dataclass(frozen=True)
class PendingRow(ReadRow):
    """A change a notice announced that no report has covered yet."""

    pk: int
    instance_id: int
    license_id: int | None
    late: int
    kind: str
    to_value: str
    occurred_at: datetime | str
    NUMBERS = {"pk": "id", "instance_id": "product_instance_id", "license_id": "license_id",
               "late": "CAST(late AS INTEGER)"}  # fmt: skip
    TEXTS = {"kind": "kind", "to_value": "to_value"}
    TIME = {"occurred_at": "occurred_at"}


@dataclass(frozen=True)
class AckIdRow(ReadRow):
    """An id a new ACK will take (PostgreSQL: reserved from its sequence)."""

    pk: int
    NUMBERS = {"pk": "id"}


@dataclass(frozen=True)
class ReportIdRow(ReadRow):
    """An id a new report will take (PostgreSQL: reserved from its sequence)."""

    pk: int
    NUMBERS = {"pk": "id"}


_READ_NUMBERS, _READ_TEXTS = 4, 2


def read_rows(parts: list[tuple[type[ReadRow], str, list]], *, pg: bool) -> list[ReadRow]:
    """Run the parts ([(row type, `FROM …` clause, parameters)]) as one statement; the rows, typed."""
    time_type = "TIMESTAMP WITH TIME ZONE" if pg else "TEXT"
    kinds = {str(i): row_type for i, (row_type, _, _) in enumerate(parts)}
    selects, params = [], []
    for kind, (row_type, rest, part_params) in zip(kinds, parts, strict=True):
        numbers, texts = list(row_type.NUMBERS.values()), list(row_type.TEXTS.values())
        columns = [f"'{kind}'"]
        columns += numbers + ["CAST(NULL AS BIGINT)"] * (_READ_NUMBERS - len(numbers))
        columns += texts + ["CAST(NULL AS TEXT)"] * (_READ_TEXTS - len(texts))
        columns += list(row_type.TIME.values()) or [f"CAST(NULL AS {time_type})"]
        selects.append(f"SELECT {', '.join(columns)} {rest}")
        params += part_params
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(selects), params)
        fetched = cursor.fetchall()
    found = []
    for kind, *values in fetched:
        row_type = kinds[kind]
        numbers, texts, time = values[:_READ_NUMBERS], values[_READ_NUMBERS:-1], values[-1]
        fields = dict(zip(row_type.NUMBERS, numbers, strict=False))
        fields.update(zip(row_type.TEXTS, texts, strict=False))
        fields.update(zip(row_type.TIME, [time], strict=False))
        found.append(row_type(**fields))
    return found


class Batch:
    """One attempt at ingesting `reports` ([(index, ParsedReport)]) inside the caller's transaction."""

    def __init__(self, reports, *, source: str, actor: User | None, virtual_account: VirtualAccount | None, now):
        self.reports = reports
        self.source = source
        self.actor = actor if actor is not None and actor.is_authenticated else None
        self.virtual_account = virtual_account
        self.now = now
        self.pg = rows.postgres()
        self.slots: dict[tuple[str, str], Slot] = {}
        self.licenses: dict[str, LicenseRef] = {}
        self.license_classes: dict[int, str] = {}
        self.stored: dict[uuid.UUID, UsageReport] = {}
        self.policies: dict[int, tuple[PolicyVersion, dict[str, PolicyRule]]] = {}
        self.accepted: dict[uuid.UUID, Accepted] = {}
        self.operable: dict[int, bool] = {}
        # (account, license) -> in use + reserved, as the reports accepted so far leave it.
        self.account_usage: dict[tuple[int, int], int] = {}
        self.ack_ids: list[int] = []
        self.report_ids: list[int] = []

    # --- 1 and 2: locks and reads ------------------------------------------------------------------

    def run(self) -> dict[int, Accepted | Replay | ValidationError]:
        if not self.reports:
            return {}
        self._lock_instances()
        self._read()
        self._read_account_usage()
        outcomes: dict[int, Accepted | Replay | ValidationError] = {}
        for index, report in self.reports:
            try:
                outcomes[index] = self._decide(index, report)
            except ValidationError as error:
                outcomes[index] = error
        self._write()
        return outcomes

    def _lock_instances(self) -> None:
        udis = {(r.pid, r.serial_number) for _, r in self.reports}
        lock = queries.lock_live_instances if self.pg else policy_rules.lock_live_instances
        for instance in lock(udis):
            self.slots[(instance.pid, instance.serial_number)] = Slot(instance=instance, usage={})

    def _read(self) -> None:
        """Everything else the rules need, in one statement after the locks (so it sees what the
        writers we waited for committed): one typed row kind per table read (see `ReadRow`)."""
        parts: list[tuple[type[ReadRow], str, list]] = []
        report_ids = sorted({r.report_id for _, r in self.reports})
        report_field = UsageReport._meta.get_field("report_id")
        where, params = rows.in_list(
            self.pg, "report_id", [report_field.get_db_prep_value(v, connection) for v in report_ids]
        )
        parts.append((StoredReportRow, f"FROM {UsageReport._meta.db_table} WHERE {where}", params))
        tags = sorted({tag for _, r in self.reports for tag in r.tags()})
        if tags:
            where, params = rows.in_list(self.pg, "tag", tags)
            parts.append((LicenseRow, f"FROM {License._meta.db_table} WHERE {where}", params))
        instance_ids = sorted(slot.instance.pk for slot in self.slots.values())
        if instance_ids:
            where, params = rows.in_list(self.pg, "u.product_instance_id", instance_ids)
            parts.append(
                (
                    UsageRow,
                    f"FROM {ProductInstanceUsage._meta.db_table} u "
                    f"JOIN {License._meta.db_table} l ON l.id = u.license_id WHERE {where}",
                    params,
                )
            )
        pending_ids = sorted(slot.instance.pk for slot in self.slots.values() if slot.instance.pending_change_at)
        if pending_ids:
            where, params = rows.in_list(self.pg, "product_instance_id", pending_ids)
            parts.append((PendingRow, f"FROM {Change._meta.db_table} WHERE report_id IS NULL AND {where}", params))
        if self.pg:
            # The ids the ACKs and reports will take (unused ones are gaps, as after a rollback).
            for row_type, model in ((AckIdRow, Acknowledgement), (ReportIdRow, UsageReport)):
                parts.append((row_type, f"FROM ({rows.reserve_ids(model, len(self.reports))}) s(id)", []))

        by_pk = {slot.instance.pk: slot for slot in self.slots.values()}
        stored_ids: dict[int, uuid.UUID] = {}
        for row in read_rows(parts, pg=self.pg):
            if isinstance(row, UsageRow):
                if row.count > 0:
                    by_pk[row.instance_id].usage[row.license_id] = row.count
                self.license_classes[row.license_id] = row.policy_class
            elif isinstance(row, LicenseRow):
                self.licenses[row.tag] = LicenseRef(row.pk, row.tag, row.tag, row.policy_class)
                self.license_classes[row.pk] = row.policy_class
            elif isinstance(row, AckIdRow):
                self.ack_ids.append(row.pk)
            elif isinstance(row, ReportIdRow):
                self.report_ids.append(row.pk)
            elif isinstance(row, StoredReportRow):
                stored_ids[row.pk] = uuid.UUID(row.report_id)
            elif isinstance(row, PendingRow):
                by_pk[row.instance_id].pending.append(
                    Pending(row.pk, row.kind, _aware(row.occurred_at), row.license_id, row.to_value, bool(row.late))
                )
        for slot in self.slots.values():
            slot.initial_usage = dict(slot.usage)
            slot.initial = tuple(getattr(slot.instance, name) for name in INSTANCE_UPDATE)
        accounts = {slot.instance.smart_account_id for slot in self.slots.values()}
        if self.virtual_account is not None:
            accounts.add(self.virtual_account.smart_account_id)
        self.policies = policy_rules.policies_in_force(accounts)
        if stored_ids:
            # Replays are rare: their payloads and ACKs are read only when there are some.
            for stored in UsageReport.objects.select_related("acknowledgement").filter(pk__in=stored_ids):
                self.stored[stored.report_id] = stored

    def _read_account_usage(self) -> None:
        """What the accounts have in use (and reserved) of each license some report raises a device's count
        of: one query, only when there is one (a periodic report repeats its usage). A license no report
        raises above a device's count before the batch cannot pass the account's maximum in it."""
        keys = set()
        for _, report in self.reports:
            slot = self.slots.get((report.pid, report.serial_number))
            before = slot.initial_usage if slot is not None else {}
            account = (
                slot.instance.smart_account_id
                if slot is not None
                else getattr(self.virtual_account, "smart_account_id", None)
            )
            for tag, count in report.usage_by_tag().items():
                license = self.licenses.get(tag)
                if account is not None and license is not None and count > before.get(license.pk, 0):
                    keys.add((account, license.pk))
        if not keys:
            return
        accounts, licenses = sorted({a for a, _ in keys}), sorted({lic for _, lic in keys})
        in_accounts, account_params = rows.in_list(self.pg, "smart_account_id", accounts)
        of_licenses, license_params = rows.in_list(self.pg, "license_id", licenses)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT smart_account_id, license_id, in_use + reserved FROM {LicenseAccountTotal._meta.db_table} "
                f"WHERE {in_accounts} AND {of_licenses}",
                [*account_params, *license_params],
            )
            for account, license, in_use in cursor.fetchall():
                self.account_usage[(account, license)] = in_use

    # --- 3: the rules, report by report ------------------------------------------------------------

    def _decide(self, index: int, report: ParsedReport) -> Accepted | Replay:
        source, va = self.source, self.virtual_account
        slot = self.slots.get((report.pid, report.serial_number))
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
            if self.actor is not None and instance.virtual_account_id != va.pk and not self._may_operate(instance):
                raise Refusal(
                    f"{report.udi} is in a Virtual Account where your role does not allow reporting usage.",
                    code="not_permitted",
                )

        earlier = self.accepted.get(report.report_id)
        if earlier is not None:
            if full_canonical(earlier.report.document) != full_canonical(report.document):
                raise _duplicate_id(report)
            return Replay(None, earlier, 0, earlier.slot.instance.pk)
        stored = self.stored.get(report.report_id)
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
        refuse_unknown_tags(report.tags(), self.licenses)
        refuse_future_times(report.times(), self.now)
        if instance is not None and instance.last_report_at and report.generated_at < instance.last_report_at:
            raise Refusal(
                f"The report was generated at {iso(report.generated_at)}, before the last accepted report of "
                f"{report.udi} ({iso(instance.last_report_at)}). Reports are accepted in the order they were "
                "generated.",
                code="out_of_date",
            )
        account_id = instance.smart_account_id if instance is not None else va.smart_account_id
        version, rules = self.policies.get(account_id, (None, {}))
        if version is None:
            raise ValidationError(
                "No reporting policy is in force: staff must mark one policy as the default.", code="no_policy"
            )
        self._refuse_past_account_maximum(report, slot, account_id)
        created = slot is None
        if created:
            slot = self._create_instance(report)
        accepted = self._apply(index, report, slot, signed=signed, created=created, rules=rules, version=version)
        slot.accepted.append(accepted)
        self.accepted[report.report_id] = accepted
        return accepted

    def _refuse_past_account_maximum(self, report: ParsedReport, slot: Slot | None, account_id: int) -> None:
        """A report whose usage would take its account past `MAX_ACCOUNT_USAGE` of a license is refused alone
        (the ledger checks the batch's sum again under the locks)."""
        current = slot.usage if slot is not None else {}
        for tag, count in report.usage_by_tag().items():
            license = self.licenses[tag]
            increase = count - current.get(license.pk, 0)
            if increase > 0:
                in_use = self.account_usage.get((account_id, license.pk), 0)
                if in_use + increase > MAX_ACCOUNT_USAGE:
                    refusal = account_usage_refusal(license.tag, in_use, increase)
                    raise Refusal(refusal.messages[0], code=refusal.code)

    def _may_operate(self, instance: ProductInstance) -> bool:
        va_id = instance.virtual_account_id
        if va_id not in self.operable:
            role = effective_role(self.actor, instance.virtual_account)
            self.operable[va_id] = role is not None and role.allows("operate")
        return self.operable[va_id]

    def _create_instance(self, report: ParsedReport) -> Slot:
        """No registration on day 0: an offline report of an unknown device creates it in the batch's VA."""
        va = self.virtual_account
        instance = ProductInstance.objects.create(
            smart_account_id=va.smart_account_id,
            virtual_account=va,
            pid=report.pid,
            serial_number=report.serial_number,
            hostname=report.hostname,
            software_version=report.software_version,
            status=ProductInstance.Status.ACTIVE,
            registered_at=self.now,
        )
        instance.smart_account = va.smart_account
        record_event(
            actor=self.actor,
            smart_account=va.smart_account,
            virtual_account=va,
            action="instance.created_from_report",
            message=f"{report.udi} reported usage for the first time; created in {va.name}.",
            details={"udi": report.udi, "report_id": str(report.report_id)},
        )
        slot = Slot(instance=instance, usage={}, initial=tuple(getattr(instance, name) for name in INSTANCE_UPDATE))
        self.slots[(instance.pid, instance.serial_number)] = slot
        return slot

    def _apply(self, index, report: ParsedReport, slot: Slot, *, signed, created, rules, version) -> Accepted:
        now, instance, known = self.now, slot.instance, self.licenses
        generated = report.generated_at
        stated = report.usage_by_tag()
        usage = {known[tag].pk: count for tag, count in stated.items()}
        target = {lic: count for lic, count in usage.items() if count > 0}
        had_report = instance.last_report_at is not None
        deltas: dict[int, int] = {}
        if slot.usage != target:
            deltas = {lic: target.get(lic, 0) - slot.usage.get(lic, 0) for lic in slot.usage.keys() | target.keys()}
            deltas = {lic: delta for lic, delta in deltas.items() if delta}
            slot.usage = target
            for lic, delta in deltas.items():
                key = (instance.smart_account_id, lic)
                self.account_usage[key] = self.account_usage.get(key, 0) + delta
        classes_now = {known[tag].policy_class for tag, count in stated.items() if count > 0}
        classes_before = {self.license_classes[lic] for lic in deltas if usage.get(lic, 0) == 0}

        # First use: the earliest time the instance is known to have used a license (registration, or
        # the start of a reported period with licenses in use, whichever is earlier).
        starts = [m.start for m in report.measurements if m.count > 0]
        instance.first_use_at = min(
            [*starts, *([instance.first_use_at] if instance.first_use_at else [])], default=None
        )

        # Changes: pending ones (from change notices) the report covers, the ones it states, and the
        # ones its usage and software version reveal (see README: derived changes).
        pending = slot.pending if instance.pending_change_at else []
        covered = [c for c in pending if c.occurred_at <= generated]
        remaining = [c for c in pending if c.occurred_at > generated]
        stated_changes: list[NewChange] = []
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
                NewChange(
                    event.kind, event.at, event.from_value[:64], event.to_value[:64], license_id, Change.Source.REPORT
                )
            )
        derived: list[NewChange] = []
        if not created:
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
                    NewChange(
                        Change.Kind.SOFTWARE_UPGRADE, generated, old_version, new_version[:64], None,
                        Change.Source.USAGE,
                    )
                )  # fmt: skip

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

        if state.status != instance.reporting_status:
            instance.reporting_status_changed_at = now
        instance.last_report_at = generated
        instance.last_report_received_at = now
        instance.pending_change_at = pending_change_at
        instance.next_due_at = state.next_due_at
        instance.reporting_status = state.status
        if report.software_version:
            instance.software_version = report.software_version
        if report.hostname:
            instance.hostname = report.hostname
        if self.source == Source.DEVICE:
            instance.last_contact_at = now
        slot.pending = remaining

        subject = instance.hostname or instance.udi
        new_changes = stated_changes + derived
        late_alert = None
        if late_changes:
            first = min(late_changes, key=lambda c: c.occurred_at)
            days = (generated - first.occurred_at).days
            what = "software upgrade" if first.kind == Change.Kind.SOFTWARE_UPGRADE else "feature change"
            more = f" and {len(late_changes) - 1} more" if len(late_changes) > 1 else ""
            late_alert = (
                (
                    f"Change reported late: {subject} reported a {what} of {first.occurred_at:%Y-%m-%d}{more} "
                    f"{days} days after it happened; the policy allows {allowed}."
                )[:500],
                first.occurred_at + timedelta(days=allowed),
            )
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
                f"Usage report from {subject} accepted ({Source(self.source).label.lower()}); "
                + (f"next report due {state.next_due_at:%Y-%m-%d}." if state.next_due_at else "no report required.")
            )[:1000],
            event_details={
                "report_id": str(report.report_id),
                "ack_id": str(ack_uuid),
                "udi": instance.udi,
                "source": self.source,
                "signed": signed,
                "next_report_due": iso(state.next_due_at),
                "changes": len(new_changes) + len(covered),
                "late_changes": len(late_changes),
            },
            late_alert=late_alert,
            now=now,
        )

    # --- 4: the writes -----------------------------------------------------------------------------

    def _write(self) -> None:
        now = self.now
        slots = [slot for slot in self.slots.values() if slot.accepted]
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
        accepted = sorted((a for slot in slots for a in slot.accepted), key=lambda a: a.index)
        if not accepted:
            return
        actor_id = self.actor.pk if self.actor is not None else None
        statements = rows.Statements()
        ack_names = ("ack_id", "product_instance_id", "policy_version_id", "next_due_at", "document", "created_at")
        report_names = (
            "report_id", "product_instance_id", "source", "actor_id", "generated_at", "received_at", "signed",
            "software_version", "payload", "acknowledgement_id",
        )  # fmt: skip

        def ack_row(a: Accepted):
            return (a.ack_uuid, a.slot.instance.pk, a.version_id, a.next_due_at, a.ack_document, now)

        def report_row(a: Accepted):
            r = a.report
            return (
                r.report_id, a.slot.instance.pk, self.source, actor_id, r.generated_at, now, a.signed,
                r.software_version, r.document, a.ack_pk,
            )  # fmt: skip

        if self.pg:
            for a, ack_pk, report_pk in zip(accepted, self.ack_ids, self.report_ids, strict=False):
                a.ack_pk, a.report_pk = ack_pk, report_pk
            statements.insert(Acknowledgement, ("id", *ack_names), [(a.ack_pk, *ack_row(a)) for a in accepted])
            statements.insert(UsageReport, ("id", *report_names), [(a.report_pk, *report_row(a)) for a in accepted])
        else:
            for a in accepted:
                a.ack_pk = rows.insert_returning(Acknowledgement, ack_names, ack_row(a))
                a.report_pk = rows.insert_returning(UsageReport, report_names, report_row(a))

        known = self.licenses
        statements.insert(
            UsageMeasurement,
            ("report_id", "product_instance_id", "license_id", "count", "start", "end"),
            [
                (a.report_pk, a.slot.instance.pk, known[m.tag].pk, m.count, m.start, m.end)
                for a in accepted
                for m in a.report.measurements
            ],
        )
        statements.insert(
            Change,
            (
                "product_instance_id", "kind", "occurred_at", "from_value", "to_value", "license_id", "report_id",
                "reported_at", "late", "source",
            ),
            [
                (a.slot.instance.pk, c.kind, c.occurred_at, c.from_value, c.to_value, c.license_id, a.report_pk, now,
                 c.late, c.source)
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
            i
            for i in range(len(INSTANCE_UPDATE))
            if any(final[slot.instance.pk][i] != slot.initial[i] for slot in slots)
        ]
        if columns:
            statements.update(
                ProductInstance,
                tuple(INSTANCE_UPDATE[i] for i in columns),
                [(slot.instance.pk, *(final[slot.instance.pk][i] for i in columns)) for slot in slots],
            )
        self._alerts(statements, slots)
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

    def _alerts(self, statements: rows.Statements, slots: list[Slot]) -> None:
        """Each reported instance's open alerts made to agree with the state the batch leaves it in
        (what `reconcile_deadline_alerts` does after one report): deadline alerts of another kind, due
        date or VA, and any late-change alert, resolved; the open alert its status calls for; and a
        late-change alert for a report with late changes (already resolved when a later report of
        the same instance in the batch follows it, as that report would have resolved it)."""
        now = self.now
        table = Alert._meta.db_table
        adapt = connection.ops.adapt_datetimefield_value
        if self.pg:
            values = ", ".join(["(%s, %s, %s, CAST(%s AS TIMESTAMP WITH TIME ZONE))"] * len(slots))
            statements.add(
                f"UPDATE {table} AS a SET resolved_at = %s FROM (VALUES {values}) AS v(instance, status, va, due) "
                "WHERE a.product_instance_id = v.instance AND a.resolved_at IS NULL "
                "AND (a.kind = 'late_change' OR (a.kind IN ('due_soon', 'overdue') "
                "AND (a.kind <> v.status OR a.virtual_account_id <> v.va OR a.due_at IS DISTINCT FROM v.due)))",
                [
                    adapt(now),
                    *(
                        v
                        for slot in slots
                        for v in (
                            slot.instance.pk,
                            slot.instance.reporting_status,
                            slot.instance.virtual_account_id,
                            adapt(slot.instance.next_due_at),
                        )  # fmt: skip
                    ),
                ],
            )
        else:
            for slot in slots:
                statements.add(
                    f"UPDATE {table} SET resolved_at = %s WHERE product_instance_id = %s AND resolved_at IS NULL "
                    "AND (kind = 'late_change' OR (kind IN ('due_soon', 'overdue') "
                    "AND (kind <> %s OR virtual_account_id <> %s OR due_at IS DISTINCT FROM %s)))",
                    [adapt(now), slot.instance.pk, slot.instance.reporting_status, slot.instance.virtual_account_id,
                     adapt(slot.instance.next_due_at)],
                )  # fmt: skip
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
                    resolved = None if a is slot.accepted[-1] else now
                    alerts.append((*place, Alert.Kind.LATE_CHANGE, Alert.Severity.WARNING, message, due, now, resolved))
            status = instance.reporting_status
            if status in DEADLINE_KINDS:
                severity = Alert.Severity.CRITICAL if status == Alert.Kind.OVERDUE else Alert.Severity.WARNING
                alerts.append(
                    (*place, status, severity, deadline_alert_message(status, instance), instance.next_due_at, now,
                     None)
                )  # fmt: skip
        statements.insert(Alert, names, alerts, ignore_conflicts=True)


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
