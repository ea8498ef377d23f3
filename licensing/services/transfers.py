"""Licensing services: transfers of licenses and of product instances between Virtual Accounts."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from policy.deadlines import refresh_reporting_deadlines
from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.params import MAX_ID, parse_whole_number
from smartaccounts.selectors import live_virtual_accounts, virtual_accounts_for
from smartaccounts.services import record_event, record_events, require_va_role, require_va_roles

from .. import ledger
from ..models import License, ProductInstance

__all__ = ["transfer_licenses", "transfer_product_instances", "validate_quantity"]


def validate_quantity(quantity) -> int:
    """A positive whole number of licenses (an int, or ASCII digits in a string), else a ValidationError on
    `quantity`."""
    if isinstance(quantity, str):
        quantity = parse_whole_number(quantity, maximum=MAX_ID)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationError({"quantity": "Enter a whole number of licenses above 0."})
    return quantity


def _live(virtual_account: VirtualAccount, role: str) -> VirtualAccount:
    va = live_virtual_accounts().select_related("smart_account").filter(pk=virtual_account.pk).first()
    if va is None:
        raise ValidationError({role: f"The Virtual Account {virtual_account.name} no longer exists."})
    return va


_VA_FIELDS = ("smart_account", "name", "tree_id", "lft", "rght")


def _live_pair(source: VirtualAccount, target: VirtualAccount) -> tuple[VirtualAccount, VirtualAccount]:
    """Both VAs as they are now, in one query (what a transfer reads of them: the account, the name
    and the tree position); a deleted one is refused, the source first."""
    fresh = {va.pk: va for va in live_virtual_accounts().filter(pk__in=[source.pk, target.pk]).only(*_VA_FIELDS)}
    for va, role in ((source, "source"), (target, "target")):
        if va.pk not in fresh:
            raise ValidationError({role: f"The Virtual Account {va.name} no longer exists."})
    return fresh[source.pk], fresh[target.pk]


@transaction.atomic
def transfer_licenses(
    *, actor, source: VirtualAccount, target: VirtualAccount, license: License, quantity: int
) -> uuid.UUID:
    """Move `quantity` available licenses from `source` to `target` (same account). Returns the movement id.

    The actor operates on both VAs. Only licenses neither in use nor reserved can leave; the
    refusal names how many are available. Lots keep their term and source, taken longest term first.
    Both balance rows are locked in primary-key order, so concurrent transfers never deadlock; the
    account's total of the license does not change (see `ledger.move_between_vas`), so transfers of
    different licenses never wait on each other.
    """
    quantity = validate_quantity(quantity)
    source, target = _live_pair(source, target)
    if source.smart_account_id != target.smart_account_id:
        raise ValidationError({"target": "Licenses move between Virtual Accounts of one Smart Account only."})
    if source.pk == target.pk:
        raise ValidationError({"target": "Choose a Virtual Account other than the one the licenses are in."})
    require_va_roles(actor, [source, target], "operate")
    account_id = source.smart_account_id
    balances = ledger.lock_balances(
        [(account_id, source.pk, license.pk), (account_id, target.pk, license.pk)], totals=False
    )
    from_balance, to_balance = balances[(source.pk, license.pk)], balances[(target.pk, license.pk)]
    if quantity > from_balance.available:
        raise ValidationError(
            {
                "quantity": f"Only {from_balance.available} {license.name} "
                f"licen{'se is' if from_balance.available == 1 else 'ses are'} available in {source.name} "
                f"(purchased {from_balance.purchased}, in use {from_balance.in_use}, "
                f"reserved {from_balance.reserved})."
            }
        )
    movement = ledger.new_movement()
    note = f"{source.name} → {target.name}"
    ledger.move_between_vas(
        source=from_balance, target=to_balance, quantity=quantity, movement=movement, actor=actor, note=note
    )
    details = {
        "license": license.tag,
        "quantity": quantity,
        "from": source.name,
        "to": target.name,
        "movement": str(movement),
    }
    message = f"{actor.email} transferred {quantity} × {license.name} from {source.name} to {target.name}."
    record_events(
        actor=actor,
        smart_account_id=account_id,
        actions=[(source, "license.transferred"), (target, "license.received")],
        message=message,
        details=details,
    )
    return movement


@transaction.atomic
def transfer_product_instances(*, actor, product_instances: Iterable[ProductInstance], target: VirtualAccount) -> int:
    """Move product instances (all of one account) to `target`, with the licenses they use. Returns how many moved.

    The actor operates on the target and on every VA an instance leaves. Instances are locked
    (primary-key order) before the balances their usage moves between. Removed instances and
    instances holding a license reservation stay where they are (refused with a message). Their
    open reporting alerts move to the target in the same transaction.
    """
    ids = sorted({i.pk for i in product_instances})
    if not ids:
        raise ValidationError("Choose at least one product instance to transfer.")
    target = _live(target, "target")
    account: SmartAccount = target.smart_account
    if account.is_partner_holding:
        raise ValidationError({"target": "Product instances cannot live in a Partner Holding account."})
    require_va_role(actor, target, "operate")
    locked = ledger.lock_instances(ids)
    if len(locked) != len(ids) or any(i.smart_account_id != account.pk for i in locked.values()):
        raise ValidationError({"target": f"Product instances move within {account.name} only."})
    for instance in locked.values():
        if instance.status == ProductInstance.Status.REMOVED:
            raise ValidationError(f"{instance} has been removed; it cannot be transferred.")
        if instance.status == ProductInstance.Status.RESERVED:
            raise ValidationError(
                f"{instance} holds a license reservation. Move reserved devices with their reservation "
                "(update or rehost it on the Reservations page)."
            )
    moving = [i for i in locked.values() if i.virtual_account_id != target.pk]
    if not moving:
        return 0
    sources = {i.virtual_account_id for i in moving}
    allowed = set(
        virtual_accounts_for(actor, account, "operate").filter(pk__in=sources).values_list("pk", flat=True)
    )  # fmt: skip
    if sources - allowed:
        names = ", ".join(
            sorted(VirtualAccount.objects.filter(pk__in=sources - allowed).values_list("name", flat=True))
        )
        raise ValidationError(f"You need the User role on {names} to move its product instances.")
    ledger.move_instance_usage(moving, target)
    ProductInstance.objects.filter(pk__in=[i.pk for i in moving]).update(virtual_account=target)
    refresh_reporting_deadlines(instance_ids=[i.pk for i in moving])
    source_vas = {va.pk: va for va in VirtualAccount.objects.filter(pk__in=sources)}
    for source_id in sorted(sources):
        from_here = [i for i in moving if i.virtual_account_id == source_id]
        source = source_vas[source_id]
        udis = [i.udi for i in from_here]
        message = (
            f"{actor.email} moved {len(from_here)} product instance{'s' if len(from_here) != 1 else ''} "
            f"from {source.name} to {target.name}"
            + (
                f": {', '.join(str(i) for i in from_here[:5])}{' …' if len(from_here) > 5 else ''}."
                if from_here
                else "."
            )
        )
        details = {"from": source.name, "to": target.name, "count": len(from_here), "udis": udis[:200]}
        for va, action in ((source, "instance.transferred"), (target, "instance.received")):
            record_event(
                actor=actor, smart_account=account, virtual_account=va, action=action, message=message, details=details
            )
    return len(moving)
