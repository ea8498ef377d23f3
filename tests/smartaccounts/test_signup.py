"""Self sign-up with e-mail confirmation: a signed, expiring, one-time link proves the address."""

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from smartaccounts import services
from smartaccounts.models import Role, SmartAccount, User
from smartaccounts.tokens import EMAIL_CONFIRMATION_MAX_AGE, email_confirmation_token, read_email_confirmation_token
from tests.factories import make_user

from .conftest import link_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-42"


def sign_up(client, committed, email="nora@initech.example.org"):
    with committed():
        response = client.post(reverse("signup"), {"email": email, "first_name": "Nora", "last_name": "N"})
    assert response["Location"] == reverse("signup_sent")
    return response


def test_sign_up_confirm_then_request_a_customer_account(client, mailoutbox, committed):
    sign_up(client, committed)
    nora = User.objects.get(email="nora@initech.example.org")
    assert not nora.email_verified and not nora.has_usable_password()
    assert "nora@initech.example.org" in client.get(reverse("signup_sent")).content.decode()
    link = link_in(mailoutbox[-1], "/signup/confirm/")
    assert "Choose a password" in client.get(link).content.decode()
    response = client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    assert response["Location"] == reverse("home")
    nora.refresh_from_db()
    assert nora.email_verified and nora.check_password(PASSWORD)
    response = client.post(
        reverse("account_request"), {"kind": "customer", "name": "Initech", "domain": "initech.example.org"}
    )
    assert SmartAccount.objects.filter(domain="initech.example.org", created_by=nora).exists()


def test_the_confirmation_link_works_once(client, mailoutbox, committed):
    sign_up(client, committed)
    link = link_in(mailoutbox[-1], "/signup/confirm/")
    client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    client.logout()
    page = client.get(link).content.decode()
    assert "already been used" in page and "Choose a password" not in page


def test_the_confirmation_link_expires():
    user = services.sign_up(email="old@initech.example.org")
    token = email_confirmation_token(user)
    later = timezone.now() + EMAIL_CONFIRMATION_MAX_AGE + dt.timedelta(minutes=1)
    with mock.patch("time.time", return_value=later.timestamp()), pytest.raises(ValidationError, match="expired"):
        read_email_confirmation_token(token)


def test_a_tampered_link_is_refused(client):
    user = services.sign_up(email="t@initech.example.org")
    token = email_confirmation_token(user)
    response = client.get(reverse("signup_confirm", args=[token[:-2] + "xx"]))
    assert "not valid" in response.content.decode()


def test_an_unconfirmed_signup_cannot_log_in_or_create_an_account(client):
    user = services.sign_up(email="u@initech.example.org")
    assert not client.login(username="u@initech.example.org", password="")
    with pytest.raises(ValidationError, match="Confirm your e-mail address"):
        services.create_smart_account(creator=user, name="Initech", domain="initech.example.org", kind="customer")


def test_signing_up_with_a_confirmed_address_sends_a_reminder_not_a_new_login(client, mailoutbox, committed):
    existing = make_user("known@acme.example.com")
    sign_up(client, committed, email="known@acme.example.com")
    assert mailoutbox[-1].subject == "You already have a Smart Accounts login"
    assert "/password/reset/" in mailoutbox[-1].body
    existing.refresh_from_db()
    assert existing.has_usable_password()


def test_signing_up_again_sends_a_fresh_link_for_the_same_login(client, mailoutbox, committed):
    sign_up(client, committed)
    sign_up(client, committed)
    assert User.objects.filter(email="nora@initech.example.org").count() == 1
    assert len(mailoutbox) == 2


def test_weak_passwords_are_refused_on_the_confirmation_page(client, mailoutbox, committed):
    sign_up(client, committed)
    link = link_in(mailoutbox[-1], "/signup/confirm/")
    response = client.post(link, {"new_password1": "123", "new_password2": "123"})
    assert response.status_code == 200 and "too short" in response.content.decode()
    assert not User.objects.get(email="nora@initech.example.org").email_verified


def test_confirming_accepts_pending_invitations_to_the_same_address(client, account, mailoutbox, committed):
    services.invite_user(actor=account.created_by, email="nora@acme.example.com", role="viewer", smart_account=account)
    sign_up(client, committed, email="nora@acme.example.com")
    link = link_in(mailoutbox[-1], "/signup/confirm/")
    client.post(link, {"new_password1": PASSWORD, "new_password2": PASSWORD})
    nora = User.objects.get(email="nora@acme.example.com")
    assert services.role_on_scope(nora, account, None) == Role.VIEWER


def test_signed_in_people_are_sent_home_from_the_signup_page(client):
    client.force_login(make_user())
    assert client.get(reverse("signup"))["Location"] == reverse("home")


def test_the_login_page_offers_sign_up(client):
    assert reverse("signup") in client.get(reverse("login")).content.decode()
