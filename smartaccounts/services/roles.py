"""Roles: Admin, User and Viewer on a Smart Account or on a Virtual Account (and its descendants).

Who manages roles: an Admin of the account manages every role in it. An Admin on a Virtual
Account manages the roles on that VA and its descendants (never account-wide roles). Staff
with the change permission on Smart Accounts may manage any account's roles from the admin.
An account always keeps at least one Admin.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from guardian.shortcuts import assign_perm

from .. import selectors
from ..models import (
    Role,
    SmartAccount,
    SmartAccountUserObjectPermission,
    User,
    VirtualAccount,
    VirtualAccountUserObjectPermission,
)
from .events import is_operator, record_event, require_account_role, require_va_role, require_verified_email

__all__ = ["assign_role", "revoke_role", "remove_member", "require_people_admin", "role_on_scope", "scope_label"]

ROLES_PERMISSION = "smartaccounts.change_smartaccount"


def _grant(user: User, role: Role, obj) -> None:
    """Store `role` as the user's single role on `obj` (a SmartAccount or a VirtualAccount). No checks, no event."""
    model = SmartAccountUserObjectPermission if isinstance(obj, SmartAccount) else VirtualAccountUserObjectPermission
    model.objects.filter(user=user, content_object=obj).delete()
    assign_perm(f"{obj._meta.app_label}.{role.codename}", user, obj)


def _scope(smart_account, virtual_account) -> tuple[SmartAccount, VirtualAccount | None]:
    if (smart_account is None) == (virtual_account is None):
        raise ValueError("Give exactly one scope: smart_account or virtual_account.")
    if virtual_account is not None:
        if virtual_account.is_deleted:
            raise ValidationError("That Virtual Account has been deleted.")
        return virtual_account.smart_account, virtual_account
    return smart_account, None


def scope_label(virtual_account: VirtualAccount | None) -> str:
    return f"the Virtual Account {virtual_account.name}" if virtual_account else "the entire account"


def require_people_admin(actor: User, smart_account: SmartAccount, virtual_account: VirtualAccount | None) -> None:
    """Account-wide roles need an account Admin; a VA's roles need an Admin over that VA."""
    if is_operator(actor, ROLES_PERMISSION):
        return
    if virtual_account is None:
        require_account_role(actor, smart_account, "admin")
    else:
        require_va_role(actor, virtual_account, "admin")


def _lock_account_row(smart_account: SmartAccount) -> None:
    # Serialises role changes of one account, so two Admins demoting each other cannot leave it with none.
    SmartAccount.objects.select_for_update(no_key=True).filter(pk=smart_account.pk).first()


def role_on_scope(user: User, smart_account: SmartAccount, virtual_account: VirtualAccount | None) -> Role | None:
    """The role `user` holds on exactly this scope (not inherited)."""
    if virtual_account is None:
        grant = SmartAccountUserObjectPermission.objects.filter(user=user, content_object=smart_account)
    else:
        grant = VirtualAccountUserObjectPermission.objects.filter(user=user, content_object=virtual_account)
    codename = grant.values_list("permission__codename", flat=True).first()
    return Role(codename.removeprefix("role_")) if codename else None


def _refuse_last_admin(smart_account: SmartAccount, user: User, virtual_account: VirtualAccount | None, verb: str):
    if virtual_account is not None:
        return
    if role_on_scope(user, smart_account, None) == Role.ADMIN and selectors.account_admin_count(smart_account) <= 1:
        raise ValidationError(
            f"{user.email} is the last Admin of {smart_account.name} and cannot be {verb}. "
            "Make someone else an Admin of the account first."
        )


@transaction.atomic
def assign_role(
    *,
    actor: User,
    user: User,
    role: str,
    smart_account: SmartAccount | None = None,
    virtual_account: VirtualAccount | None = None,
) -> None:
    """Give `user` `role` on exactly one scope, replacing the role they held on that scope.

    The user's e-mail address must be confirmed; demoting the last Admin is refused.
    """
    account, va = _scope(smart_account, virtual_account)
    try:
        role = Role(role)
    except ValueError:
        raise ValidationError({"role": "Choose Admin, User or Viewer."}) from None
    require_people_admin(actor, account, va)
    require_verified_email(user, who="them")
    if not user.is_active:
        raise ValidationError(f"{user.email} is deactivated.")
    _lock_account_row(account)
    previous = role_on_scope(user, account, va)
    if previous == role:
        return
    if previous == Role.ADMIN:
        _refuse_last_admin(account, user, va, "demoted")
    _grant(user, role, va or account)
    scope = va.name if va else "the entire account"
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=va,
        action="role.changed" if previous else "role.assigned",
        message=f"{actor.email} {'changed' if previous else 'gave'} {user.email}'s role on {scope} "
        + (f"from {previous.label} to {role.label}." if previous else f"to {role.label}."),
        details={"user": user.email, "role": role.value, "previous": previous.value if previous else None},
    )


@transaction.atomic
def revoke_role(
    *,
    actor: User,
    user: User,
    smart_account: SmartAccount | None = None,
    virtual_account: VirtualAccount | None = None,
) -> None:
    """Take `user`'s role on one scope away. The last Admin of an account keeps theirs."""
    account, va = _scope(smart_account, virtual_account)
    require_people_admin(actor, account, va)
    _lock_account_row(account)
    previous = role_on_scope(user, account, va)
    if previous is None:
        raise ValidationError(f"{user.email} has no role on {va.name if va else account.name}.")
    _refuse_last_admin(account, user, va, "removed")
    model = VirtualAccountUserObjectPermission if va else SmartAccountUserObjectPermission
    model.objects.filter(user=user, content_object=va or account).delete()
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=va,
        action="role.revoked",
        message=f"{actor.email} removed {user.email}'s {previous.label} role on "
        f"{va.name if va else 'the entire account'}.",
        details={"user": user.email, "previous": previous.value},
    )


@transaction.atomic
def remove_member(*, actor: User, user: User, smart_account: SmartAccount) -> int:
    """Take away every role of `user` in the account that `actor` manages (all of them for an account Admin;
    those on the VAs an Admin of some VAs administers), each through `revoke_role`: one refusal (the last
    Admin) keeps them all. Returns how many roles ended."""
    memberships = selectors.memberships_for(actor, smart_account, member_id=user.pk)
    if not memberships:
        raise ValidationError(f"{user.email} has no role in {smart_account.name} that you manage.")
    for membership in memberships:
        if membership.virtual_account is None:
            revoke_role(actor=actor, user=user, smart_account=smart_account)
        else:
            revoke_role(actor=actor, user=user, virtual_account=membership.virtual_account)
    return len(memberships)
