"""Lots in transit: a partner's pending hand-over (rule 2: they change only while the hand-over row is locked)."""

from __future__ import annotations

from django.db.models import F

from ..models import LedgerEntry, LicenseLot
from .entries import Portion, record_entry


def put_in_transit(
    *, hand_over, portion: Portion, movement, actor=None, term_months: int | None = None, note: str = ""
) -> LicenseLot:
    """Put a portion taken from the partner's VA (`take_from_va`) in transit with `hand_over` (row locked).

    The transit lot has no VA, so it counts in no balance. `term_months`: the term starts when the
    customer accepts, so the lot carries its length instead of dates; otherwise it keeps the dates.
    """
    start, end = (None, None) if term_months else (portion.start_date, portion.end_date)
    source = portion.lot
    lot = (
        LicenseLot.objects.filter(
            in_transit=hand_over,
            license_id=source.license_id,
            order_line_id=source.order_line_id,
            pak_line_id=source.pak_line_id,
            term_months=term_months,
            start_date=start,
            end_date=end,
        )
        .order_by("pk")
        .first()
    )
    if lot is None:
        lot = LicenseLot.objects.create(
            smart_account_id=hand_over.partner_account_id,
            virtual_account=None,
            in_transit=hand_over,
            license_id=source.license_id,
            quantity=portion.quantity,
            start_date=start,
            end_date=end,
            term_months=term_months,
            order_line_id=source.order_line_id,
            pak_line_id=source.pak_line_id,
        )
    else:
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") + portion.quantity)
        lot.quantity += portion.quantity
    record_entry(
        lot=lot,
        kind=LedgerEntry.Kind.HAND_OVER_OUT,
        quantity=portion.quantity,
        movement=movement,
        actor=actor,
        smart_account_id=hand_over.partner_account_id,
        virtual_account_id=None,
        license_id=source.license_id,
        hand_over=hand_over,
        note=note,
    )
    return lot


def take_from_transit(*, lot: LicenseLot, quantity: int, kind: str, movement, actor=None, note: str = "") -> None:
    """Take `quantity` out of a transit lot (its hand-over row locked), as the customer accepts it
    (HAND_OVER_IN) or it returns to the partner (HAND_OVER_RETURN); the caller adds it to a VA."""
    if lot.in_transit_id is None:
        raise ValueError("the lot is not in transit")
    if quantity <= 0 or quantity > lot.quantity:
        raise ValueError(f"the transit lot holds {lot.quantity}, not {quantity}")
    LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") - quantity)
    lot.quantity -= quantity
    record_entry(
        lot=lot,
        kind=kind,
        quantity=-quantity,
        movement=movement,
        actor=actor,
        smart_account_id=lot.smart_account_id,
        virtual_account_id=None,
        license_id=lot.license_id,
        hand_over=lot.in_transit,
        note=note,
    )
