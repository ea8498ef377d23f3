"""Partner holding hand-overs: a partner passes order lines from its holding account to a customer.

A hand-over is pending until the customer accepts it into a Virtual Account, an Admin of the
customer declines it, the partner cancels it, or it has waited 30 days (declined automatically).
While it is pending its licenses are *in transit*: they have left the partner's VA (HAND_OVER_OUT
entries on the partner's lots) and sit in lots of the hand-over that count in no balance. Accepting
moves them into the customer's VA; declining, cancelling and expiring return them to the VAs they
came from. At every moment each license is in exactly one place.

Lock order, shared with every other writer: the hand-over row first (`select_for_update`), then the
balances (`ledger.lock_balances`, once). Creating a hand-over locks only balances (the new row is
nobody else's yet).

The partner learns nothing of the customer account beyond the name it confirmed: events written to
the partner's log about the customer's decisions name no customer user and no Virtual Account.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from smartaccounts import selectors as sa_selectors
from smartaccounts.models import SmartAccount, User, VirtualAccount
from smartaccounts.services import account_admin_emails, notify, record_event, require_account_role, require_va_role

from .. import ledger
from ..limits import refuse_past_account_maximum
from ..models import HandOver, HandOverLine, LedgerEntry, LicenseLot, OrderLine
from .orders import add_months

__all__ = [
    "HAND_OVER_EXPIRY_DAYS",
    "NO_ELIGIBLE_CUSTOMER",
    "accept_hand_over",
    "cancel_hand_over",
    "decline_hand_over",
    "expire_stale_hand_overs",
    "transfer_to_customer",
]

logger = logging.getLogger(__name__)

HAND_OVER_EXPIRY_DAYS = 30
# One message for every account that cannot receive a hand-over (unknown, pending, limited use,
# partner holding): the partner learns nothing about accounts it may not hand licenses to.
NO_ELIGIBLE_CUSTOMER = (
    "No active Customer account can receive licenses under that domain identifier. "
    "Check the identifier with your customer."
)


def _months_between(start: date, end: date) -> int:
    return max(1, round((end - start).days / 30.4375))


def term_months_of(lot: LicenseLot, order_line: OrderLine | None) -> int | None:
    """The term a handed-over lot restarts with on acceptance (None: perpetual, keep its dates)."""
    if lot.term_months:
        return lot.term_months
    if not lot.license.is_time_bound:
        return None
    if order_line is not None and order_line.sku.default_term_months:
        return order_line.sku.default_term_months
    if lot.start_date and lot.end_date:
        return _months_between(lot.start_date, lot.end_date)
    if order_line is not None and order_line.term_start and order_line.term_end:
        return _months_between(order_line.term_start, order_line.term_end)
    return None


def _portal_url(name: str, **kwargs) -> str:
    return f"{settings.PORTAL_BASE_URL.rstrip('/')}{reverse(name, kwargs=kwargs)}"


def _mail_text(template: str, *, hand_over: HandOver, lines, **context) -> str:
    """An e-mail body from templates/licensing/email/<template>.txt; every one lists the hand-over's lines."""
    return render_to_string(
        f"licensing/email/{template}.txt",
        {
            "partner": hand_over.partner_account,
            "customer": hand_over.customer_account,
            "lines": lines,
            "expiry_days": HAND_OVER_EXPIRY_DAYS,
            **context,
        },
    )


def _summary(lines) -> str:
    total = sum(line.quantity for line in lines)
    return f"{total} license{'s' if total != 1 else ''} in {len(lines)} order line{'s' if len(lines) != 1 else ''}"


def _partner_recipients(hand_over: HandOver) -> list[str]:
    return [*account_admin_emails(hand_over.partner_account), hand_over.created_by.email]


def _lock(hand_over: HandOver) -> HandOver:
    """Lock the hand-over row (before anything else) and read it fresh."""
    locked = (
        HandOver.objects.select_for_update(of=("self",))
        .select_related("partner_account", "customer_account", "created_by")
        .filter(pk=hand_over.pk)
        .first()
    )
    if locked is None:
        raise ValidationError("That hand-over does not exist.")
    return locked


def _require_pending(hand_over: HandOver, verb: str) -> None:
    if hand_over.status == HandOver.Status.PENDING:
        return
    state = {
        HandOver.Status.ACCEPTED: "the customer has accepted it",
        HandOver.Status.DECLINED: "the customer has declined it",
        HandOver.Status.CANCELLED: "the partner has cancelled it",
        HandOver.Status.EXPIRED: f"it was declined automatically after {HAND_OVER_EXPIRY_DAYS} days",
    }[hand_over.status]
    raise ValidationError(f"Hand-over {hand_over.pk} can no longer be {verb}: {state}.")


def _lines(hand_over: HandOver) -> list[HandOverLine]:
    return list(
        hand_over.lines.select_related("license", "order_line__order", "order_line__sku").order_by(
            "order_line__order__number", "order_line__line_number"
        )
    )


# --- Creating a hand-over ------------------------------------------------------------------------


def _wanted_quantities(order_lines: dict) -> dict[int, int]:
    """{order line id: quantity}, each a whole number of at least 1."""
    if not order_lines:
        raise ValidationError("Choose at least one order line and a quantity to hand over.")
    wanted: dict[int, int] = {}
    for order_line, quantity in order_lines.items():
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 1:
            raise ValidationError(f"Quantities are whole numbers of at least 1, not {quantity!r}.")
        wanted[order_line.pk if isinstance(order_line, OrderLine) else int(order_line)] = quantity
    return wanted


def _partner_and_customer(
    actor: User, lines: dict[int, OrderLine], wanted: dict, customer_account: SmartAccount
) -> tuple[SmartAccount, SmartAccount]:
    """The active Partner Holding account holding every line (the actor operates in it) and the active
    customer account receiving them; refusals otherwise."""
    partner_ids = {line.order.smart_account_id for line in lines.values()}
    if len(lines) != len(wanted) or len(partner_ids) != 1 or None in partner_ids:
        raise ValidationError("All the order lines must be held by one Partner Holding account.")
    partner = next(iter(lines.values())).order.smart_account
    if partner.kind != SmartAccount.Kind.PARTNER_HOLDING:
        raise ValidationError(
            f"{partner.name} is a {partner.get_kind_display()} account: only a Partner Holding account hands "
            "licenses over to customers. Use a license transfer between your own Virtual Accounts instead."
        )
    role = sa_selectors.strongest_role_in_account(actor, partner)
    if role is None or not role.allows("operate"):
        raise PermissionDenied(f"You need the User or Admin role on {partner.name} to hand licenses over.")
    if not partner.is_active:
        raise ValidationError(f"{partner.name} is waiting for approval by staff; it cannot hand licenses over yet.")
    customer = SmartAccount.objects.filter(pk=customer_account.pk).first()
    if (
        customer is None
        or customer.pk == partner.pk
        or customer.kind != SmartAccount.Kind.CUSTOMER
        or customer.status != SmartAccount.Status.ACTIVE
    ):
        raise ValidationError(NO_ELIGIBLE_CUSTOMER)
    return partner, customer


def _lock_what_is_held(actor: User, partner: SmartAccount, lines: dict[int, OrderLine], wanted: dict[int, int]):
    """Lock the balances of the partner's VAs the actor operates on that hold the lines' licenses, then read
    what each line holds there ({line: [(VA, quantity)]} in VA order); refuses a line that holds too few."""
    operable = set(sa_selectors.virtual_accounts_for(actor, partner, "operate").values_list("pk", flat=True))
    live_lots = LicenseLot.objects.filter(
        order_line_id__in=wanted,
        smart_account_id=partner.pk,
        virtual_account__isnull=False,
        quantity__gt=0,
        expired_at__isnull=True,
    )
    places = set(live_lots.values_list("virtual_account_id", "license_id"))
    balances = ledger.lock_balances((partner.pk, va, lic) for va, lic in places if va in operable)
    # Read what is held only now: lots change only while their VA's balance row is locked.
    held: dict[int, list[tuple[int, int]]] = defaultdict(list)  # order line -> [(VA, quantity)] in VA order
    elsewhere: dict[int, int] = defaultdict(int)
    for line_id, va_id, quantity in (
        live_lots.values_list("order_line_id", "virtual_account_id")
        .annotate(total=Sum("quantity"))
        .order_by("order_line_id", "virtual_account_id")
    ):
        if va_id in operable:
            held[line_id].append((va_id, quantity))
        else:
            elsewhere[line_id] += quantity
    problems = []
    for line_id, quantity in wanted.items():
        line = lines[line_id]
        available = sum(q for _, q in held[line_id])
        if quantity > available:
            where = " in the Virtual Accounts you may operate on" if elsewhere[line_id] else ""
            problems.append(
                f"Order {line.order.number} line {line.line_number} ({line.sku.code}): only {available} "
                f"license{'s are' if available != 1 else ' is'} still held{where}, not {quantity}."
            )
    if problems:
        raise ValidationError(problems)
    return balances, held


def _put_lines_in_transit(hand_over: HandOver, actor: User, lines, wanted, balances, held) -> None:
    """Take each line's quantity out of the partner's VAs (in VA order) and put it in transit."""
    movement = ledger.new_movement()
    note = f"Hand-over {hand_over.pk} to {hand_over.customer_account.name}"
    for line_id, quantity in sorted(wanted.items()):
        line = lines[line_id]
        HandOverLine.objects.create(
            hand_over=hand_over,
            smart_account_id=hand_over.partner_account_id,
            order_line=line,
            license=line.sku.license,
            quantity=quantity,
        )
        remaining = quantity
        for va_id, available in held[line_id]:
            if remaining == 0:
                break
            take = min(available, remaining)
            portions = ledger.take_from_va(
                balance=balances[(va_id, line.sku.license_id)],
                quantity=take,
                kind=LedgerEntry.Kind.HAND_OVER_OUT,
                movement=movement,
                actor=actor,
                hand_over=hand_over,
                order_line=line,
                note=note,
            )
            for portion in portions:
                portion.lot.license = line.sku.license
                ledger.put_in_transit(
                    hand_over=hand_over,
                    portion=portion,
                    movement=movement,
                    actor=actor,
                    term_months=term_months_of(portion.lot, line),
                    note=note,
                )
            remaining -= take


def _announce_hand_over(hand_over: HandOver, actor: User) -> None:
    """The events in both accounts' logs, and the e-mail to the customer's Admins."""
    partner, customer = hand_over.partner_account, hand_over.customer_account
    hand_over_lines = _lines(hand_over)
    summary = _summary(hand_over_lines)
    details = {
        "hand_over": hand_over.pk,
        "lines": [
            {"order": hl.order_line.order.number, "line": hl.order_line.line_number, "license": hl.license.name,
             "quantity": hl.quantity}
            for hl in hand_over_lines
        ],
    }  # fmt: skip
    record_event(
        actor=actor,
        smart_account=partner,
        action="hand_over.created",
        message=f"{actor.email} handed {summary} over to {customer.name} (hand-over {hand_over.pk}); "
        "it waits for the customer to accept it.",
        details={**details, "customer": customer.name},
    )
    record_event(
        actor=None,
        smart_account=customer,
        action="hand_over.offered",
        message=f"{partner.name} handed {summary} over to this account (hand-over {hand_over.pk}). "
        "Accept it into a Virtual Account or decline it under Incoming licenses.",
        details={**details, "partner": partner.name},
    )
    notify(
        subject=f"{partner.name} is handing licenses over to {customer.name}",
        message=_mail_text(
            "hand_over_offered",
            hand_over=hand_over,
            lines=hand_over_lines,
            link=_portal_url("hand_over_incoming_detail", account_id=customer.pk, hand_over_id=hand_over.pk),
        ),
        recipients=account_admin_emails(customer),
    )


@transaction.atomic
def transfer_to_customer(*, actor: User, order_lines: dict, customer_account: SmartAccount) -> HandOver:
    """Hand order lines (partially or fully) of a partner holding account to an active customer account.

    The actor needs the User or Admin role on the Virtual Accounts the licenses are held in. The
    licenses leave those VAs at once and travel with the pending hand-over until the customer
    accepts or declines it; the customer's Admins are e-mailed.
    """
    wanted = _wanted_quantities(order_lines)
    lines = {
        line.pk: line
        for line in OrderLine.objects.select_related("order__smart_account", "sku__license").filter(pk__in=wanted)
    }
    partner, customer = _partner_and_customer(actor, lines, wanted, customer_account)
    balances, held = _lock_what_is_held(actor, partner, lines, wanted)
    hand_over = HandOver.objects.create(partner_account=partner, customer_account=customer, created_by=actor)
    _put_lines_in_transit(hand_over, actor, lines, wanted, balances, held)
    _announce_hand_over(hand_over, actor)
    return hand_over


# --- Accepting -----------------------------------------------------------------------------------


def _announce_acceptance(hand_over: HandOver, actor: User, va: VirtualAccount) -> None:
    """The events in both accounts' logs, and the e-mail to the partner."""
    customer = hand_over.customer_account
    lines = _lines(hand_over)
    summary = _summary(lines)
    record_event(
        actor=actor,
        smart_account=customer,
        virtual_account=va,
        action="hand_over.accepted",
        message=f"{actor.email} accepted {summary} from {hand_over.partner_account.name} into {va.name} "
        f"(hand-over {hand_over.pk}).",
        details={"hand_over": hand_over.pk, "partner": hand_over.partner_account.name},
    )
    record_event(
        actor=None,
        smart_account=hand_over.partner_account,
        action="hand_over.accepted",
        message=f"{customer.name} accepted hand-over {hand_over.pk} ({summary}).",
        details={"hand_over": hand_over.pk, "customer": customer.name},
    )
    link = _portal_url("hand_over_outgoing_detail", account_id=hand_over.partner_account_id, hand_over_id=hand_over.pk)
    notify(
        subject=f"{customer.name} accepted hand-over {hand_over.pk}",
        message=_mail_text("hand_over_accepted", hand_over=hand_over, lines=lines, link=link),
        recipients=_partner_recipients(hand_over),
    )


@transaction.atomic
def accept_hand_over(*, actor: User, hand_over: HandOver, virtual_account: VirtualAccount) -> HandOver:
    """The customer takes a pending hand-over into one of its VAs (the actor may operate on it).

    Term and subscription licenses start their term today: end = today + the term length. Refused
    when it would take the customer past MAX_LICENSES_PER_ACCOUNT licenses of one license.
    """
    hand_over = _lock(hand_over)
    customer = hand_over.customer_account
    va = VirtualAccount.objects.filter(pk=virtual_account.pk).select_related("smart_account").first()
    if va is None or va.smart_account_id != customer.pk:
        raise PermissionDenied("Choose one of your own Virtual Accounts.")
    require_va_role(actor, va, "operate")
    if va.is_deleted:
        raise ValidationError(f"{va.name} has been deleted: choose another Virtual Account.")
    _require_pending(hand_over, "accepted")

    lots = list(
        LicenseLot.objects.filter(in_transit=hand_over, quantity__gt=0).select_related("license").order_by("pk")
    )
    balances = ledger.lock_balances((customer.pk, va.pk, lot.license_id) for lot in lots)
    added: dict = {}
    for lot in lots:
        added[lot.license] = added.get(lot.license, 0) + lot.quantity
    refuse_past_account_maximum(smart_account=customer, added=added, what=f"Hand-over {hand_over.pk}")
    movement = ledger.new_movement()
    today = timezone.localdate()
    note = f"Hand-over {hand_over.pk} from {hand_over.partner_account.name}"
    for lot in lots:
        lot.in_transit = hand_over
        quantity = lot.quantity
        # The transit lot is the partner's: its entry names no customer person.
        ledger.take_from_transit(
            lot=lot, quantity=quantity, kind=LedgerEntry.Kind.HAND_OVER_IN, movement=movement, actor=None, note=note
        )
        if lot.term_months:
            start, end = today, add_months(today, lot.term_months)
        else:
            start, end = lot.start_date, lot.end_date
        ledger.add_to_va(
            balance=balances[(va.pk, lot.license_id)],
            quantity=quantity,
            kind=LedgerEntry.Kind.HAND_OVER_IN,
            movement=movement,
            actor=actor,
            start_date=start,
            end_date=end,
            order_line=lot.order_line,
            pak_line=lot.pak_line,
            hand_over=hand_over,
            note=note,
        )
    now = timezone.now()
    HandOver.objects.filter(pk=hand_over.pk).update(
        status=HandOver.Status.ACCEPTED, decided_by=actor, decided_at=now, virtual_account=va
    )
    hand_over.status, hand_over.decided_by, hand_over.decided_at, hand_over.virtual_account = (
        HandOver.Status.ACCEPTED,
        actor,
        now,
        va,
    )
    _announce_acceptance(hand_over, actor, va)
    return hand_over


# --- Returning to the partner: decline, cancel, expire ---------------------------------------------


def _return_to_partner(hand_over: HandOver, *, actor: User | None, kind: str) -> None:
    """Put the hand-over's transit lots back where they came from (its row is locked by the caller).

    The sources are the HAND_OVER_OUT entries on the partner's lots: the same VA, dates and order
    line. A source VA deleted in the meantime is replaced by the partner's default VA.
    """
    partner = hand_over.partner_account
    lots = list(LicenseLot.objects.filter(in_transit=hand_over, quantity__gt=0).order_by("pk"))
    if not lots:
        return
    sources = list(
        LedgerEntry.objects.filter(hand_over=hand_over, kind=LedgerEntry.Kind.HAND_OVER_OUT, quantity__lt=0)
        .select_related("lot", "virtual_account")
        .order_by("pk")
    )
    default_va = VirtualAccount.objects.filter(smart_account=partner, is_default=True).first()
    remaining: dict[tuple, list[list]] = defaultdict(list)  # (license, order line, PAK line) -> [[entry, VA id, left]]
    for entry in sources:
        va_id = entry.virtual_account_id
        if entry.virtual_account is None or entry.virtual_account.is_deleted:
            va_id = default_va.pk
        remaining[(entry.license_id, entry.lot.order_line_id, entry.lot.pak_line_id)].append(
            [entry, va_id, -entry.quantity]
        )
    balances = ledger.lock_balances(
        (partner.pk, va_id, key[0]) for key, items in remaining.items() for _, va_id, _ in items
    )
    movement = ledger.new_movement()
    note = f"Hand-over {hand_over.pk} returned"
    for lot in lots:
        lot.in_transit = hand_over
        quantity = lot.quantity
        ledger.take_from_transit(lot=lot, quantity=quantity, kind=kind, movement=movement, actor=actor, note=note)
        for item in remaining[(lot.license_id, lot.order_line_id, lot.pak_line_id)]:
            if quantity == 0:
                break
            entry, va_id, left = item
            back = min(left, quantity)
            if back == 0:
                continue
            ledger.add_to_va(
                balance=balances[(va_id, lot.license_id)],
                quantity=back,
                kind=kind,
                movement=movement,
                actor=actor,
                start_date=entry.lot.start_date,
                end_date=entry.lot.end_date,
                order_line=entry.lot.order_line,
                pak_line=entry.lot.pak_line,
                hand_over=hand_over,
                note=note,
            )
            item[2] -= back
            quantity -= back
        if quantity:  # pragma: no cover - the entries always account for every transit lot
            raise RuntimeError(f"Hand-over {hand_over.pk}: {quantity} licenses in transit have no source entry")


def _close(hand_over: HandOver, status: str, actor: User | None, reason: str = "") -> None:
    now = timezone.now()
    HandOver.objects.filter(pk=hand_over.pk).update(status=status, decided_by=actor, decided_at=now, reason=reason)
    hand_over.status, hand_over.decided_by, hand_over.decided_at, hand_over.reason = status, actor, now, reason


@transaction.atomic
def decline_hand_over(*, actor: User, hand_over: HandOver, reason: str) -> HandOver:
    """An Admin of the customer account declines a pending hand-over; its licenses return to the partner."""
    reason = " ".join((reason or "").split())
    hand_over = _lock(hand_over)
    require_account_role(actor, hand_over.customer_account, "admin")
    if not reason:
        raise ValidationError({"reason": "Give a reason: the partner reads it."})
    if len(reason) > 500:
        raise ValidationError({"reason": f"Keep the reason under 500 characters (it has {len(reason)})."})
    _require_pending(hand_over, "declined")
    # The licenses go back into the partner's ledger: those entries name no customer person.
    _return_to_partner(hand_over, actor=None, kind=LedgerEntry.Kind.HAND_OVER_RETURN)
    _close(hand_over, HandOver.Status.DECLINED, actor, reason)
    lines = _lines(hand_over)
    summary = _summary(lines)
    partner, customer = hand_over.partner_account, hand_over.customer_account
    record_event(
        actor=actor,
        smart_account=customer,
        action="hand_over.declined",
        message=f"{actor.email} declined {summary} from {partner.name} (hand-over {hand_over.pk}): {reason}",
        details={"hand_over": hand_over.pk, "partner": partner.name, "reason": reason},
    )
    record_event(
        actor=None,
        smart_account=partner,
        action="hand_over.declined",
        message=f"{customer.name} declined hand-over {hand_over.pk} ({summary}): {reason} "
        "The licenses are back in this account.",
        details={"hand_over": hand_over.pk, "customer": customer.name, "reason": reason},
    )
    notify(
        subject=f"{customer.name} declined hand-over {hand_over.pk}",
        message=_mail_text(
            "hand_over_declined",
            hand_over=hand_over,
            lines=lines,
            reason=reason,
            link=_portal_url("hand_over_outgoing_detail", account_id=partner.pk, hand_over_id=hand_over.pk),
        ),
        recipients=_partner_recipients(hand_over),
    )
    return hand_over


@transaction.atomic
def cancel_hand_over(*, actor: User, hand_over: HandOver) -> HandOver:
    """The partner takes a pending hand-over back (User or Admin on the VAs its licenses came from)."""
    hand_over = _lock(hand_over)
    partner = hand_over.partner_account
    role = sa_selectors.strongest_role_in_account(actor, partner)
    if role is None or not role.allows("operate"):
        raise PermissionDenied(f"You need the User or Admin role on {partner.name} to cancel a hand-over.")
    source_vas = VirtualAccount.objects.filter(
        pk__in=LedgerEntry.objects.filter(
            hand_over=hand_over, kind=LedgerEntry.Kind.HAND_OVER_OUT, virtual_account__isnull=False
        ).values("virtual_account_id"),
        deleted_at__isnull=True,
    )
    for va in source_vas:
        require_va_role(actor, va, "operate")
    _require_pending(hand_over, "cancelled")
    _return_to_partner(hand_over, actor=actor, kind=LedgerEntry.Kind.HAND_OVER_RETURN)
    _close(hand_over, HandOver.Status.CANCELLED, actor)
    lines = _lines(hand_over)
    summary = _summary(lines)
    customer = hand_over.customer_account
    record_event(
        actor=actor,
        smart_account=partner,
        action="hand_over.cancelled",
        message=f"{actor.email} cancelled hand-over {hand_over.pk} to {customer.name} ({summary}); "
        "the licenses are back in this account.",
        details={"hand_over": hand_over.pk, "customer": customer.name},
    )
    record_event(
        actor=None,
        smart_account=customer,
        action="hand_over.cancelled",
        message=f"{partner.name} cancelled hand-over {hand_over.pk} ({summary}) before it was accepted.",
        details={"hand_over": hand_over.pk, "partner": partner.name},
    )
    notify(
        subject=f"{partner.name} cancelled hand-over {hand_over.pk}",
        message=_mail_text("hand_over_cancelled", hand_over=hand_over, lines=lines),
        recipients=account_admin_emails(customer),
    )
    return hand_over


def _expire_one(hand_over_id: int, cutoff) -> bool:
    with transaction.atomic():
        hand_over = _lock(HandOver(pk=hand_over_id))
        if hand_over.status != HandOver.Status.PENDING or hand_over.created_at >= cutoff:
            return False  # decided (or not yet stale) while we were getting here
        _return_to_partner(hand_over, actor=None, kind=LedgerEntry.Kind.HAND_OVER_RETURN)
        reason = f"Nobody accepted it within {HAND_OVER_EXPIRY_DAYS} days."
        _close(hand_over, HandOver.Status.EXPIRED, None, reason)
        lines = _lines(hand_over)
        summary = _summary(lines)
        partner, customer = hand_over.partner_account, hand_over.customer_account
        record_event(
            actor=None,
            smart_account=partner,
            action="hand_over.expired",
            message=f"Hand-over {hand_over.pk} to {customer.name} ({summary}) was declined automatically: "
            f"{reason} The licenses are back in this account.",
            details={"hand_over": hand_over.pk, "customer": customer.name},
        )
        record_event(
            actor=None,
            smart_account=customer,
            action="hand_over.expired",
            message=f"Hand-over {hand_over.pk} from {partner.name} ({summary}) was declined automatically: {reason}",
            details={"hand_over": hand_over.pk, "partner": partner.name},
        )
        notify(
            subject=f"Hand-over {hand_over.pk} to {customer.name} was declined automatically",
            message=_mail_text("hand_over_expired_partner", hand_over=hand_over, lines=lines),
            recipients=_partner_recipients(hand_over),
        )
        notify(
            subject=f"Hand-over {hand_over.pk} from {partner.name} was declined automatically",
            message=_mail_text("hand_over_expired_customer", hand_over=hand_over, lines=lines),
            recipients=account_admin_emails(customer),
        )
        return True


def expire_stale_hand_overs(*, now=None) -> int:
    """Decline every hand-over pending for 30 days or more; returns how many. Idempotent.

    Each hand-over is handled in its own transaction (locked, re-checked), so one that the
    customer accepts at the same moment is either accepted or expired, never both.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=HAND_OVER_EXPIRY_DAYS)
    stale = HandOver.objects.filter(Q(status=HandOver.Status.PENDING) & Q(created_at__lt=cutoff)).order_by("pk")
    return sum(1 for pk in list(stale.values_list("pk", flat=True)) if _expire_one(pk, cutoff))
