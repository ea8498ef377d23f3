"""Signed, expiring links for e-mail confirmation and invitations.

Both are Django signatures (HMAC with SECRET_KEY, a timestamp inside), so nothing secret is
stored. A confirmation link is bound to the user's current password hash and confirmation
state: it works once. An invitation link is bound to the invitation's `send_count`: resending
makes earlier links stop working, and cancelling or accepting ends them all.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac

from .models import Invitation, User

CONFIRMATION_SALT = "smartaccounts.email-confirmation"
INVITATION_SALT = "smartaccounts.invitation"
# A sign-up confirmation link works this long; signing up again sends a fresh one.
EMAIL_CONFIRMATION_MAX_AGE = timedelta(days=3)


def invitation_max_age() -> timedelta:
    return timedelta(days=settings.INVITATION_MAX_AGE_DAYS)


def _user_state(user: User) -> str:
    value = f"{user.pk}|{user.email}|{user.password}|{user.email_verified_at}"
    return salted_hmac(CONFIRMATION_SALT, value).hexdigest()[:24]


def email_confirmation_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "s": _user_state(user)}, salt=CONFIRMATION_SALT, compress=True)


def read_email_confirmation_token(token: str) -> User:
    """The user a confirmation link was made for; ValidationError when it is broken, used or expired."""
    try:
        data = signing.loads(token, salt=CONFIRMATION_SALT, max_age=EMAIL_CONFIRMATION_MAX_AGE)
    except signing.SignatureExpired:
        raise ValidationError(
            "This confirmation link has expired. Sign up again with the same address to get a new one.",
            code="expired",
        ) from None
    except signing.BadSignature:
        raise ValidationError("This confirmation link is not valid. Copy the whole link from the e-mail.") from None
    user = User.objects.filter(pk=data.get("u"), is_active=True).first()
    if user is None or data.get("s") != _user_state(user):
        raise ValidationError(
            "This confirmation link has already been used. Log in, or reset your password if you forgot it.",
            code="used",
        )
    return user


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps({"i": invitation.pk, "n": invitation.send_count}, salt=INVITATION_SALT)


def read_invitation_token(token: str) -> Invitation:
    """The pending invitation a link was made for; ValidationError when it is broken, replaced, ended or expired."""
    try:
        data = signing.loads(token, salt=INVITATION_SALT, max_age=invitation_max_age())
    except signing.SignatureExpired:
        raise ValidationError(
            "This invitation has expired. Ask the Admin who invited you to send it again.", code="expired"
        ) from None
    except signing.BadSignature:
        raise ValidationError("This invitation link is not valid. Copy the whole link from the e-mail.") from None
    invitation = (
        Invitation.objects.select_related("smart_account", "virtual_account", "invited_by")
        .filter(pk=data.get("i"))
        .first()
    )
    if invitation is None or invitation.status != Invitation.Status.PENDING:
        raise ValidationError("This invitation is no longer open: it was accepted or cancelled.", code="closed")
    if invitation.send_count != data.get("n"):
        raise ValidationError(
            "This invitation was sent again since; use the link in the most recent e-mail.", code="replaced"
        )
    return invitation
