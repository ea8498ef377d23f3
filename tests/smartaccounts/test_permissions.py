"""The permission matrix over every smartaccounts URL (see tests/isolation.py).

anonymous → login; no role → 404; too low a role → 403; a VA-scoped user outside the VA → 404;
enough → the page or the action's redirect.
"""

import pytest
from django.urls import reverse

from smartaccounts.models import Role
from smartaccounts.tokens import invitation_token
from smartaccounts.urls import urlpatterns
from tests.factories import make_user
from tests.isolation import Case, build_tenant, check_permission_matrix

pytestmark = pytest.mark.django_db


def _member_scope(tenant, va):
    return {"role": "user", "scope": va.pk}


CASES = [
    Case("account_home"),
    Case("account_properties", action="admin", account_admin=True),
    Case(
        "account_properties",
        "post",
        action="admin",
        account_admin=True,
        data={"name": "Renamed Inc", "headquarters_address": "Here", "visibility": "domain"},
    ),
    Case("virtual_accounts"),
    Case("virtual_accounts", "post", action="admin", data={"name": "Brand New VA", "parent": ""}),
    Case("virtual_account", va_bound=True),
    Case("va_rename", "post", action="admin", va_bound=True, data={"name": "Renamed VA", "description": ""}),
    Case("va_move", "post", action="admin", va_bound=True, data={"parent": ""}),
    Case("va_delete", "post", action="admin", va_bound=True),
    Case("va_make_default", "post", action="admin", va_bound=True, account_admin=True),
    Case("va_events", va_bound=True),
    Case("va_events_csv", va_bound=True),
    Case("account_events"),
    Case("account_events_csv"),
    Case("account_users", action="admin"),
    Case(
        "account_users",
        "post",
        action="admin",
        data=lambda tenant, va: {"email": f"added@{tenant.account.domain}", "role": "viewer", "scope": ""},
    ),
    Case("account_member", action="admin"),
    Case("account_member", "post", action="admin", data=_member_scope),
    Case("account_member_remove", "post", action="admin", data=lambda tenant, va: {"scope": va.pk}),
    Case("invitation_resend", "post", action="admin"),
    Case("invitation_cancel", "post", action="admin"),
    Case("access_requests", action="admin", account_admin=True),
    Case(
        "access_request_approve",
        "post",
        action="admin",
        account_admin=True,
        data={"role": "viewer", "scope": ""},
    ),
    Case("access_request_decline", "post", action="admin", account_admin=True, data={"reason": "Not one of us"}),
    Case("api_clients", action="admin", account_admin=True),
    Case(
        "api_clients",
        "post",
        action="admin",
        account_admin=True,
        data=lambda tenant, va: {"name": "Inventory script", "role": "viewer", "scope": va.pk},
    ),
    Case("api_client_revoke", "post", action="admin", account_admin=True),
]

# Pages outside any account: signed in or not, they show nothing of a tenant.
NOT_ACCOUNT_SCOPED = {
    "home",
    "signup",
    "signup_sent",
    "signup_confirm",
    "invitation_accept",
    "logout_and_continue",
    "account_request",
    "access_request_create",
}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_permission_matrix(client, case):
    check_permission_matrix(client, case, build_tenant())


def test_every_account_url_of_the_app_has_a_get_and_a_write_case():
    covered = {(c.url_name, c.method) for c in CASES}
    for pattern in urlpatterns:
        if pattern.name in NOT_ACCOUNT_SCOPED:
            continue
        methods = {m for (name, m) in covered if name == pattern.name}
        assert methods, f"{pattern.name} has no Case"
        view = pattern.callback.view_class
        if "get" in view.http_method_names and hasattr(view, "get"):
            assert "get" in methods, f"{pattern.name}: GET has no Case"
        if hasattr(view, "post"):
            assert "post" in methods, f"{pattern.name}: POST has no Case"


def test_requesting_access_needs_a_login_and_the_accounts_domain(client):
    tenant = build_tenant()
    url = reverse("access_request_create", args=[tenant.account.pk])
    assert "/login/" in client.post(url)["Location"]
    client.force_login(tenant.outsider)
    assert client.post(url).status_code == 404
    client.force_login(make_user(f"colleague@{tenant.account.domain}"))
    assert client.post(url).status_code == 302


def test_home_and_request_pages_need_a_login(client):
    for name in ("home", "account_request"):
        assert "/login/" in client.get(reverse(name))["Location"]


def test_an_invitation_link_shows_the_account_only_to_its_invitee_or_an_anonymous_holder(client):
    tenant = build_tenant()
    from smartaccounts import services

    invitation = services.invite_user(
        actor=tenant.admin, email=f"guest@{tenant.account.domain}", role=Role.VIEWER, virtual_account=tenant.va_a
    )
    url = reverse("invitation_accept", args=[invitation_token(invitation)])
    assert tenant.account.name in client.get(url).content.decode()
    for someone in (tenant.outsider, make_user("stranger@elsewhere.example.org")):
        client.force_login(someone)
        for response in (client.get(url), client.post(url)):
            assert tenant.account.name not in response.content.decode()
