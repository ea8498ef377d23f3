"""Step 1 and 2 of a batch: lock the instances the reports name, then read everything the rules need."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import ClassVar

from django.db import connection

from licensing.models import License, LicenseAccountTotal, ProductInstanceUsage

from ... import prepared, queries
from ... import rules as policy_rules
from ...models import (
    AccountPolicy,
    Acknowledgement,
    Alert,
    Change,
    Policy,
    PolicyRule,
    PolicyVersion,
    UsageReport,
)
from .. import rows
from ..common import (
    LicenseRef,
)
from .state import INSTANCE_UPDATE, BatchState, Pending, Slot, aware

Source = UsageReport.Source

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
class AccountTotalRow(ReadRow):
    """What an account of the batch has in use and reserved of a license some report names (a report that
    would take it past `licensing.limits.MAX_ACCOUNT_USAGE` is refused alone)."""

    account_id: int
    license_id: int
    in_use: int
    NUMBERS = {"account_id": "t.smart_account_id", "license_id": "t.license_id", "in_use": "t.in_use + t.reserved"}


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


@dataclass(frozen=True)
class OpenAlertRow(ReadRow):
    """An open alert of an instance of the batch (the batch makes its instances' alerts agree with them)."""

    pk: int
    instance_id: int
    virtual_account_id: int
    kind: str
    due_at: datetime | str | None
    NUMBERS = {"pk": "id", "instance_id": "product_instance_id", "virtual_account_id": "virtual_account_id"}
    TEXTS = {"kind": "kind"}
    TIME = {"due_at": "due_at"}


@dataclass(frozen=True)
class AssignedPolicyRow(ReadRow):
    """The policy assigned to an account of the batch (the others get the default's)."""

    account_id: int
    policy_id: int
    NUMBERS = {"account_id": "smart_account_id", "policy_id": "policy_id"}


@dataclass(frozen=True)
class PolicyVersionRow(ReadRow):
    """A version of a policy assigned to an account of the batch, or of the default policy, with one of its
    rules (`policy.rules.versions_from_rows` picks the latest of each policy)."""

    pk: int
    number: int
    policy_id: int
    policy__is_default: int
    rules__pk: int | None
    rules__first_report_days: int | None
    rules__reporting_frequency_days: int | None
    rules__report_on_change_days: int | None
    rules__ack_required: int | None
    policy__name: str
    rules__license_class: str | None
    NUMBERS = {
        "pk": "v.id", "number": "v.number", "policy_id": "v.policy_id",
        "policy__is_default": "CAST(p.is_default AS INTEGER)", "rules__pk": "r.id",
        "rules__first_report_days": "r.first_report_days",
        "rules__reporting_frequency_days": "r.reporting_frequency_days",
        "rules__report_on_change_days": "r.report_on_change_days",
        "rules__ack_required": "CAST(r.ack_required AS INTEGER)",
    }  # fmt: skip
    TEXTS = {"policy__name": "p.name", "rules__license_class": "r.license_class"}


_READ_NUMBERS, _READ_TEXTS = 9, 2


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
        # The same text for every report of one size: planned once per connection.
        prepared.execute(cursor, " UNION ALL ".join(selects), params)
        fetched = cursor.fetchall()
    # Where each field of each row type is in a fetched row (after the kind): numbers, then texts, then the time.
    positions = {kind: _positions(row_type) for kind, row_type in kinds.items()}
    return [kinds[row[0]](*[row[i] for i in positions[row[0]]]) for row in fetched]


@cache
def _positions(row_type: type[ReadRow]) -> list[int]:
    """The column of each of the row type's fields, in the order its dataclass takes them."""
    at = {name: 1 + i for i, name in enumerate(row_type.NUMBERS)}
    at.update({name: 1 + _READ_NUMBERS + i for i, name in enumerate(row_type.TEXTS)})
    at.update(dict.fromkeys(row_type.TIME, 1 + _READ_NUMBERS + _READ_TEXTS))
    return tuple(at[f.name] for f in fields(row_type))


def lock_instances(batch: BatchState) -> None:
    udis = {(r.pid, r.serial_number) for _, r in batch.reports}
    lock = queries.lock_live_instances if batch.pg else policy_rules.lock_live_instances
    for instance in lock(udis):
        batch.slots[(instance.pid, instance.serial_number)] = Slot(instance=instance, usage={})


def read(batch: BatchState) -> None:
    """Everything else the rules need, in one statement after the locks (so it sees what the
    writers we waited for committed): one typed row kind per table read (see `ReadRow`)."""
    parts = _read_parts(batch)
    accounts = {slot.instance.smart_account_id for slot in batch.slots.values()}
    if batch.virtual_account is not None:
        accounts.add(batch.virtual_account.smart_account_id)
    by_pk = {slot.instance.pk: slot for slot in batch.slots.values()}
    stored_ids: dict[int, uuid.UUID] = {}
    assigned: dict[int, int] = {}
    versions: list[dict] = []
    for row in read_rows(parts, pg=batch.pg):
        if isinstance(row, UsageRow):
            if row.count > 0:
                by_pk[row.instance_id].usage[row.license_id] = row.count
            batch.license_classes[row.license_id] = row.policy_class
        elif isinstance(row, LicenseRow):
            batch.licenses[row.tag] = LicenseRef(row.pk, row.tag, row.tag, row.policy_class)
            batch.license_classes[row.pk] = row.policy_class
        elif isinstance(row, AccountTotalRow):
            batch.account_usage[(row.account_id, row.license_id)] = row.in_use
        elif isinstance(row, AckIdRow):
            batch.ack_ids.append(row.pk)
        elif isinstance(row, ReportIdRow):
            batch.report_ids.append(row.pk)
        elif isinstance(row, StoredReportRow):
            stored_ids[row.pk] = uuid.UUID(row.report_id)
        elif isinstance(row, OpenAlertRow):
            by_pk[row.instance_id].open_alerts.append(
                Alert(
                    id=row.pk,
                    product_instance_id=row.instance_id,
                    virtual_account_id=row.virtual_account_id,
                    kind=row.kind,
                    due_at=aware(row.due_at),
                )
            )
        elif isinstance(row, AssignedPolicyRow):
            assigned[row.account_id] = row.policy_id
        elif isinstance(row, PolicyVersionRow):
            versions.append(vars(row))
        elif isinstance(row, PendingRow):
            by_pk[row.instance_id].pending.append(
                Pending(row.pk, row.kind, aware(row.occurred_at), row.license_id, row.to_value, bool(row.late))
            )
    for slot in batch.slots.values():
        slot.initial_usage = dict(slot.usage)
        slot.initial = tuple(getattr(slot.instance, name) for name in INSTANCE_UPDATE)
    table = policy_rules.versions_from_rows(versions)
    batch.policies = policy_rules.policies_in_force(accounts, assigned=assigned, table=table)
    if stored_ids:
        # Replays are rare: their payloads and ACKs are read only when there are some.
        for stored in UsageReport.objects.select_related("acknowledgement").filter(pk__in=stored_ids):
            batch.stored[stored.report_id] = stored


def _read_parts(batch: BatchState) -> list[tuple[type[ReadRow], str, list]]:
    """What `read` asks: [(row type, its `FROM …` clause, parameters)]."""
    parts: list[tuple[type[ReadRow], str, list]] = []
    report_ids = sorted({r.report_id for _, r in batch.reports})
    report_field = UsageReport._meta.get_field("report_id")
    where, params = rows.in_list(
        batch.pg, "report_id", [report_field.get_db_prep_value(v, connection) for v in report_ids]
    )
    parts.append((StoredReportRow, f"FROM {UsageReport._meta.db_table} WHERE {where}", params))
    tags = sorted({tag for _, r in batch.reports for tag in r.tags()})
    if tags:
        where, params = rows.in_list(batch.pg, "tag", tags)
        parts.append((LicenseRow, f"FROM {License._meta.db_table} WHERE {where}", params))
    instance_ids = sorted(slot.instance.pk for slot in batch.slots.values())
    if instance_ids:
        where, params = rows.in_list(batch.pg, "u.product_instance_id", instance_ids)
        parts.append(
            (
                UsageRow,
                f"FROM {ProductInstanceUsage._meta.db_table} u "
                f"JOIN {License._meta.db_table} l ON l.id = u.license_id WHERE {where}",
                params,
            )
        )
    pending_ids = sorted(slot.instance.pk for slot in batch.slots.values() if slot.instance.pending_change_at)
    if pending_ids:
        where, params = rows.in_list(batch.pg, "product_instance_id", pending_ids)
        parts.append((PendingRow, f"FROM {Change._meta.db_table} WHERE report_id IS NULL AND {where}", params))
    if instance_ids:
        where, params = rows.in_list(batch.pg, "product_instance_id", instance_ids)
        parts.append((OpenAlertRow, f"FROM {Alert._meta.db_table} WHERE resolved_at IS NULL AND {where}", params))
    accounts = {slot.instance.smart_account_id for slot in batch.slots.values()}
    if batch.virtual_account is not None:
        accounts.add(batch.virtual_account.smart_account_id)
    if accounts:
        where, params = rows.in_list(batch.pg, "smart_account_id", sorted(accounts))
        parts.append((AssignedPolicyRow, f"FROM {AccountPolicy._meta.db_table} WHERE {where}", params))
        parts.append(
            (
                PolicyVersionRow,
                f"FROM {PolicyVersion._meta.db_table} v JOIN {Policy._meta.db_table} p ON p.id = v.policy_id "
                f"LEFT JOIN {PolicyRule._meta.db_table} r ON r.version_id = v.id "
                f"WHERE p.is_default = %s OR v.policy_id IN "
                f"(SELECT policy_id FROM {AccountPolicy._meta.db_table} WHERE {where})",
                [True, *params],
            )
        )
    if accounts and tags:
        where, params = rows.in_list(batch.pg, "t.smart_account_id", sorted(accounts))
        tag_where, tag_params = rows.in_list(batch.pg, "l.tag", tags)
        parts.append(
            (
                AccountTotalRow,
                f"FROM {LicenseAccountTotal._meta.db_table} t JOIN {License._meta.db_table} l ON l.id = t.license_id "
                f"WHERE {where} AND {tag_where}",
                params + tag_params,
            )
        )
    if batch.pg:
        # The ids the ACKs and reports will take (unused ones are gaps, as after a rollback).
        for row_type, model in ((AckIdRow, Acknowledgement), (ReportIdRow, UsageReport)):
            parts.append((row_type, f"FROM ({rows.reserve_ids(model, len(batch.reports))}) s(id)", []))
    return parts
