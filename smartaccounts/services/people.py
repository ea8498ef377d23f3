"""Bringing people into an account: adding by e-mail, invitations and access requests.

- Adding an e-mail address always sends an invitation: a signed link that expires after
  INVITATION_MAX_AGE_DAYS. Nobody gets a role in an account without accepting it, and the Admin's
  page answers the same whether or not a login exists for the address (it must not tell who has
  one). A person with a login logs in and accepts; anyone else creates their login on the way.
  Opening the link confirms the address.
- Access requests: a person with a confirmed address asks to join an account of their e-mail
  domain (visible to the domain, active, not Limited Use). Account Admins approve with a role
  and scope, or decline with a reason; the requester is e-mailed either way.
Invitations are managed by whoever may manage roles on their scope (see `roles`); access
requests by the account's Admins.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from .. import selectors
from ..models import AccessRequest, Invitation, Role, SmartAccount, User, VirtualAccount
from ..tokens import invitation_token
from .api_clients import SERVICE_EMAIL_DOMAIN
from .events import (
    account_admin_emails,
    is_operator,
    notify,
    portal_url,
    record_event,
    require_account_role,
    require_verified_email,
)
from .roles import ROLES_PERMISSION, _grant, _lock_account_row, _scope, assign_role, require_people_admin, role_on_scope
from .roles import scope_label as _scope_label

__all__ = [
    "invite_user",
    "login_that_can_sign_in",
    "resend_invitation",
    "cancel_invitation",
    "accept_invitation",
    "request_access",
    "approve_access_request",
    "decline_access_request",
]


def _normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"“{email}” is not an e-mail address."}) from None
    if email.endswith("@" + SERVICE_EMAIL_DOMAIN):  # API clients' service identities
        raise ValidationError({"email": "That address belongs to an API client: manage it on the API clients page."})
    return email


def _role(role: str) -> Role:
    try:
        return Role(role)
    except ValueError:
        raise ValidationError({"role": "Choose Admin, User or Viewer."}) from None


# --- Adding people -------------------------------------------------------------------------------


def login_that_can_sign_in(email: str) -> User | None:
    """The login of `email` when its owner can sign in with it (a password is set), else None.

    A self sign-up that never opened its confirmation link has no password yet: an invitation
    link lets its owner choose one, as the confirmation link would have.
    """
    user = User.objects.filter(email__iexact=email).first()
    return user if user is not None and user.has_usable_password() else None


def _send_invitation(invitation: Invitation) -> None:
    """E-mail the link. The text tells a person with a login to log in and accept (only they read it)."""
    link = portal_url(reverse("invitation_accept", args=[invitation_token(invitation)]))
    notify(
        subject=f"{invitation.invited_by.email} invited you to {invitation.smart_account.name} on Smart Accounts",
        message=render_to_string(
            "smartaccounts/email/invitation.txt",
            {
                "invitation": invitation,
                "role": Role(invitation.role),
                "scope": _scope_label(invitation.virtual_account),
                "link": link,
                "has_login": login_that_can_sign_in(invitation.email) is not None,
            },
        ),
        recipients=[invitation.email],
    )


@transaction.atomic
def invite_user(
    *,
    actor: User,
    email: str,
    role: str,
    smart_account: SmartAccount | None = None,
    virtual_account: VirtualAccount | None = None,
) -> Invitation:
    """Add a person by e-mail (the Users page's *Add*): e-mail them a signed link that gives them `role` on
    the scope once they accept it.

    The same for everyone: whether a login exists for the address (or is deactivated, or already has a
    role here) changes neither the answer nor what is written, so the page tells nobody who has a login,
    and nobody gets a role without saying yes. A person with a login logs in and accepts; anyone else
    creates their login from the link.
    """
    account, va = _scope(smart_account, virtual_account)
    require_people_admin(actor, account, va)
    email = _normalise_email(email)
    role = _role(role)
    if Invitation.objects.filter(smart_account=account, email__iexact=email, status="pending").exists():
        raise ValidationError(
            {"email": f"{email} already has a pending invitation to {account.name}. Resend or cancel it instead."}
        )
    invitation = Invitation(email=email, smart_account=account, virtual_account=va, role=role, invited_by=actor)
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        raise ValidationError({"email": f"{email} already has a pending invitation to {account.name}."}) from None
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=va,
        action="invitation.sent",
        message=f"{actor.email} invited {email} as {role.label} on {_scope_label(va)}.",
        details={"email": email, "role": role.value, "invitation": invitation.pk},
    )
    _send_invitation(invitation)
    return invitation


def _locked_pending_invitation(invitation: Invitation) -> Invitation:
    inv = (
        Invitation.objects.select_for_update(of=("self",))
        .select_related("smart_account", "virtual_account", "invited_by")
        .get(pk=invitation.pk)
    )
    if inv.status != Invitation.Status.PENDING:
        raise ValidationError(f"The invitation to {inv.email} is no longer pending: it was {inv.status}.")
    return inv


@transaction.atomic
def resend_invitation(*, actor: User, invitation: Invitation) -> Invitation:
    """Send the invitation again with a fresh link (valid for the full period); earlier links stop working."""
    require_people_admin(actor, invitation.smart_account, invitation.virtual_account)
    inv = _locked_pending_invitation(invitation)
    inv.send_count += 1
    inv.sent_at = timezone.now()
    inv.save(update_fields=["send_count", "sent_at"])
    record_event(
        actor=actor,
        smart_account=inv.smart_account,
        virtual_account=inv.virtual_account,
        action="invitation.resent",
        message=f"{actor.email} sent the invitation to {inv.email} again.",
        details={"email": inv.email, "invitation": inv.pk, "send_count": inv.send_count},
    )
    _send_invitation(inv)
    return inv


@transaction.atomic
def cancel_invitation(*, actor: User, invitation: Invitation) -> Invitation:
    """Withdraw a pending invitation; its links stop working."""
    require_people_admin(actor, invitation.smart_account, invitation.virtual_account)
    inv = _locked_pending_invitation(invitation)
    inv.status = Invitation.Status.CANCELLED
    inv.save(update_fields=["status"])
    record_event(
        actor=actor,
        smart_account=inv.smart_account,
        virtual_account=inv.virtual_account,
        action="invitation.cancelled",
        message=f"{actor.email} cancelled the invitation to {inv.email}.",
        details={"email": inv.email, "invitation": inv.pk},
    )
    invitation.status = inv.status
    return inv


@transaction.atomic
def accept_invitation(*, invitation: Invitation, user: User) -> Invitation:
    """The invited person (by e-mail address) takes the role; opening the link confirmed their address.

    A role they already hold on the same scope is kept when it is stronger than the invited one.
    """
    inv = _locked_pending_invitation(invitation)
    if inv.is_expired:
        raise ValidationError("This invitation has expired. Ask the Admin who invited you to send it again.")
    if user.email.lower() != inv.email.lower():
        raise PermissionDenied("This invitation was sent to another e-mail address.")
    va = inv.virtual_account
    if va is not None and va.is_deleted:
        raise ValidationError("The Virtual Account of this invitation has been deleted.")
    account = inv.smart_account
    now = timezone.now()
    if not user.email_verified:
        User.objects.filter(pk=user.pk).update(email_verified_at=now)
        user.email_verified_at = now
    _lock_account_row(account)
    role = Role(inv.role)
    current = role_on_scope(user, account, va)
    if current is None or current.rank < role.rank:
        _grant(user, role, va or account)
    inv.status = Invitation.Status.ACCEPTED
    inv.accepted_by = user
    inv.accepted_at = now
    inv.save(update_fields=["status", "accepted_by", "accepted_at"])
    kept = current is not None and current.rank >= role.rank
    record_event(
        actor=user,
        smart_account=account,
        virtual_account=va,
        action="invitation.accepted",
        message=f"{user.email} accepted the invitation from {inv.invited_by.email}"
        + (
            f" and keeps the {current.label} role on {_scope_label(va)}."
            if kept
            else f" and now has the {role.label} role on {_scope_label(va)}."
        ),
        details={"email": user.email, "role": (current if kept else role).value, "invitation": inv.pk},
    )
    notify(
        subject=f"{user.email} joined {account.name}",
        message=f"{user.email} accepted your invitation and has the {role.label} role on {_scope_label(va)} "
        f"in {account.name}.\n" + portal_url(reverse("account_users", args=[account.pk])),
        recipients=[inv.invited_by.email],
    )
    invitation.status = inv.status
    return inv


# --- Access requests -----------------------------------------------------------------------------


@transaction.atomic
def request_access(*, requester: User, smart_account: SmartAccount, message: str = "") -> AccessRequest:
    """Ask the Admins of an account of the requester's e-mail domain for access; they are e-mailed."""
    require_verified_email(requester)
    matching = selectors.accounts_matching_domain(requester.email_domain)
    if not matching.filter(pk=smart_account.pk).exists():
        raise PermissionDenied("You can ask to join only the accounts of your own e-mail domain.")
    current = selectors.account_role(requester, smart_account)
    if current is not None:
        raise ValidationError(f"You already have the {current.label} role on {smart_account.name}.")
    if AccessRequest.objects.filter(requester=requester, smart_account=smart_account, status="pending").exists():
        raise ValidationError(
            f"You already asked to join {smart_account.name}. Its Admins have been told; you will get an e-mail."
        )
    access_request = AccessRequest(requester=requester, smart_account=smart_account, message=(message or "").strip())
    access_request.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            access_request.save()
    except IntegrityError:
        raise ValidationError(f"You already asked to join {smart_account.name}.") from None
    record_event(
        actor=requester,
        smart_account=smart_account,
        action="access.requested",
        message=f"{requester.email} asked for access to {smart_account.name}.",
        details={"request": access_request.pk, "message": access_request.message},
    )
    notify(
        subject=f"{requester.email} asks to join {smart_account.name}",
        message=render_to_string(
            "smartaccounts/email/access_requested.txt",
            {
                "access_request": access_request,
                "link": portal_url(reverse("access_requests", args=[smart_account.pk])),
            },
        ),
        recipients=account_admin_emails(smart_account),
    )
    return access_request


def _require_request_admin(actor: User, smart_account: SmartAccount) -> None:
    if not is_operator(actor, ROLES_PERMISSION):
        require_account_role(actor, smart_account, "admin")


def _locked_pending_request(access_request: AccessRequest) -> AccessRequest:
    req = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("smart_account", "requester")
        .get(pk=access_request.pk)
    )
    if req.status != AccessRequest.Status.PENDING:
        raise ValidationError(f"The request from {req.requester.email} was already {req.status}.")
    return req


@transaction.atomic
def approve_access_request(
    *, actor: User, access_request: AccessRequest, role: str, virtual_account: VirtualAccount | None = None
) -> AccessRequest:
    """An account Admin lets the requester in with `role` on the account or on one of its VAs."""
    _require_request_admin(actor, access_request.smart_account)
    req = _locked_pending_request(access_request)
    account = req.smart_account
    role = _role(role)
    if virtual_account is not None and (virtual_account.smart_account_id != account.pk or virtual_account.is_deleted):
        raise ValidationError({"virtual_account": "Choose a Virtual Account of this Smart Account."})
    assign_role(
        actor=actor,
        user=req.requester,
        role=role,
        smart_account=None if virtual_account else account,
        virtual_account=virtual_account,
    )
    req.status = AccessRequest.Status.APPROVED
    req.decided_by = actor
    req.decided_at = timezone.now()
    req.granted_role = role
    req.granted_virtual_account = virtual_account
    req.save(update_fields=["status", "decided_by", "decided_at", "granted_role", "granted_virtual_account"])
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=virtual_account,
        action="access.approved",
        message=f"{actor.email} approved {req.requester.email}'s access request as {role.label} "
        f"on {_scope_label(virtual_account)}.",
        details={"request": req.pk, "user": req.requester.email, "role": role.value},
    )
    notify(
        subject=f"You can now use {account.name}",
        message=f"{actor.email} approved your request: you have the {role.label} role on "
        f"{_scope_label(virtual_account)} in {account.name}.\n"
        + portal_url(reverse("account_home", args=[account.pk])),
        recipients=[req.requester.email],
    )
    access_request.status = req.status
    return req


@transaction.atomic
def decline_access_request(*, actor: User, access_request: AccessRequest, reason: str) -> AccessRequest:
    """An account Admin turns a request down; the reason is e-mailed to the requester."""
    _require_request_admin(actor, access_request.smart_account)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Tell the requester why, so they know what to do next."})
    req = _locked_pending_request(access_request)
    req.status = AccessRequest.Status.DECLINED
    req.decided_by = actor
    req.decided_at = timezone.now()
    req.reason = reason[:500]
    req.save(update_fields=["status", "decided_by", "decided_at", "reason"])
    record_event(
        actor=actor,
        smart_account=req.smart_account,
        action="access.declined",
        message=f"{actor.email} declined {req.requester.email}'s access request: {req.reason}",
        details={"request": req.pk, "user": req.requester.email, "reason": req.reason},
    )
    notify(
        subject=f"Your request to join {req.smart_account.name} was declined",
        message=f"{actor.email} declined your request to join {req.smart_account.name}.\n\nReason: {req.reason}\n",
        recipients=[req.requester.email],
    )
    access_request.status = req.status
    return req
