"""Lots in Virtual Accounts: deposits, takes, transfers between VAs and expiry.

Two rules live here, once each:
- **Longest term first** (`LONGEST_TERM_FIRST`): licenses leave a VA from perpetual lots (no end)
  before any with an end date, later ends before earlier ones, then oldest lot first.
- **Merging** (`merge_key`, `merge_target`): licenses arriving in a VA join its live (unexpired) lot
  with the same dates, order line and PAK line, the one with the lowest id; otherwise they become a
  new lot.
"""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.db.models import F, Q
from django.utils import timezone

from .. import queries
from ..models import LedgerEntry, LicenseBalance, LicenseLot
from .entries import Portion, entry, record_balance_entry
from .totals import bump, total_changes

LONGEST_TERM_FIRST = (F("end_date").desc(nulls_first=True), "pk")
MERGE_FIELDS = ("start_date", "end_date", "order_line_id", "pak_line_id")


def merge_key(lot: LicenseLot) -> tuple:
    return tuple(getattr(lot, name) for name in MERGE_FIELDS)


def _mergeable(balance: LicenseBalance) -> Q:
    """The VA's lots of the balance's license that arriving licenses may join (unexpired; lowest id first)."""
    return Q(virtual_account_id=balance.virtual_account_id, license_id=balance.license_id, expired_at__isnull=True)


def _takeable(balance: LicenseBalance) -> Q:
    """The VA's lots of the balance's license that hold anything (taken in `LONGEST_TERM_FIRST` order)."""
    return Q(virtual_account_id=balance.virtual_account_id, license_id=balance.license_id, quantity__gt=0)


def add_to_va(
    *,
    balance: LicenseBalance,
    quantity: int,
    kind: str,
    movement,
    actor=None,
    start_date: date | None = None,
    end_date: date | None = None,
    order_line=None,
    pak_line=None,
    hand_over=None,
    note: str = "",
) -> LicenseLot:
    """Put `quantity` licenses into the balance's VA as a lot (merged with an identical lot) and record it."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    key = (start_date, end_date, getattr(order_line, "pk", None), getattr(pak_line, "pk", None))
    key = dict(zip(MERGE_FIELDS, key, strict=True))
    lot = LicenseLot.objects.filter(_mergeable(balance), **key).order_by("pk").first()
    if lot is None:
        lot = LicenseLot.objects.create(
            smart_account_id=balance.smart_account_id,
            virtual_account_id=balance.virtual_account_id,
            license_id=balance.license_id,
            quantity=quantity,
            **key,
        )
    else:
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") + quantity)
        lot.quantity += quantity
    record_balance_entry(
        balance,
        lot=lot,
        kind=kind,
        quantity=quantity,
        movement=movement,
        actor=actor,
        hand_over=hand_over,
        note=note,
    )
    bump(balance, purchased=quantity)
    return lot


def _check_take(balance: LicenseBalance, quantity: int, allow_in_use: bool = False) -> None:
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    if not allow_in_use and quantity > balance.available:
        raise ValueError(f"only {balance.available} available")


def _portions(lots, quantity: int) -> list[Portion]:
    """What to take of each lot (in the order given) for `quantity` licenses; ValueError when they hold less."""
    portions, remaining = [], quantity
    for lot in lots:
        if remaining == 0:
            break
        taken = min(lot.quantity, remaining)
        portions.append(Portion(lot=lot, quantity=taken))
        remaining -= taken
    if remaining:
        raise ValueError(f"the lots hold {quantity - remaining}, not {quantity}")
    return portions


def take_from_va(
    *,
    balance: LicenseBalance,
    quantity: int,
    kind: str,
    movement,
    actor=None,
    allow_in_use: bool = False,
    hand_over=None,
    order_line=None,
    note: str = "",
) -> list[Portion]:
    """Take `quantity` licenses out of the balance's VA, longest term first, splitting lots.

    Refuses (ValueError) more than is available (purchased − in use − reserved) unless
    `allow_in_use`; callers turn that into a ValidationError naming the available number.
    `order_line` restricts the take to lots from that order line (partner hand-overs).
    """
    _check_take(balance, quantity, allow_in_use)
    lots = LicenseLot.objects.filter(_takeable(balance)).order_by(*LONGEST_TERM_FIRST)
    lots = lots.select_related("order_line", "pak_line")
    if order_line is not None:
        lots = lots.filter(order_line=order_line)
    portions = _portions(lots, quantity)
    for portion in portions:
        lot = portion.lot
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") - portion.quantity)
        lot.quantity -= portion.quantity
        record_balance_entry(
            balance,
            lot=lot,
            kind=kind,
            quantity=-portion.quantity,
            movement=movement,
            actor=actor,
            hand_over=hand_over,
            note=note,
        )
    bump(balance, purchased=-quantity)
    return portions


def move_between_vas(
    *,
    source: LicenseBalance,
    target: LicenseBalance,
    quantity: int,
    movement,
    actor=None,
    note: str = "",
) -> list[Portion]:
    """Move `quantity` available licenses from `source`'s VA to `target`'s VA (both locked, same license
    and account).

    Lots keep their term and source on the way: taken longest term first, split where a lot holds
    more than is left to take; each portion joins the target's identical live lot or becomes a new
    lot there. One TRANSFER_OUT entry per lot taken from and one TRANSFER_IN per portion received,
    sharing `movement`. Nothing is created or lost. Set-based (`_move_set_based`), so a transfer costs
    the same few statements however many lots it splits; `move_portion_by_portion` is the reference.
    """
    if source.license_id != target.license_id:
        raise ValueError("a transfer moves one license")
    if source.virtual_account_id == target.virtual_account_id:
        raise ValueError("source and target are the same Virtual Account")
    if source.smart_account_id != target.smart_account_id:
        raise ValueError("a transfer stays inside one account")
    _check_take(source, quantity)
    return _move_set_based(source, target, quantity, movement=movement, actor=actor, note=note)


def move_portion_by_portion(*, source, target, quantity: int, movement, actor=None, note: str = "") -> list[Portion]:
    """The reference of `move_between_vas`, in the terms of the rules: `take_from_va`, then `add_to_va` for
    each portion. Slower (statements grow with the lots); the differential tests hold the two equal."""
    portions = take_from_va(
        balance=source, quantity=quantity, kind=LedgerEntry.Kind.TRANSFER_OUT, movement=movement, actor=actor, note=note
    )
    for portion in portions:
        add_to_va(
            balance=target,
            quantity=portion.quantity,
            kind=LedgerEntry.Kind.TRANSFER_IN,
            movement=movement,
            actor=actor,
            start_date=portion.start_date,
            end_date=portion.end_date,
            order_line=portion.order_line,
            pak_line=portion.pak_line,
            note=note,
        )
    return portions


def _move_set_based(source, target, quantity: int, *, movement, actor, note: str) -> list[Portion]:
    """`move_between_vas` in a fixed number of statements (concurrent transfers benchmark): one read of
    both VAs' lots, the new lots in one insert when any is needed, then the writes
    (`queries.transfer_writes`, one round trip on PostgreSQL)."""
    # One read: the source's lots to take from and the target's to merge into (both balances are locked,
    # so neither VA's lots of this license change meanwhile).
    names = [f.attname for f in LicenseLot._meta.concrete_fields]
    if queries.in_use():
        rows = queries.lots_for_transfer(names, source, target)
    else:
        lots = LicenseLot.objects.filter(_takeable(source) | _mergeable(target)).order_by(*LONGEST_TERM_FIRST)
        rows = lots.values_list(*names)
    lots = [LicenseLot.from_db(connection.alias, names, row) for row in rows]
    taken = _portions((lot for lot in lots if lot.virtual_account_id == source.virtual_account_id), quantity)
    merge_into: dict[tuple, LicenseLot] = {}
    for lot in sorted((lot for lot in lots if lot.virtual_account_id == target.virtual_account_id), key=lambda x: x.pk):
        merge_into.setdefault(merge_key(lot), lot)
    arriving: dict[tuple, int] = {}
    for portion in taken:
        arriving[merge_key(portion.lot)] = arriving.get(merge_key(portion.lot), 0) + portion.quantity
    lot_deltas = {p.lot.pk: -p.quantity for p in taken}
    for key, n in arriving.items():
        if key in merge_into:
            lot_deltas[merge_into[key].pk] = n
    new = [
        LicenseLot(
            smart_account_id=target.smart_account_id,
            virtual_account_id=target.virtual_account_id,
            license_id=target.license_id,
            quantity=n,
            **dict(zip(MERGE_FIELDS, key, strict=True)),
        )
        for key, n in arriving.items()
        if key not in merge_into
    ]
    if new:
        queries.create(new)
        for lot in new:
            merge_into[merge_key(lot)] = lot
    now = timezone.now()
    entries = [
        entry(lot=p.lot, kind=LedgerEntry.Kind.TRANSFER_OUT, quantity=-p.quantity, movement=movement, actor=actor,
              smart_account_id=source.smart_account_id, virtual_account_id=source.virtual_account_id,
              license_id=source.license_id, note=note)
        for p in taken
    ] + [
        entry(lot=merge_into[merge_key(p.lot)], kind=LedgerEntry.Kind.TRANSFER_IN, quantity=p.quantity,
              movement=movement, actor=actor, smart_account_id=target.smart_account_id,
              virtual_account_id=target.virtual_account_id, license_id=target.license_id, note=note)
        for p in taken
    ]  # fmt: skip
    for made in entries:
        made.created_at = now
    totals = total_changes([(source, {"purchased": -quantity}), (target, {"purchased": quantity})])
    queries.perform(
        queries.transfer_writes(
            lot_deltas=lot_deltas,
            entries=entries,
            purchased={source.pk: -quantity, target.pk: quantity},
            totals={key: {k: v for k, v in moved.items() if k == "short_vas"} for key, moved in totals.items()},
        )
    )
    for portion in taken:
        portion.lot.quantity -= portion.quantity
    return taken


def expire_lot(*, balance: LicenseBalance, lot: LicenseLot, movement, note: str = "") -> int:
    """Expire what is left of a term lot (its VA's balance locked): an EXPIRY entry, the lot emptied.

    Licenses in use stay in use, so the balance may go below zero (Insufficient): an expired
    term is a shortage to resolve, not usage to cut. Returns the quantity expired (0: nothing left).
    """
    if lot.virtual_account_id != balance.virtual_account_id or lot.license_id != balance.license_id:
        raise ValueError("the lot is not held under this balance")
    fresh = LicenseLot.objects.filter(pk=lot.pk).values_list("quantity", flat=True).first() or 0
    if fresh <= 0:
        return 0
    now = timezone.now()
    LicenseLot.objects.filter(pk=lot.pk).update(
        quantity=F("quantity") - fresh, expired_quantity=F("expired_quantity") + fresh, expired_at=now
    )
    lot.quantity = 0
    lot.expired_quantity += fresh
    lot.expired_at = now
    record_balance_entry(
        balance,
        lot=lot,
        kind=LedgerEntry.Kind.EXPIRY,
        quantity=-fresh,
        movement=movement,
        actor=None,
        note=note,
    )
    bump(balance, purchased=-fresh)
    return fresh
