"""Self sign-up with e-mail confirmation, and sign-up through an invitation.

Signing up asks only for an e-mail address and a name. The login has no usable password until
its owner opens the signed link we e-mail (valid EMAIL_CONFIRMATION_MAX_AGE, usable once) and
chooses one there: that is what proves the address, so nobody can claim someone else's address
(and with it their company's domain) by signing up first. Signing up again with the same
address sends a fresh link; an address that already has a confirmed login gets a note pointing
to the password reset instead, so the page never tells who has a login.
"""

from __future__ import annotations

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from ..models import Invitation, User
from ..tokens import email_confirmation_token, read_email_confirmation_token
from .events import notify, portal_url, record_event
from .people import _normalise_email, accept_invitation

__all__ = ["sign_up", "confirm_email", "sign_up_with_invitation"]


@transaction.atomic
def sign_up(*, email: str, first_name: str = "", last_name: str = "") -> User:
    """Start a self sign-up: e-mail a confirmation link (or, for a confirmed login, a password-reset hint)."""
    email = _normalise_email(email)
    first_name, last_name = (first_name or "").strip()[:150], (last_name or "").strip()[:150]
    user = User.objects.filter(email__iexact=email).first()
    if user is not None and user.email_verified:
        notify(
            subject="You already have a Smart Accounts login",
            message=render_to_string(
                "smartaccounts/email/already_signed_up.txt",
                {"user": user, "reset_link": portal_url(reverse("password_reset"))},
            ),
            recipients=[user.email],
        )
        return user
    if user is None:
        user = User(email=email, first_name=first_name, last_name=last_name, email_verified_at=None)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # the same address signed up a moment ago
            user = User.objects.get(email__iexact=email)
        else:
            record_event(
                actor=None,
                smart_account=None,
                action="user.signed_up",
                message=f"{email} signed up; the confirmation link was e-mailed.",
                details={"email": email},
            )
    elif first_name or last_name:
        User.objects.filter(pk=user.pk).update(first_name=first_name, last_name=last_name)
    notify(
        subject="Confirm your e-mail address for Smart Accounts",
        message=render_to_string(
            "smartaccounts/email/confirm_email.txt",
            {"user": user, "link": portal_url(reverse("signup_confirm", args=[email_confirmation_token(user)]))},
        ),
        recipients=[user.email],
    )
    return user


def _pending_invitations(email: str):
    return Invitation.objects.filter(email__iexact=email, status=Invitation.Status.PENDING).select_related(
        "smart_account", "virtual_account", "invited_by"
    )


@transaction.atomic
def confirm_email(*, token: str, password: str) -> User:
    """Open a confirmation link: the address is proven, the chosen password is set.

    Pending, unexpired invitations to the same address are accepted at once (they were sent to the
    inbox the person just proved they read).
    """
    user = read_email_confirmation_token(token)
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.email_verified:
        raise ValidationError("This address is already confirmed. Log in, or reset your password if you forgot it.")
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"new_password1": error.messages}) from None
    user.set_password(password)
    user.email_verified_at = timezone.now()
    user.save(update_fields=["password", "email_verified_at"])
    record_event(
        actor=user,
        smart_account=None,
        action="user.email_confirmed",
        message=f"{user.email} confirmed their e-mail address.",
        details={"email": user.email},
    )
    for invitation in _pending_invitations(user.email):
        if not invitation.is_expired and not (invitation.virtual_account and invitation.virtual_account.is_deleted):
            accept_invitation(invitation=invitation, user=user)
    return user


@transaction.atomic
def sign_up_with_invitation(*, invitation: Invitation, first_name: str, last_name: str, password: str) -> User:
    """Give the invited address a confirmed login with `password` and accept the invitation (the link proved
    the address).

    A login that exists without a password (a sign-up whose confirmation link was never opened) is completed
    here, as that link would have done; a login with a password must log in and accept instead.
    """
    user = User.objects.select_for_update().filter(email__iexact=invitation.email).first()
    if user is not None and user.has_usable_password():
        raise ValidationError(f"There is already a login for {invitation.email}. Log in to accept the invitation.")
    first_name, last_name = (first_name or "").strip()[:150], (last_name or "").strip()[:150]
    completing = user is not None
    if user is None:
        user = User(email=invitation.email.lower())
    user.first_name = first_name or user.first_name
    user.last_name = last_name or user.last_name
    user.email_verified_at = user.email_verified_at or timezone.now()
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise ValidationError({"password1": error.messages}) from None
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        raise ValidationError(
            f"There is already a login for {invitation.email}. Log in to accept the invitation."
        ) from None
    record_event(
        actor=user,
        smart_account=invitation.smart_account,
        action="user.email_confirmed" if completing else "user.signed_up",
        message=f"{user.email} chose a password through an invitation."
        if completing
        else f"{user.email} signed up through an invitation.",
        details={"email": user.email, "invitation": invitation.pk},
    )
    accept_invitation(invitation=invitation, user=user)
    return user
