"""Permission-scoped reads of partner holding accounts and hand-overs.

Everything a partner reads of a customer account goes through here, and all of it is the
account's name: `eligible_customer_account` returns nothing else, and the hand-over lists select
only the name of the other account.
"""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from smartaccounts.models import SmartAccount

from ..models import HandOver, HandOverLine, LicenseLot, Order, OrderLine


def eligible_customer_account(domain: str = "", *, account_id: int | None = None) -> SmartAccount | None:
    """The active customer account with this domain identifier (or, for API callers, this id), or None
    (for any other account too)."""
    eligible = SmartAccount.objects.filter(kind=SmartAccount.Kind.CUSTOMER, status=SmartAccount.Status.ACTIVE)
    if account_id is not None:
        return eligible.filter(pk=account_id).only("pk", "name").first()
    domain = (domain or "").strip().lower().strip(".")
    if not domain:
        return None
    return eligible.filter(domain__iexact=domain).only("pk", "name").first()


def held_order_lines(smart_account: SmartAccount, virtual_accounts: QuerySet) -> QuerySet[OrderLine]:
    """The account's order lines with `held` (live lots in `virtual_accounts`) and `in_transit` (pending hand-overs).

    One query whatever the number of lines or lots.
    """
    live = Q(
        lots__virtual_account__in=virtual_accounts.values("pk"),
        lots__quantity__gt=0,
        lots__expired_at__isnull=True,
    )
    transit = Q(
        lots__in_transit__partner_account=smart_account,
        lots__in_transit__status=HandOver.Status.PENDING,
        lots__quantity__gt=0,
    )
    zero = Value(0, output_field=IntegerField())
    return (
        OrderLine.objects.filter(smart_account=smart_account)
        .select_related("order", "sku__license")
        .annotate(
            held=Coalesce(Sum("lots__quantity", filter=live), zero),
            in_transit=Coalesce(Sum("lots__quantity", filter=transit), zero),
        )
        .order_by("order__number", "line_number")
    )


def holding_totals(smart_account: SmartAccount, virtual_accounts: QuerySet) -> dict[str, int]:
    """Licenses still held in `virtual_accounts`, and in the account's pending hand-overs. One query."""
    live = Q(virtual_account__in=virtual_accounts.values("pk"), quantity__gt=0, expired_at__isnull=True)
    transit = Q(in_transit__partner_account=smart_account, in_transit__status=HandOver.Status.PENDING)
    totals = LicenseLot.objects.filter(smart_account=smart_account, order_line__isnull=False).aggregate(
        held=Sum("quantity", filter=live), in_transit=Sum("quantity", filter=transit)
    )
    return {key: value or 0 for key, value in totals.items()}


def holding_orders(smart_account: SmartAccount, search: str = "") -> QuerySet[Order]:
    orders = Order.objects.filter(smart_account=smart_account)
    if search:
        orders = orders.filter(
            Q(number__icontains=search) | Q(end_customer__icontains=search) | Q(ordered_by__icontains=search)
        )
    return orders.order_by("-deposited_at", "-created_at", "-pk")


def outgoing_hand_overs(smart_account: SmartAccount) -> QuerySet[HandOver]:
    """Hand-overs from this partner account, with the customer's name only."""
    return (
        HandOver.objects.filter(partner_account=smart_account)
        .select_related("created_by")
        .annotate(
            customer_name=_name("customer_account"),
            line_count=Count("lines"),
            total=Coalesce(Sum("lines__quantity"), Value(0, output_field=IntegerField())),
        )
        .defer("virtual_account", "decided_by")
        .order_by("-created_at", "-pk")
    )


def incoming_hand_overs(smart_account: SmartAccount) -> QuerySet[HandOver]:
    """Hand-overs to this customer account, with the partner's name."""
    return (
        HandOver.objects.filter(customer_account=smart_account)
        .select_related("virtual_account", "decided_by")
        .annotate(
            partner_name=_name("partner_account"),
            line_count=Count("lines"),
            total=Coalesce(Sum("lines__quantity"), Value(0, output_field=IntegerField())),
        )
        .order_by("-created_at", "-pk")
    )


def _name(relation: str) -> F:
    return F(f"{relation}__name")


def hand_over_lines(hand_over: HandOver) -> QuerySet[HandOverLine]:
    return hand_over.lines.select_related("license", "order_line__order", "order_line__sku").order_by(
        "order_line__order__number", "order_line__line_number"
    )


def pending_incoming(smart_account: SmartAccount) -> QuerySet[HandOver]:
    """The hand-overs waiting for the customer account's answer (its "Incoming licenses" tab counts them)."""
    return HandOver.objects.filter(customer_account=smart_account, status=HandOver.Status.PENDING)


def pending_incoming_count(smart_account: SmartAccount) -> int:
    return pending_incoming(smart_account).count()
