"""Licensing's answers to what happens in smartaccounts (which never imports licensing).

- Orders waiting on Smart Account hold are deposited as soon as their account becomes active.
  The account's status changes in smartaccounts (approval of a Partner Holding account by staff,
  or any other save that makes it active); this receiver runs in that same transaction, so an
  approval and the deposits it releases commit together.
- A Virtual Account can be deleted only when it holds no licenses, product instances, active
  tokens or orders waiting to be deposited (`virtual_account_holdings`); when it goes, its
  balance rows (all zero then) go with it.
"""

from __future__ import annotations

from django.db.models import Sum
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from smartaccounts.models import SmartAccount
from smartaccounts.signals import virtual_account_deleting, virtual_account_holdings_requested


@receiver(post_save, sender=SmartAccount, dispatch_uid="licensing.deposit_held_orders_on_activation")
def deposit_held_orders_on_activation(sender, instance: SmartAccount, created: bool, update_fields=None, **kwargs):
    if instance.status != SmartAccount.Status.ACTIVE or created:
        return
    if update_fields is not None and "status" not in update_fields:
        return
    from .models import Order
    from .services import deposit_held_orders

    if Order.objects.filter(smart_account=instance).exclude(status=Order.Status.DEPOSITED).exists():
        deposit_held_orders(smart_account=instance)


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


@receiver(virtual_account_holdings_requested, dispatch_uid="licensing.virtual_account_holdings")
def virtual_account_holdings(sender, virtual_account, **kwargs) -> list[str]:
    """What licensing still keeps in the VA, in words: licenses, product instances, active registration
    tokens, orders waiting to be deposited (empty: nothing stops its deletion)."""
    from .models import LicenseLot, Order, ProductInstance, RegistrationToken

    held = []
    mine = {"smart_account_id": virtual_account.smart_account_id, "virtual_account": virtual_account}
    licenses = LicenseLot.objects.filter(**mine, quantity__gt=0).aggregate(n=Sum("quantity"))["n"] or 0
    if licenses:
        held.append(_plural(licenses, "license"))
    instances = ProductInstance.objects.filter(**mine).exclude(status=ProductInstance.Status.REMOVED).count()
    if instances:
        held.append(_plural(instances, "product instance"))
    tokens = RegistrationToken.objects.filter(**mine, revoked_at__isnull=True, expires_at__gt=timezone.now()).count()
    if tokens:
        held.append(_plural(tokens, "active registration token"))
    orders = Order.objects.filter(**mine).exclude(status=Order.Status.DEPOSITED).count()
    if orders:
        held.append(_plural(orders, "order waiting to be deposited", "orders waiting to be deposited"))
    return held


@receiver(virtual_account_deleting, dispatch_uid="licensing.delete_balances_of_deleted_virtual_account")
def delete_balances_of_deleted_virtual_account(sender, virtual_account, **kwargs) -> None:
    """The VA holds nothing (checked above), so its balance rows are all zero: they go with it."""
    from .models import LicenseBalance

    LicenseBalance.objects.filter(virtual_account=virtual_account).delete()
