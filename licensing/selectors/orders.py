"""Orders deposited into an account, as its people see them."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from smartaccounts.models import SmartAccount

from ..models import Order
from .scope import LicensingScope

__all__ = ["order_in_scope", "orders_in_scope"]


def orders_in_scope(scope: LicensingScope, *, search: str = "") -> QuerySet[Order]:
    """Orders of the account whose VA the scope covers. Orders not yet deposited show only to account-wide roles."""
    account: SmartAccount = scope.smart_account
    qs = Order.objects.filter(smart_account=account)
    if not scope.account_wide or scope.virtual_account is not None:
        qs = qs.filter(scope.q(), status=Order.Status.DEPOSITED)
    if search:
        qs = qs.filter(Q(number__icontains=search) | Q(end_customer__icontains=search))
    return qs.select_related("virtual_account").annotate(line_count=Count("lines")).order_by("-created_at", "-pk")


def order_in_scope(scope: LicensingScope, order_id: int) -> Order:
    order = orders_in_scope(scope).filter(pk=order_id).first()
    if order is None:
        raise Http404("No such order.")
    return order
