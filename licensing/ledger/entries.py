"""The ledger entry every change of a lot or of reserved licenses writes, and the movement id they share."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from ..models import LedgerEntry, LicenseLot

BalanceKey = tuple[int, int]  # (virtual_account_id, license_id)


def new_movement() -> uuid.UUID:
    return uuid.uuid4()


def actor_or_none(actor):
    """The user an entry names: nobody for a device, a task or an anonymous caller."""
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def entry(
    *,
    lot: LicenseLot | None,
    kind: str,
    quantity: int,
    movement,
    actor,
    smart_account_id: int,
    virtual_account_id: int | None,
    license_id: int,
    order_line=None,
    pak_line=None,
    hand_over=None,
    reservation=None,
    note: str = "",
) -> LedgerEntry:
    """An unsaved entry: the lot's order and PAK line unless others are named, the note cut to its column."""
    return LedgerEntry(
        kind=kind,
        movement=movement,
        smart_account_id=smart_account_id,
        virtual_account_id=virtual_account_id,
        license_id=license_id,
        lot=lot,
        quantity=quantity,
        actor=actor_or_none(actor),
        order_line_id=order_line.pk if order_line is not None else (lot.order_line_id if lot else None),
        pak_line_id=pak_line.pk if pak_line is not None else (lot.pak_line_id if lot else None),
        hand_over=hand_over,
        reservation=reservation,
        note=note[:255],
    )


def record_entry(**kwargs) -> LedgerEntry:
    """Write one entry (see `entry` for the fields)."""
    made = entry(**kwargs)
    made.save(force_insert=True)
    return made


def record_balance_entry(balance, **kwargs) -> LedgerEntry:
    """Write one entry on a balance's account, VA and license (the other fields as `entry`'s)."""
    return record_entry(
        smart_account_id=balance.smart_account_id,
        virtual_account_id=balance.virtual_account_id,
        license_id=balance.license_id,
        **kwargs,
    )


@dataclass(frozen=True)
class Portion:
    """Part of a lot taken out of a VA: enough to recreate it elsewhere with the same term and source."""

    lot: LicenseLot
    quantity: int

    @property
    def start_date(self):
        return self.lot.start_date

    @property
    def end_date(self):
        return self.lot.end_date

    @property
    def order_line(self):
        return self.lot.order_line

    @property
    def pak_line(self):
        return self.lot.pak_line
