"""Orders deposited into an account, as its people see them."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.http import Http404

from smartaccounts.models import SmartAccount

from ..models import Order
from .scope import LicensingScope

__all__ = ["openable_order_ids", "order_in_scope", "orders_in_scope"]

# The kinds of account that have orders pages (a Partner Holding account's orders are its held orders).
ORDER_PAGE_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)


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


def openable_order_ids(user, smart_account: SmartAccount, order_ids, *, role_on_account=False) -> set[int]:
    """Which of `order_ids` `user` may open on the account's order pages: what a page may link to. One query.

    A lot names the order it came from, which may be another account's (licenses a partner handed over),
    an order deposited in a VA the reader does not see, or an order of an account without orders pages.
    """
    order_ids = {order_id for order_id in order_ids if order_id is not None}
    if not order_ids or smart_account.kind not in ORDER_PAGE_KINDS:
        return set()
    from .scope import scope_for

    scope = scope_for(user, smart_account, role_on_account=role_on_account)
    return set(orders_in_scope(scope).filter(pk__in=order_ids).values_list("pk", flat=True))
