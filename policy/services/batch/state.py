"""The state of one ingestion batch: the instances it touches (`Slot`) and what each report decided."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection
from django.utils.dateparse import parse_datetime

from licensing.models import ProductInstance
from smartaccounts.models import User, VirtualAccount

from ...formats import ParsedReport
from ...models import (
    Acknowledgement,
    Alert,
    PolicyRule,
    PolicyVersion,
    UsageReport,
)
from .. import rows
from ..common import (
    LicenseRef,
)

Source = UsageReport.Source


# What an accepted report writes on its instance (from the state the batch leaves it in); the names of
# `DEADLINE_UPDATE` are written on its `InstanceDeadline` row.
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
DEADLINE_UPDATE = ("next_due_at", "reporting_status", "reporting_status_changed_at")


def aware(value) -> datetime | None:
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
    open_alerts: list[Alert] = field(default_factory=list)  # as read before the batch


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
            smart_account_id=self.slot.instance.smart_account_id,
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


class BatchState:
    """What one batch knows: its reports, and the instances, licenses and policies they touch, as the
    reports decided so far leave them. The read, decide and write steps fill and use it."""

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
