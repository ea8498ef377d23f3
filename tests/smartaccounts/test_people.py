"""Adding people by e-mail, invitations and access requests, through the services and the pages."""

import datetime as dt
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from smartaccounts import services
from smartaccounts.models import AccessRequest, Invitation, Role, SmartAccount, User
from smartaccounts.tokens import invitation_token, read_invitation_token
from tests.factories import grant, make_account, make_user, make_va

from .conftest import link_in

pytestmark = pytest.mark.django_db


def users_url(account):
    return reverse("account_users", args=[account.pk])


# --- Adding people -------------------------------------------------------------------------------


def test_an_existing_user_is_granted_at_once_and_emailed(account, mailoutbox, committed):
    bea = make_user("bea@acme.example.com")
    with committed():
        result = services.add_user_by_email(
            actor=account.created_by, email="BEA@acme.example.com", role="viewer", smart_account=account
        )
    assert result.granted and result.user == bea
    assert services.role_on_scope(bea, account, None) == Role.VIEWER
    assert mailoutbox[-1].to == ["bea@acme.example.com"]
    assert "Viewer role on the entire account" in mailoutbox[-1].body


def test_an_unknown_email_gets_an_invitation_that_signs_them_up_with_the_role(client, account, mailoutbox, committed):
    lab = make_va(account, "Lab")
    with committed():
        result = services.add_user_by_email(
            actor=account.created_by, email="carl@acme.example.com", role="user", virtual_account=lab
        )
    assert result.outcome == "invited" and result.invitation.status == "pending"
    link = link_in(mailoutbox[-1], "/invitations/")
    page = client.get(link).content.decode()
    assert "Acme Networks" in page and "Create your login" in page
    with committed():
        response = client.post(
            link, {"first_name": "Carl", "last_name": "C", "new_password1": "a-long-pass-phrase-9",
                   "new_password2": "a-long-pass-phrase-9"}
        )  # fmt: skip
    assert response["Location"] == reverse("account_home", args=[account.pk])
    carl = User.objects.get(email="carl@acme.example.com")
    assert carl.email_verified and carl.check_password("a-long-pass-phrase-9")
    assert services.role_on_scope(carl, account, lab) == Role.USER
    assert Invitation.objects.get(pk=result.invitation.pk).status == "accepted"
    assert mailoutbox[-1].to == [account.created_by.email]  # the inviter hears about it
    assert client.get(reverse("virtual_account", args=[account.pk, lab.pk])).status_code == 200


def test_a_login_with_an_unconfirmed_address_is_invited_not_granted(account):
    make_user("squatter@acme.example.com", email_verified_at=None)
    result = services.add_user_by_email(
        actor=account.created_by, email="squatter@acme.example.com", role="admin", smart_account=account
    )
    assert result.outcome == "invited"


def test_an_existing_user_accepts_an_invitation_after_logging_in(client, account):
    invitation = services.invite_user(
        actor=account.created_by, email="dora@acme.example.com", role="viewer", smart_account=account
    )
    dora = make_user("dora@acme.example.com", email_verified_at=None)
    link = reverse("invitation_accept", args=[invitation_token(invitation)])
    assert "Log in to accept" in client.get(link).content.decode()
    client.force_login(dora)
    response = client.post(link)
    assert response.status_code == 302
    dora.refresh_from_db()
    assert dora.email_verified  # the link proved the address
    assert services.role_on_scope(dora, account, None) == Role.VIEWER


def test_an_invitation_opened_by_another_login_names_nothing_and_grants_nothing(client, account):
    invitation = services.invite_user(
        actor=account.created_by, email="eve@acme.example.com", role="admin", smart_account=account
    )
    intruder = make_user("intruder@elsewhere.example.org")
    client.force_login(intruder)
    link = reverse("invitation_accept", args=[invitation_token(invitation)])
    for response in (client.get(link), client.post(link)):
        assert "Acme Networks" not in response.content.decode()
        assert "sent to another e-mail address" in response.content.decode()
    with pytest.raises(PermissionDenied):
        services.accept_invitation(invitation=invitation, user=intruder)
    assert services.role_on_scope(intruder, account, None) is None


def test_an_invitation_past_its_period_cannot_be_accepted(account, settings):
    invitation = services.invite_user(
        actor=account.created_by, email="fay@acme.example.com", role="viewer", smart_account=account
    )
    Invitation.objects.filter(pk=invitation.pk).update(
        sent_at=timezone.now() - dt.timedelta(days=settings.INVITATION_MAX_AGE_DAYS + 1)
    )
    invitation.refresh_from_db()
    assert invitation.is_expired
    with pytest.raises(ValidationError, match="expired"):
        services.accept_invitation(invitation=invitation, user=make_user("fay@acme.example.com"))


def test_an_invitation_link_expires_after_the_configured_days(account, settings):
    invitation = services.invite_user(
        actor=account.created_by, email="fay@acme.example.com", role="viewer", smart_account=account
    )
    token = invitation_token(invitation)
    later = timezone.now() + dt.timedelta(days=settings.INVITATION_MAX_AGE_DAYS, hours=1)
    with mock.patch("time.time", return_value=later.timestamp()), pytest.raises(ValidationError, match="expired"):
        read_invitation_token(token)


def test_resending_makes_the_earlier_link_stop_working(account, mailoutbox, committed):
    with committed():
        invitation = services.invite_user(
            actor=account.created_by, email="gus@acme.example.com", role="viewer", smart_account=account
        )
    first = invitation_token(invitation)
    with committed():
        services.resend_invitation(actor=account.created_by, invitation=invitation)
    assert len(mailoutbox) == 2
    with pytest.raises(ValidationError, match="sent again"):
        read_invitation_token(first)
    invitation.refresh_from_db()
    assert read_invitation_token(invitation_token(invitation)).pk == invitation.pk


def test_cancelling_ends_the_link(account):
    invitation = services.invite_user(
        actor=account.created_by, email="hal@acme.example.com", role="viewer", smart_account=account
    )
    token = invitation_token(invitation)
    services.cancel_invitation(actor=account.created_by, invitation=invitation)
    with pytest.raises(ValidationError, match="no longer open"):
        read_invitation_token(token)


def test_one_pending_invitation_per_address_and_account(account):
    services.invite_user(actor=account.created_by, email="ida@acme.example.com", role="viewer", smart_account=account)
    with pytest.raises(ValidationError, match="already has a pending invitation"):
        services.invite_user(actor=account.created_by, email="IDA@acme.example.com", role="user", smart_account=account)


def test_users_page_adds_lists_changes_and_removes(client, account, mailoutbox, committed):
    lab = make_va(account, "Lab")
    make_user("jo@acme.example.com", first_name="Jo", last_name="Jones")
    client.force_login(account.created_by)
    with committed():
        client.post(users_url(account), {"email": "jo@acme.example.com", "role": "viewer", "scope": ""})
        client.post(users_url(account), {"email": "kim@acme.example.com", "role": "user", "scope": lab.pk})
    page = client.get(users_url(account)).content.decode()
    assert "jo@acme.example.com" in page and "Entire Smart Account" in page
    assert "kim@acme.example.com" in page and "Pending invitations" in page and "Resend" in page
    jo = User.objects.get(email="jo@acme.example.com")
    member_url = reverse("account_member", args=[account.pk, jo.pk])
    client.post(member_url, {"role": "user", "scope": ""})
    assert services.role_on_scope(jo, account, None) == Role.USER
    client.post(reverse("account_member_remove", args=[account.pk, jo.pk]), {"scope": ""})
    assert services.role_on_scope(jo, account, None) is None
    invitation = Invitation.objects.get(email="kim@acme.example.com")
    client.post(reverse("invitation_cancel", args=[account.pk, invitation.pk]))
    invitation.refresh_from_db()
    assert invitation.status == "cancelled"


def test_removing_the_last_admin_on_the_page_shows_why_not(client, account):
    admin = account.created_by
    client.force_login(admin)
    response = client.post(reverse("account_member_remove", args=[account.pk, admin.pk]), {"scope": ""}, follow=True)
    assert "is the last Admin" in response.content.decode()
    response = client.post(reverse("account_member", args=[account.pk, admin.pk]), {"role": "viewer", "scope": ""})
    assert "is the last Admin" in response.content.decode()
    assert services.role_on_scope(admin, account, None) == Role.ADMIN


def test_a_va_admin_sees_and_manages_only_their_subtree_on_the_users_page(client, account):
    eng = make_va(account, "Engineering")
    finance = make_va(account, "Finance")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    grant(make_user("eng-person@acme.example.com"), "viewer", va=eng)
    grant(make_user("fin-person@acme.example.com"), "viewer", va=finance)
    client.force_login(boss)
    response = client.get(users_url(account))
    page = response.content.decode()
    assert "eng-person@" in page and "fin-person@" not in page and account.created_by.email not in page
    choices = dict(response.context["form"].fields["scope"].choices)
    assert str(eng.pk) in choices and str(finance.pk) not in choices and "" not in choices
    response = client.post(users_url(account), {"email": "new@acme.example.com", "role": "viewer", "scope": finance.pk})
    assert response.status_code == 200 and not Invitation.objects.filter(email="new@acme.example.com").exists()


# --- Access requests -----------------------------------------------------------------------------


def test_access_request_reaches_the_admins_who_approve_with_a_role_and_scope(account, mailoutbox, committed):
    lab = make_va(account, "Lab")
    lena = make_user("lena@acme.example.com")
    with committed():
        req = services.request_access(requester=lena, smart_account=account, message="New in the lab")
    assert mailoutbox[-1].to == [account.created_by.email] and "New in the lab" in mailoutbox[-1].body
    with committed():
        services.approve_access_request(actor=account.created_by, access_request=req, role="user", virtual_account=lab)
    req.refresh_from_db()
    assert req.status == "approved" and req.granted_role == "user" and req.granted_virtual_account == lab
    assert services.role_on_scope(lena, account, lab) == Role.USER
    assert mailoutbox[-1].to == [lena.email] and "User role on the Virtual Account Lab" in mailoutbox[-1].body


def test_a_declined_request_tells_the_requester_why(account, mailoutbox, committed):
    req = services.request_access(requester=make_user("max@acme.example.com"), smart_account=account)
    with pytest.raises(ValidationError, match="Tell the requester why"):
        services.decline_access_request(actor=account.created_by, access_request=req, reason=" ")
    with committed():
        services.decline_access_request(actor=account.created_by, access_request=req, reason="Use the lab account")
    assert "Reason: Use the lab account" in mailoutbox[-1].body
    with pytest.raises(ValidationError, match="already declined"):
        services.approve_access_request(actor=account.created_by, access_request=req, role="viewer")


def test_access_can_be_asked_only_of_accounts_of_ones_own_domain(account):
    with pytest.raises(PermissionDenied):
        services.request_access(requester=make_user("x@globex.example.org"), smart_account=account)
    account.visibility = SmartAccount.Visibility.PRIVATE
    account.save()
    with pytest.raises(PermissionDenied):
        services.request_access(requester=make_user("y@acme.example.com"), smart_account=account)


def test_an_unconfirmed_address_cannot_ask_to_join(account):
    with pytest.raises(ValidationError, match="Confirm your e-mail address"):
        services.request_access(
            requester=make_user("z@acme.example.com", email_verified_at=None), smart_account=account
        )


def test_one_pending_request_per_person_and_account(account):
    nia = make_user("nia@acme.example.com")
    services.request_access(requester=nia, smart_account=account)
    with pytest.raises(ValidationError, match="already asked"):
        services.request_access(requester=nia, smart_account=account)


def test_only_account_admins_decide_access_requests(account):
    eng = make_va(account, "Engineering")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    req = services.request_access(requester=make_user("ola@acme.example.com"), smart_account=account)
    with pytest.raises(PermissionDenied):
        services.approve_access_request(actor=boss, access_request=req, role="viewer", virtual_account=eng)


def test_request_access_button_then_admin_page_approve_and_decline(client, account):
    pia, quinn = make_user("pia@acme.example.com"), make_user("quinn@acme.example.com")
    for person in (pia, quinn):
        client.force_login(person)
        response = client.post(reverse("access_request_create", args=[account.pk]), {"message": "hello"}, follow=True)
        assert "We asked the Admins of Acme Networks" in response.content.decode()
    assert "Access requested" in client.get(reverse("account_request")).content.decode()
    client.force_login(account.created_by)
    home = client.get(reverse("account_home", args=[account.pk])).content.decode()
    assert "Pending access requests" in home and "pia@acme.example.com" in home
    assert '<span class="badge badge-warn" title="Waiting for an Admin">2</span>' in home
    page = client.get(reverse("access_requests", args=[account.pk])).content.decode()
    assert "pia@acme.example.com" in page and "quinn@acme.example.com" in page
    pia_req = AccessRequest.objects.get(requester=pia)
    quinn_req = AccessRequest.objects.get(requester=quinn)
    client.post(
        reverse("access_request_approve", args=[account.pk, pia_req.pk]),
        {f"r{pia_req.pk}-role": "viewer", f"r{pia_req.pk}-scope": ""},
    )
    client.post(
        reverse("access_request_decline", args=[account.pk, quinn_req.pk]), {f"r{quinn_req.pk}-reason": "Not staff"}
    )
    assert services.role_on_scope(pia, account, None) == Role.VIEWER
    quinn_req.refresh_from_db()
    assert quinn_req.status == "declined" and quinn_req.reason == "Not staff"
    client.force_login(quinn)
    assert "Not staff" in client.get(reverse("home")).content.decode()


def test_requesting_access_to_another_domains_account_is_404(client, account):
    client.force_login(make_user("r@globex.example.org"))
    assert client.post(reverse("access_request_create", args=[account.pk])).status_code == 404
    assert client.get(reverse("access_request_create", args=[account.pk])).status_code == 404


def test_limited_use_accounts_are_never_offered_for_access(client):
    make_account(kind="limited_use", admin=make_user("owner@gmail.com"))
    client.force_login(make_user("someone@gmail.com"))
    assert "Request access" not in client.get(reverse("account_request")).content.decode()
