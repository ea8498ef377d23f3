"""Every write to Smart Accounts, Virtual Accounts, roles and the event log.

Services are keyword-only and atomic. A broken rule raises ValidationError with a message a
person can act on; missing rights raise PermissionDenied. Each service records its event.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from . import selectors
from .domains import is_public_email_domain, is_same_or_parent_domain, is_valid_domain_name
from .locks import lock_account_tree
from .models import (
    Event,
    Role,
    SmartAccount,
    SmartAccountUserObjectPermission,
    User,
    VirtualAccount,
    VirtualAccountUserObjectPermission,
)

logger = logging.getLogger(__name__)

DEFAULT_VA_NAME = "DEFAULT"


# --- Event log ---------------------------------------------------------------------------------


def record_event(
    *,
    actor: User | None,
    smart_account: SmartAccount | None,
    action: str,
    message: str,
    virtual_account: VirtualAccount | None = None,
    details: dict[str, Any] | None = None,
) -> Event:
    """Append one entry to the event log. Every service that changes state calls this."""
    return Event.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        smart_account=smart_account,
        virtual_account=virtual_account,
        virtual_account_name=virtual_account.name if virtual_account else "",
        action=action,
        message=message[:1000],
        details=details or {},
    )


def notify(*, subject: str, message: str, recipients: list[str]) -> None:
    """Send an e-mail after the transaction commits, so a rolled-back change never mails anyone."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return

    def _send():
        try:
            send_mail(subject, message, settings.DEFAULT_FROM_EMAIL, recipients)
        except Exception:  # a mail server outage must not undo a committed change
            logger.exception("Could not send %r to %s", subject, recipients)

    transaction.on_commit(_send)


def account_admin_emails(smart_account: SmartAccount) -> list[str]:
    return list(
        SmartAccountUserObjectPermission.objects.filter(
            content_object=smart_account, permission__codename=Role.ADMIN.codename, user__is_active=True
        ).values_list("user__email", flat=True)
    )


# --- Permission checks used by services ----------------------------------------------------------


def require_account_role(actor: User, smart_account: SmartAccount, action: str) -> None:
    """The actor must hold a role on the account itself that allows `action`."""
    role = selectors.account_role(actor, smart_account)
    if role is None or not role.allows(action):
        raise PermissionDenied(f"You need the {Role.for_action(action)[-1].label} role on {smart_account.name}.")


def require_va_role(actor: User, virtual_account: VirtualAccount, action: str) -> None:
    """The actor must hold a role allowing `action` on the VA, an ancestor of it, or its account."""
    role = selectors.effective_role(actor, virtual_account)
    if role is None or not role.allows(action):
        raise PermissionDenied(
            f"You need the {Role.for_action(action)[-1].label} role on {virtual_account.name} to do this."
        )


# --- Smart Accounts ------------------------------------------------------------------------------


def _normalise_domain(domain: str) -> str:
    return (domain or "").strip().lower().strip(".")


def validate_account_domain(*, creator: User, domain: str, kind: str) -> str:
    """Check the domain identifier rules for a new account and return the normalised identifier."""
    email_domain = creator.email_domain
    if kind == SmartAccount.Kind.LIMITED_USE:
        if not is_public_email_domain(email_domain):
            raise ValidationError(
                f"Limited Use accounts are for people on public e-mail providers. Your address is at "
                f"{email_domain}: request a Customer account for {email_domain} instead."
            )
        # The identifier of a limited use account is its creator's e-mail address.
        if domain and _normalise_domain(domain) != creator.email:
            raise ValidationError(
                {"domain": f"A Limited Use account's domain identifier is your e-mail address, {creator.email}."}
            )
        return creator.email

    domain = _normalise_domain(domain)
    if not is_valid_domain_name(domain):
        raise ValidationError({"domain": f"“{domain}” is not a domain name such as example.com."})
    if is_public_email_domain(domain) or is_public_email_domain(email_domain):
        raise ValidationError(
            {
                "domain": f"{domain if is_public_email_domain(domain) else email_domain} is a public e-mail provider, "
                "so it cannot identify a company. Request a Limited Use account instead: it is made for "
                "businesses without their own e-mail domain."
            }
        )
    if creator.is_staff:
        return domain  # operators create accounts on a customer's behalf
    if kind == SmartAccount.Kind.CUSTOMER and not is_same_or_parent_domain(domain, email_domain):
        raise ValidationError(
            {
                "domain": f"A Customer account's domain must be your e-mail domain ({email_domain}) or a parent of it. "
                f"Ask someone with an address at {domain} to request it."
            }
        )
    if kind == SmartAccount.Kind.PARTNER_HOLDING:
        # A partner may also own a Customer account for its own domain, so a holding account may use a
        # name under it (holding.partner.com) as well as the domain itself.
        labels = email_domain.split(".")
        company_domains = [".".join(labels[i:]) for i in range(len(labels) - 1)]
        if not any(domain == d or domain.endswith("." + d) for d in company_domains):
            raise ValidationError(
                {
                    "domain": f"A Partner Holding account's domain must be your e-mail domain ({email_domain}), "
                    f"a parent of it, or a name under one of them such as holding.{email_domain}."
                }
            )
    return domain


@transaction.atomic
def create_smart_account(*, creator: User, name: str, domain: str, kind: str) -> SmartAccount:
    """Create an account and its default VA in one transaction; the creator becomes its Admin.

    Partner holding accounts start pending until staff approve them.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Give the account a name, such as the company's name."})
    if kind not in SmartAccount.Kind.values:
        raise ValidationError({"kind": "Choose Customer, Partner Holding or Limited Use."})
    identifier = validate_account_domain(creator=creator, domain=domain, kind=kind)
    if SmartAccount.objects.filter(domain__iexact=identifier).exists():
        raise ValidationError(
            {"domain": f"An account for {identifier} already exists. Request access to it instead of creating another."}
        )
    account = SmartAccount(
        name=name,
        domain=identifier,
        kind=kind,
        status=SmartAccount.Status.PENDING if kind == SmartAccount.Kind.PARTNER_HOLDING else SmartAccount.Status.ACTIVE,
        created_by=creator,
    )
    account.full_clean()
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        raise ValidationError(
            {"domain": f"An account for {identifier} already exists. Request access to it instead of creating another."}
        ) from None
    lock_account_tree(account.pk)
    default_va = VirtualAccount(smart_account=account, name=DEFAULT_VA_NAME, is_default=True)
    default_va.save()
    _grant(creator, Role.ADMIN, account)
    record_event(
        actor=creator,
        smart_account=account,
        virtual_account=default_va,
        action="account.created",
        message=f"{creator.email} created the {account.get_kind_display()} account {account.name} ({account.domain}).",
        details={"kind": kind, "domain": account.domain, "status": account.status},
    )
    if account.status == SmartAccount.Status.PENDING:
        notify(
            subject=f"Partner Holding account requested: {account.name}",
            message=f"{creator.email} requested the Partner Holding account {account.name} ({account.domain}). "
            "Approve it in the admin: "
            f"{settings.PORTAL_BASE_URL}/admin/smartaccounts/smartaccount/{account.pk}/change/",
            recipients=list(User.objects.filter(is_staff=True, is_active=True).values_list("email", flat=True)),
        )
    return account


@transaction.atomic
def approve_smart_account(*, actor: User, smart_account: SmartAccount) -> SmartAccount:
    """Staff approve a pending (partner holding) account; the requester is e-mailed."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied("Only staff can approve accounts.")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    if account.status != SmartAccount.Status.PENDING:
        raise ValidationError(f"{account.name} is already active.")
    account.status = SmartAccount.Status.ACTIVE
    account.approved_by = actor
    account.approved_at = timezone.now()
    account.save(update_fields=["status", "approved_by", "approved_at"])
    record_event(
        actor=actor,
        smart_account=account,
        action="account.approved",
        message=f"{actor.email} approved the account {account.name}.",
    )
    if account.created_by:
        notify(
            subject=f"Your Smart Account {account.name} is approved",
            message=f"The {account.get_kind_display()} account {account.name} ({account.domain}) is now active.\n"
            f"{settings.PORTAL_BASE_URL}/accounts/{account.pk}/",
            recipients=[account.created_by.email],
        )
    smart_account.status = account.status
    smart_account.approved_by = actor
    smart_account.approved_at = account.approved_at
    return account


@transaction.atomic
def update_account_properties(
    *, actor: User, smart_account: SmartAccount, name: str, headquarters_address: str, visibility: str
) -> SmartAccount:
    """Admins edit the account's name, headquarters address and visibility."""
    require_account_role(actor, smart_account, "admin")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    before = {
        "name": account.name,
        "headquarters_address": account.headquarters_address,
        "visibility": account.visibility,
    }
    account.name = (name or "").strip()
    account.headquarters_address = headquarters_address or ""
    account.visibility = visibility
    account.full_clean()
    account.save(update_fields=["name", "headquarters_address", "visibility"])
    after = {
        "name": account.name,
        "headquarters_address": account.headquarters_address,
        "visibility": account.visibility,
    }
    changed = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
    if changed:
        record_event(
            actor=actor,
            smart_account=account,
            action="account.updated",
            message=f"{actor.email} changed the account properties: {', '.join(changed)}.",
            details={"changed": changed},
        )
    return account


@transaction.atomic
def set_license_reservation(*, actor: User, smart_account: SmartAccount, enabled: bool) -> SmartAccount:
    """Staff switch license reservation on or off; never for limited use or partner holding accounts."""
    if not (actor.is_active and actor.is_staff):
        raise PermissionDenied("Only staff can change whether an account may reserve licenses.")
    account = SmartAccount.objects.select_for_update().get(pk=smart_account.pk)
    if enabled and account.kind != SmartAccount.Kind.CUSTOMER:
        raise ValidationError(
            f"License reservation is only for Customer accounts; "
            f"{account.name} is a {account.get_kind_display()} account."
        )
    if account.license_reservation_enabled == enabled:
        return account
    account.license_reservation_enabled = enabled
    account.save(update_fields=["license_reservation_enabled"])
    record_event(
        actor=actor,
        smart_account=account,
        action="account.reservation_enabled" if enabled else "account.reservation_disabled",
        message=f"{actor.email} {'enabled' if enabled else 'disabled'} license reservation.",
    )
    return account


# --- Virtual Accounts --------------------------------------------------------------------------


def _fresh(virtual_account: VirtualAccount) -> VirtualAccount:
    """Re-read a VA after taking the tree lock: django-mptt computes moves from in-memory lft/rght."""
    return VirtualAccount.objects.select_related("smart_account").get(pk=virtual_account.pk)


def _require_tree_admin(actor: User, smart_account: SmartAccount, parent: VirtualAccount | None) -> None:
    """Top-level VAs need an account Admin; children need an Admin over the parent."""
    if parent is None:
        require_account_role(actor, smart_account, "admin")
    else:
        require_va_role(actor, parent, "admin")


def _validate_va_name(smart_account: SmartAccount, name: str, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
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
    _require_tree_admin(actor, smart_account, parent)
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
        details={"parent": parent.pk if parent else None},
    )
    return va


@transaction.atomic
def rename_virtual_account(*, actor: User, virtual_account: VirtualAccount, name: str, description: str | None = None):
    """Rename a VA (and optionally change its description); the name stays unique in the account."""
    require_va_role(actor, virtual_account, "admin")
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
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
    elif description is not None:
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
    """Move a VA (with its subtree) under another VA of the same account, or to the top level (`parent=None`)."""
    require_va_role(actor, virtual_account, "admin")
    _require_tree_admin(actor, virtual_account.smart_account, parent)
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    old_parent_name = va.parent.name if va.parent_id else None
    if parent is not None:
        parent = _fresh(parent)
        if parent.smart_account_id != va.smart_account_id or parent.is_deleted:
            raise ValidationError({"parent": "A Virtual Account can only move within its own Smart Account."})
        if parent.pk == va.pk or (parent.tree_id == va.tree_id and va.lft <= parent.lft and parent.rght <= va.rght):
            raise ValidationError({"parent": f"{va.name} cannot move under itself or one of its own descendants."})
        if va.parent_id == parent.pk:
            return va
        va.move_to(parent, "last-child")
    else:
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


def virtual_account_holdings(virtual_account: VirtualAccount) -> list[str]:
    """What a VA still holds, in words; empty when it can be deleted."""
    from licensing.models import LicenseLot, ProductInstance, RegistrationToken

    held = []
    children = selectors.live_virtual_accounts().filter(parent=virtual_account).count()
    if children:
        held.append(f"{children} child Virtual Account{'s' if children != 1 else ''}")
    licenses = sum(
        LicenseLot.objects.filter(virtual_account=virtual_account, quantity__gt=0).values_list("quantity", flat=True)
    )
    if licenses:
        held.append(f"{licenses} license{'s' if licenses != 1 else ''}")
    instances = ProductInstance.objects.filter(virtual_account=virtual_account).exclude(status="removed").count()
    if instances:
        held.append(f"{instances} product instance{'s' if instances != 1 else ''}")
    tokens = RegistrationToken.objects.filter(
        virtual_account=virtual_account, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).count()
    if tokens:
        held.append(f"{tokens} active registration token{'s' if tokens != 1 else ''}")
    return held


@transaction.atomic
def delete_virtual_account(*, actor: User, virtual_account: VirtualAccount) -> None:
    """Delete an empty VA: no children, licenses, product instances or active tokens; never the default."""
    require_va_role(actor, virtual_account, "admin")
    if virtual_account.parent_id is None:
        require_account_role(actor, virtual_account.smart_account, "admin")
    lock_account_tree(virtual_account.smart_account_id)
    va = _fresh(virtual_account)
    if va.is_default:
        raise ValidationError(
            f"{va.name} is the default Virtual Account. Make another Virtual Account the default first."
        )
    held = virtual_account_holdings(va)
    if held:
        raise ValidationError(f"{va.name} cannot be deleted: it still holds {', '.join(held)}.")
    VirtualAccountUserObjectPermission.objects.filter(content_object=va).delete()
    va.invitations.filter(status="pending").update(status="cancelled")
    from licensing.models import LicenseBalance

    LicenseBalance.objects.filter(virtual_account=va).delete()  # all zero: it holds nothing
    # The row stays for the history that points at it; it leaves the tree as a root of its own.
    if va.parent_id is not None:
        va.move_to(None)
    VirtualAccount.objects.filter(pk=va.pk).update(deleted_at=timezone.now())
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="va.deleted",
        message=f"{actor.email} deleted the Virtual Account {va.name}.",
    )


@transaction.atomic
def set_default_virtual_account(*, actor: User, virtual_account: VirtualAccount) -> VirtualAccount:
    """Make another VA the account's default (where orders without a VA are deposited)."""
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
    )
    return va


# --- Roles ---------------------------------------------------------------------------------------


def _grant(user: User, role: Role, obj) -> None:
    """Store `role` as the user's single role on `obj` (a SmartAccount or a VirtualAccount)."""
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


def _require_people_admin(actor: User, smart_account: SmartAccount, virtual_account: VirtualAccount | None) -> None:
    if virtual_account is None:
        require_account_role(actor, smart_account, "admin")
    else:
        require_va_role(actor, virtual_account, "admin")


def _lock_account_row(smart_account: SmartAccount) -> None:
    # Serialises role changes of one account, so two Admins demoting each other cannot leave it with none.
    SmartAccount.objects.select_for_update(no_key=True).filter(pk=smart_account.pk).first()


def _current_role(user: User, smart_account: SmartAccount, virtual_account: VirtualAccount | None) -> Role | None:
    if virtual_account is None:
        grant = SmartAccountUserObjectPermission.objects.filter(user=user, content_object=smart_account)
    else:
        grant = VirtualAccountUserObjectPermission.objects.filter(user=user, content_object=virtual_account)
    codename = grant.values_list("permission__codename", flat=True).first()
    return Role(codename.removeprefix("role_")) if codename else None


def _refuse_last_admin(smart_account: SmartAccount, user: User, virtual_account: VirtualAccount | None, verb: str):
    if virtual_account is not None:
        return
    if _current_role(user, smart_account, None) == Role.ADMIN and selectors.account_admin_count(smart_account) <= 1:
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
    """Give `user` `role` on exactly one scope, replacing the role they held on that scope."""
    account, va = _scope(smart_account, virtual_account)
    role = Role(role)
    _require_people_admin(actor, account, va)
    _lock_account_row(account)
    previous = _current_role(user, account, va)
    if previous == role:
        return
    if previous == Role.ADMIN and role != Role.ADMIN:
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
    _require_people_admin(actor, account, va)
    _lock_account_row(account)
    previous = _current_role(user, account, va)
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
