"""Virtual Account tree writes, serialised per Smart Account.

django-mptt computes every insert and move from lft/rght values it read earlier, so two
concurrent writers corrupt a tree. Each service here takes the account's tree lock first
(`locks.lock_account_tree`: a PostgreSQL advisory lock held to the end of the transaction),
then re-reads the nodes it works on. The Django admin's drag-and-drop goes through these too.

Who may change the tree:
- create a top-level VA, make a VA the default: an Admin of the account;
- create a child: an Admin over the parent (on the account, the parent or an ancestor);
- rename: an Admin over the VA;
- move: an Admin over the VA's current parent and over the new parent (the account for the top level);
- delete: an Admin over its parent (the account for a top-level VA), and only when it holds nothing.
Staff may do it from the admin with the matching permission on Virtual Accounts: add to create,
change to rename, move or make the default, delete to delete.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import selectors
from ..locks import lock_account_tree
from ..models import ApiClient, SmartAccount, User, VirtualAccount, VirtualAccountUserObjectPermission
from ..signals import virtual_account_deleting, virtual_account_holdings_requested
from .events import is_operator, record_event, require_account_role, require_va_role

__all__ = [
    "create_virtual_account",
    "rename_virtual_account",
    "move_virtual_account",
    "delete_virtual_account",
    "set_default_virtual_account",
    "virtual_account_holdings",
]

ADD_PERMISSION = "smartaccounts.add_virtualaccount"
TREE_PERMISSION = "smartaccounts.change_virtualaccount"
DELETE_PERMISSION = "smartaccounts.delete_virtualaccount"


def _fresh(virtual_account: VirtualAccount) -> VirtualAccount:
    """Re-read a VA after taking the tree lock: django-mptt computes moves from in-memory lft/rght."""
    return VirtualAccount.objects.select_related("smart_account", "parent").get(pk=virtual_account.pk)


def _require_tree_admin(
    actor: User, smart_account: SmartAccount, parent: VirtualAccount | None, permission: str = TREE_PERMISSION
) -> None:
    """Top-level changes need an account Admin; changes under `parent` need an Admin over the parent
    (or staff with `permission`)."""
    if is_operator(actor, permission):
        return
    if parent is None:
        require_account_role(actor, smart_account, "admin")
    else:
        require_va_role(actor, parent, "admin")


def _require_live(va: VirtualAccount) -> None:
    if va.is_deleted:
        raise ValidationError(f"The Virtual Account {va.name} has been deleted.")


def _validate_va_name(smart_account: SmartAccount, name: str, exclude_pk: int | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Give the Virtual Account a name."})
    if len(name) > 100:
        raise ValidationError({"name": "Keep the name to 100 characters or fewer."})
    clash = selectors.live_virtual_accounts().filter(smart_account=smart_account, name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationError({"name": f"{smart_account.name} already has a Virtual Account named “{name}”."})
    return name


@transaction.atomic
def create_virtual_account(
    *, actor: User, smart_account: SmartAccount, name: str, parent: VirtualAccount | None = None, description: str = ""
) -> VirtualAccount:
    """Create a VA at the top level or under `parent` (same account). Limited use accounts keep only the default VA."""
    _require_tree_admin(actor, smart_account, parent, ADD_PERMISSION)
    if smart_account.kind == SmartAccount.Kind.LIMITED_USE:
        raise ValidationError(
            "Limited Use accounts have only the default Virtual Account. Ask staff to convert the account to a "
            "Customer account once your company has its own e-mail domain."
        )
    lock_account_tree(smart_account.pk)
    if parent is not None:
        parent = _fresh(parent)
        if parent.smart_account_id != smart_account.pk or parent.is_deleted:
            raise ValidationError({"parent": "The parent must be a Virtual Account of the same Smart Account."})
    name = _validate_va_name(smart_account, name)
    va = VirtualAccount(smart_account=smart_account, parent=parent, name=name, description=(description or "").strip())
    va.save()
    record_event(
        actor=actor,
        smart_account=smart_account,
        virtual_account=va,
        action="va.created",
        message=f"{actor.email} created the Virtual Account {va.name}" + (f" under {parent.name}." if parent else "."),
        details={"parent": parent.pk if parent else None, "parent_name": parent.name if parent else None},
    )
    return va


@transaction.atomic
def rename_virtual_account(
    *, actor: User, virtual_account: VirtualAccount, name: str, description: str | None = None
) -> VirtualAccount:
    """Rename a VA (and optionally change its description); the name stays unique in the account."""
    if not is_operator(actor, TREE_PERMISSION):
        require_va_role(actor, virtual_account, "admin")
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    _require_live(va)
    old_name = va.name
    new_name = _validate_va_name(va.smart_account, name, exclude_pk=va.pk)
    fields = {"name": new_name}
    if description is not None:
        fields["description"] = description.strip()
    VirtualAccount.objects.filter(pk=va.pk).update(**fields)
    va.refresh_from_db()
    if old_name != new_name:
        record_event(
            actor=actor,
            smart_account=va.smart_account,
            virtual_account=va,
            action="va.renamed",
            message=f"{actor.email} renamed the Virtual Account {old_name} to {new_name}.",
            details={"from": old_name, "to": new_name},
        )
    elif description is not None and description.strip() != virtual_account.description:
        record_event(
            actor=actor,
            smart_account=va.smart_account,
            virtual_account=va,
            action="va.updated",
            message=f"{actor.email} changed the description of {va.name}.",
        )
    virtual_account.name = va.name
    virtual_account.description = va.description
    return va


@transaction.atomic
def move_virtual_account(*, actor: User, virtual_account: VirtualAccount, parent: VirtualAccount | None):
    """Move a VA (with its subtree) under another VA of the same account, or to the top level (`parent=None`).

    Refused under the VA itself or one of its descendants, and into another account.
    """
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    _require_live(va)
    _require_tree_admin(actor, va.smart_account, va.parent)
    old_parent_name = va.parent.name if va.parent_id else None
    if parent is not None:
        parent = _fresh(parent)
        if parent.smart_account_id != va.smart_account_id or parent.is_deleted:
            raise ValidationError({"parent": "A Virtual Account can only move within its own Smart Account."})
        _require_tree_admin(actor, va.smart_account, parent)
        if parent.pk == va.pk or (parent.tree_id == va.tree_id and va.lft <= parent.lft and parent.rght <= va.rght):
            raise ValidationError({"parent": f"{va.name} cannot move under itself or one of its own descendants."})
        if va.parent_id == parent.pk:
            return va
        va.move_to(parent, "last-child")
    else:
        _require_tree_admin(actor, va.smart_account, None)
        if va.parent_id is None:
            return va
        va.move_to(None)
    va = _fresh(va)
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="va.moved",
        message=f"{actor.email} moved {va.name} from {old_parent_name or 'the top level'} "
        f"to {parent.name if parent else 'the top level'}.",
        details={"from": old_parent_name, "to": parent.name if parent else None},
    )
    return va


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def virtual_account_holdings(virtual_account: VirtualAccount) -> list[str]:
    """What a VA still holds, in words; empty when it can be deleted.

    Its live children and API clients (revoke them first), then what the other apps report through
    `virtual_account_holdings_requested` (licensing: licenses, product instances, active tokens, orders
    waiting to be deposited).
    """
    held = []
    children = (
        selectors.live_virtual_accounts()
        .filter(smart_account_id=virtual_account.smart_account_id, parent=virtual_account)
        .count()
    )
    if children:
        held.append(_plural(children, "child Virtual Account"))
    clients = ApiClient.objects.filter(
        smart_account_id=virtual_account.smart_account_id, virtual_account=virtual_account, revoked_at__isnull=True
    ).count()
    if clients:
        held.append(_plural(clients, "API client"))
    for _, holdings in virtual_account_holdings_requested.send(sender=VirtualAccount, virtual_account=virtual_account):
        held.extend(holdings or [])
    return held


@transaction.atomic
def delete_virtual_account(*, actor: User, virtual_account: VirtualAccount) -> None:
    """Delete an empty VA: no children, licenses, product instances, active tokens or pending orders; never the default.

    The row stays (ledger entries, removed devices and events point at it) but leaves the tree,
    every selector and its name; roles on it end and pending invitations to it are cancelled.
    """
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    _require_live(va)
    _require_tree_admin(actor, va.smart_account, va.parent, DELETE_PERMISSION)
    if va.is_default:
        raise ValidationError(
            f"{va.name} is the default Virtual Account. Make another Virtual Account the default first."
        )
    held = virtual_account_holdings(va)
    if held:
        raise ValidationError(f"{va.name} cannot be deleted: it still holds {', '.join(held)}.")
    revoked = list(
        VirtualAccountUserObjectPermission.objects.filter(content_object=va).values_list("user__email", flat=True)
    )
    VirtualAccountUserObjectPermission.objects.filter(content_object=va).delete()
    va.invitations.filter(status="pending").update(status="cancelled")
    virtual_account_deleting.send(sender=VirtualAccount, virtual_account=va)
    parent_name = va.parent.name if va.parent_id else None
    if va.parent_id is not None:
        va.move_to(None)
    VirtualAccount.objects.filter(pk=va.pk).update(deleted_at=timezone.now())
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="va.deleted",
        message=f"{actor.email} deleted the Virtual Account {va.name}"
        + (f" (under {parent_name})." if parent_name else "."),
        details={"parent_name": parent_name, "roles_ended": revoked},
    )
    virtual_account.deleted_at = timezone.now()


@transaction.atomic
def set_default_virtual_account(*, actor: User, virtual_account: VirtualAccount) -> VirtualAccount:
    """Make another VA the account's default (where orders without a VA are deposited). Account Admins only."""
    if not is_operator(actor, TREE_PERMISSION):
        require_account_role(actor, virtual_account.smart_account, "admin")
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    if va.is_deleted:
        raise ValidationError("A deleted Virtual Account cannot become the default.")
    if va.is_default:
        return va
    previous = VirtualAccount.objects.filter(smart_account_id=va.smart_account_id, is_default=True).first()
    VirtualAccount.objects.filter(smart_account_id=va.smart_account_id, is_default=True).update(is_default=False)
    VirtualAccount.objects.filter(pk=va.pk).update(is_default=True)
    va.refresh_from_db()
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="va.default_changed",
        message=f"{actor.email} made {va.name} the default Virtual Account"
        + (f" instead of {previous.name}." if previous else "."),
        details={"previous": previous.name if previous else None},
    )
    virtual_account.is_default = True
    return va
