"""The event log, e-mail, and the permission checks every service makes (answered by `smartaccounts.access`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from .. import access
from ..access import is_operator
from ..models import Event, Role, SmartAccount, SmartAccountUserObjectPermission, User, VirtualAccount

__all__ = [
    "record_event",
    "record_events",
    "notify",
    "portal_url",
    "account_admin_emails",
    "require_account_role",
    "require_va_role",
    "require_va_roles",
    "require_verified_email",
    "is_operator",
    "require_operator",
]

logger = logging.getLogger(__name__)


def _event(
    *,
    actor: User | None,
    smart_account_id: int | None,
    virtual_account: VirtualAccount | None,
    action: str,
    message: str,
    details: dict[str, Any] | None,
    created_at=None,
) -> Event:
    """An unsaved event: who (nobody for the system or an anonymous visitor), where, what (the message
    cut to the column's 1,000 characters). While an API client's token acts (`access.ceiling_for` the
    actor), the details name the client (`api_client`)."""
    ceiling = access.ceiling_for(actor)
    if ceiling is not None and ceiling.client_name:
        details = {**(details or {}), "api_client": ceiling.client_name}
    return Event(
        created_at=created_at or timezone.now(),
        actor_id=actor.pk if actor is not None and actor.is_authenticated else None,
        smart_account_id=smart_account_id,
        virtual_account=virtual_account,
        virtual_account_name=virtual_account.name if virtual_account else "",
        action=action,
        message=message[:1000],
        details=details or {},
    )


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
    event = _event(
        actor=actor,
        smart_account_id=smart_account.pk if smart_account else None,
        virtual_account=virtual_account,
        action=action,
        message=message,
        details=details,
    )
    event.smart_account = smart_account  # the caller's instance, not a query when it is read
    event.save(force_insert=True)
    return event


def record_events(
    *,
    actor: User | None,
    smart_account_id: int | None,
    actions: Iterable[tuple[VirtualAccount | None, str]],
    message: str,
    details: dict[str, Any] | None = None,
) -> None:
    """`record_event` for one change logged on several VAs ((virtual_account, action) pairs, same
    actor, account, message and details, e.g. a transfer's two sides), in one INSERT."""
    now = timezone.now()
    Event.objects.bulk_create(
        [
            _event(
                actor=actor,
                smart_account_id=smart_account_id,
                virtual_account=va,
                action=action,
                message=message,
                details=details,
                created_at=now,
            )
            for va, action in actions
        ]
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


def portal_url(path: str) -> str:
    """An absolute link for e-mails: PORTAL_BASE_URL + a path from `reverse()`."""
    return settings.PORTAL_BASE_URL.rstrip("/") + path


def account_admin_emails(smart_account: SmartAccount) -> list[str]:
    return list(
        SmartAccountUserObjectPermission.objects.filter(
            content_object=smart_account,
            permission__codename=Role.ADMIN.codename,
            user__is_active=True,
            user__api_client__isnull=True,
        ).values_list("user__email", flat=True)
    )


# --- Permission checks used by services ----------------------------------------------------------


def require_operator(actor: User | None, permission: str, what: str) -> None:
    """Operator-only services (approving accounts, reservations, policies, orders…) need the staff member's
    model permission for that change, not just staff status: a staff member who may only look (the
    ``view_*`` permissions) is refused. `what` completes "You need the permission to …"."""
    if not is_operator(actor, permission):
        raise PermissionDenied(f"You need the staff permission “{permission}” to {what}.")


def require_account_role(actor: User, smart_account: SmartAccount, action: str) -> None:
    """The actor must hold a role on the account itself that allows `action`."""
    role = access.account_roles(actor, smart_account).on_account
    if role is None or not role.allows(action):
        raise PermissionDenied(f"You need the {Role.for_action(action)[-1].label} role on {smart_account.name}.")


def require_va_role(actor: User, virtual_account: VirtualAccount, action: str) -> None:
    """The actor must hold a role allowing `action` on the VA, an ancestor of it, or its account."""
    require_va_roles(actor, [virtual_account], action)


def require_va_roles(actor: User, virtual_accounts: Iterable[VirtualAccount], action: str) -> None:
    """`require_va_role` on each of several VAs, answered by one query; the refusal names the first
    VA (in the order given) where the actor's role does not allow `action`."""
    vas = list(virtual_accounts)
    roles = access.roles_for(actor, vas)
    for virtual_account in vas:
        role = roles[virtual_account.pk]
        if role is None or not role.allows(action):
            raise PermissionDenied(
                f"You need the {Role.for_action(action)[-1].label} role on {virtual_account.name} to do this."
            )


def require_verified_email(user: User, *, who: str = "you") -> None:
    """An account is created or joined only by someone whose e-mail address is proven.

    The e-mail domain is what authorises a Customer account and what access requests are
    matched on, so a self sign-up that has not opened its confirmation link can do neither.
    """
    if user.email_verified:
        return
    if who == "you":
        raise ValidationError(
            f"Confirm your e-mail address first: open the link we sent to {user.email} "
            "(sign up again with the same address to get a new link)."
        )
    raise ValidationError(
        f"{user.email} has not confirmed their e-mail address yet. Invite them instead: "
        "the invitation link confirms the address."
    )
