"""Adding people by e-mail, invitations and access requests, through the services and the pages."""

import datetime as dt
import re
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from smartaccounts import services
from smartaccounts.models import AccessRequest, Invitation, Role, SmartAccount, User
from smartaccounts.tokens import invitation_token, read_invitation_token
from tests.factories import PASSWORD, grant, make_account, make_user, make_va

from .conftest import link_in

pytestmark = pytest.mark.django_db


def users_url(account):
    return reverse("account_users", args=[account.pk])


# --- Adding people -------------------------------------------------------------------------------


def invitation_link(mailoutbox, email: str) -> str:
    return link_in(next(m for m in reversed(mailoutbox) if m.to == [email]), "/invitations/")


def test_adding_an_existing_login_invites_them_and_grants_nothing_until_they_accept(client, account, mailoutbox,
                                                                                   committed):  # fmt: skip
    bea = make_user("bea@acme.example.com")
    client.force_login(account.created_by)
    with committed():
        response = client.post(users_url(account), {"email": "BEA@acme.example.com", "role": "viewer", "scope": ""})
    assert response.status_code == 302
    assert services.role_on_scope(bea, account, None) is None  # no role without their consent
    invitation = Invitation.objects.get(email="bea@acme.example.com", smart_account=account)
    assert invitation.status == "pending" and invitation.role == "viewer"
    body = mailoutbox[-1].body
    assert mailoutbox[-1].to == ["bea@acme.example.com"]
    assert "You already have a Smart Accounts login for bea@acme.example.com" in body
    assert "Viewer role on the entire account" in body and "create your login" not in body
    link = invitation_link(mailoutbox, "bea@acme.example.com")

    # Bea opens the link signed out: she is asked to log in, and the login brings her back to accept.
    client.logout()
    page = client.get(link).content.decode()
    assert "Log in to accept" in page and "Create your login" not in page
    login_url = f"{reverse('login')}?next={link}"
    assert login_url in page
    response = client.post(login_url, {"username": "bea@acme.example.com", "password": PASSWORD})
    assert response.status_code == 302 and response["Location"] == link
    page = client.get(link).content.decode()
    assert "Accept the invitation" in page and "Acme Networks" in page
    with committed():
        response = client.post(link)
    assert response["Location"] == reverse("account_home", args=[account.pk])
    assert services.role_on_scope(bea, account, None) == Role.VIEWER
    assert Invitation.objects.get(pk=invitation.pk).status == "accepted"
    assert mailoutbox[-1].to == [account.created_by.email]  # the inviter hears about it


def test_adding_gives_the_same_answer_whether_or_not_a_login_exists(client, account, other_account, mailoutbox,
                                                                   committed):  # fmt: skip
    make_user("confirmed@acme.example.com")
    make_user("unconfirmed@acme.example.com", email_verified_at=None)
    make_user("gone@acme.example.com", is_active=False)
    make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    addresses = {
        "nobody": "nobody@acme.example.com",
        "confirmed": "confirmed@acme.example.com",
        "unconfirmed": "unconfirmed@acme.example.com",
        "deactivated": "gone@acme.example.com",
        "staff": "ops@operator.example.net",
        "another account's admin": other_account.created_by.email,
    }
    client.force_login(account.created_by)
    answers = {}
    for who, email in addresses.items():
        with committed():
            response = client.post(users_url(account), {"email": email, "role": "admin", "scope": ""}, follow=True)
        page = response.content.decode()
        message = page[page.index('class="messages"') :].split("</ul>", 1)[0]
        answers[who] = (response.status_code, message.replace(email, "EMAIL"))
    assert len(set(answers.values())) == 1, answers
    assert "We e-mailed EMAIL an invitation" in next(iter(answers.values()))[1]
    for email in addresses.values():
        person = User.objects.filter(email=email).first()
        assert person is None or services.role_on_scope(person, account, None) is None
        assert Invitation.objects.filter(email=email, smart_account=account, status="pending").count() == 1
    assert sorted(m.to[0] for m in mailoutbox) == sorted(addresses.values())


def test_an_unknown_email_gets_an_invitation_that_signs_them_up_with_the_role(client, account, mailoutbox, committed):
    lab = make_va(account, "Lab")
    with committed():
        invitation = services.invite_user(
            actor=account.created_by, email="carl@acme.example.com", role="user", virtual_account=lab
        )
    assert invitation.status == "pending"
    assert "you create your login on the way" in mailoutbox[-1].body
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
    assert Invitation.objects.get(pk=invitation.pk).status == "accepted"
    assert mailoutbox[-1].to == [account.created_by.email]  # the inviter hears about it
    assert client.get(reverse("virtual_account", args=[account.pk, lab.pk])).status_code == 200


def test_a_sign_up_never_confirmed_chooses_its_password_from_the_invitation(client, account, mailoutbox, committed):
    with committed():
        services.sign_up(email="gil@acme.example.com", first_name="Gil")
        services.invite_user(actor=account.created_by, email="gil@acme.example.com", role="user", smart_account=account)
    gil = User.objects.get(email="gil@acme.example.com")
    assert not gil.has_usable_password() and not gil.email_verified
    assert "you create your login on the way" in mailoutbox[-1].body  # the login cannot be used yet
    link = invitation_link(mailoutbox, "gil@acme.example.com")
    page = client.get(link).content.decode()
    assert "Choose your password to accept" in page and "Log in to accept" not in page
    new_password = "a-long-pass-phrase-7"
    response = client.post(
        link, {"first_name": "", "last_name": "", "new_password1": new_password, "new_password2": new_password}
    )
    assert response["Location"] == reverse("account_home", args=[account.pk])
    gil.refresh_from_db()
    assert gil.email_verified and gil.check_password(new_password) and gil.first_name == "Gil"
    assert User.objects.filter(email__iexact="gil@acme.example.com").count() == 1
    assert services.role_on_scope(gil, account, None) == Role.USER


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
    jo = make_user("jo@acme.example.com", first_name="Jo", last_name="Jones")
    client.force_login(account.created_by)
    with committed():
        client.post(users_url(account), {"email": "jo@acme.example.com", "role": "viewer", "scope": ""})
        client.post(users_url(account), {"email": "kim@acme.example.com", "role": "user", "scope": lab.pk})
    services.accept_invitation(invitation=Invitation.objects.get(email="jo@acme.example.com"), user=jo)
    page = client.get(users_url(account)).content.decode()
    assert "jo@acme.example.com" in page and "Entire Smart Account" in page
    assert "kim@acme.example.com" in page and "Pending invitations" in page and "Resend" in page
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


def test_the_users_table_has_one_row_per_person_listing_every_role_with_its_remove(client, account):
    lab, eng = make_va(account, "Lab"), make_va(account, "Engineering")
    uma = make_user("uma@acme.example.com")
    grant(uma, "viewer", va=lab)
    grant(uma, "user", va=eng)
    client.force_login(account.created_by)
    response = client.get(users_url(account))
    table = response.context["members"]
    rows = {row.record["user"].email: row.record for row in table.rows}
    assert sorted(rows) == sorted([account.created_by.email, "uma@acme.example.com"])
    assert [(m.role, m.virtual_account.name) for m in rows["uma@acme.example.com"]["roles"]] == [
        (Role.USER, "Engineering"),
        (Role.VIEWER, "Lab"),
    ]
    page = response.content.decode()
    members = page[page.index('data-testid="members"') : page.index("</table>")]
    header, body = members.split("</thead>")
    assert len(re.findall(r"<th[ >]", header)) == 3  # the header spans every column, actions included
    assert len(re.findall(r"<td[ >]", body)) == 6 and body.count("<tr") == 2  # one row per person
    assert "Remove uma@acme.example.com's Viewer role on Lab?" in members
    assert f'name="scope" value="{eng.pk}"' in members and members.count(">Remove</button>") == 3
    remove = reverse("account_member_remove", args=[account.pk, uma.pk])
    client.post(remove, {"scope": lab.pk})
    assert services.role_on_scope(uma, account, lab) is None and services.role_on_scope(uma, account, eng) == Role.USER


def test_recent_access_request_decisions_are_an_account_admins_to_see(account):
    from smartaccounts import selectors

    eng = make_va(account, "Engineering")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    req = services.request_access(requester=make_user("ola@acme.example.com"), smart_account=account)
    services.decline_access_request(actor=account.created_by, access_request=req, reason="Not staff")
    services.request_access(requester=make_user("pat@acme.example.com"), smart_account=account)  # still pending
    assert [r.pk for r in selectors.decided_access_requests(account.created_by, account)] == [req.pk]
    assert selectors.decided_access_requests(boss, account) == []


# --- No oracle: the member pages answer 404 for anyone who is not a member the user manages -----------


def test_the_member_pages_answer_404_naming_nobody_for_anyone_not_a_member(client, other_account):
    owner = make_user("pat.owner@gmail.com")
    limited = make_account(admin=owner, kind="limited_use")
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    loner = make_user("loner@elsewhere.example.org")  # a login with no role anywhere
    strangers = [staff, loner, other_account.created_by]
    client.force_login(owner)
    for member_id in [s.pk for s in strangers] + [10**6]:
        urls = [
            ("post", reverse("account_member_remove", args=[limited.pk, member_id]), {"scope": ""}),
            ("get", reverse("account_member", args=[limited.pk, member_id]), {}),
            ("post", reverse("account_member", args=[limited.pk, member_id]), {"role": "admin", "scope": ""}),
        ]
        for method, url, data in urls:
            response = getattr(client, method)(url, data, follow=True)
            text = response.content.decode()
            assert response.status_code == 404, (method, url, response.status_code)
            assert not [s.email for s in strangers if s.email in text]
    for stranger in strangers:
        assert services.role_on_scope(stranger, limited, None) is None
    page = client.get(users_url(limited)).content.decode()  # no message left waiting either
    assert not [s.email for s in strangers if s.email in page]


def test_a_va_admin_gets_404_for_people_and_invitations_outside_their_subtree(client, account):
    eng, finance = make_va(account, "Engineering"), make_va(account, "Finance")
    boss = grant(make_user("boss@acme.example.com"), "admin", va=eng)
    fin_person = grant(make_user("fin-person@acme.example.com"), "viewer", va=finance)
    eng_person = grant(make_user("eng-person@acme.example.com"), "viewer", va=eng)
    admin = account.created_by
    to_finance = services.invite_user(actor=admin, email="f@acme.example.com", role="viewer", virtual_account=finance)
    to_account = services.invite_user(actor=admin, email="a@acme.example.com", role="viewer", smart_account=account)
    to_eng = services.invite_user(actor=admin, email="e@acme.example.com", role="viewer", virtual_account=eng)
    client.force_login(boss)
    for member in (fin_person, admin):
        assert client.get(reverse("account_member", args=[account.pk, member.pk])).status_code == 404
        remove = reverse("account_member_remove", args=[account.pk, member.pk])
        assert client.post(remove, {"scope": finance.pk}).status_code == 404
    for invitation in (to_finance, to_account):
        for name in ("invitation_resend", "invitation_cancel"):
            assert client.post(reverse(name, args=[account.pk, invitation.pk])).status_code == 404
        assert Invitation.objects.get(pk=invitation.pk).status == "pending"
    # What they do manage still works.
    assert client.get(reverse("account_member", args=[account.pk, eng_person.pk])).status_code == 200
    client.post(reverse("invitation_cancel", args=[account.pk, to_eng.pk]))
    assert Invitation.objects.get(pk=to_eng.pk).status == "cancelled"
    client.post(reverse("account_member_remove", args=[account.pk, eng_person.pk]), {"scope": eng.pk})
    assert services.role_on_scope(eng_person, account, eng) is None
    assert services.role_on_scope(fin_person, account, finance) == Role.VIEWER


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
