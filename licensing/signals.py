"""Orders waiting on Smart Account hold are deposited as soon as their account becomes active.

The account's status changes in smartaccounts (approval of a Partner Holding account by staff,
or any other save that makes it active); this receiver runs in that same transaction, so an
approval and the deposits it releases commit together.
"""

from __future__ import annotations

from django.db.models.signals import post_save
from django.dispatch import receiver

from smartaccounts.models import SmartAccount


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
