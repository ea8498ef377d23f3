"""The permission sweep over every API endpoint, like the pages' matrix (tests/isolation.py).

Every URL whose view is an `AccountApiView` (native `/api/v1/accounts/<account_id>/...`) or a `CssmView`
(Cisco paths under `accounts/<domain>/...`) is found by walking the URL resolver; for each method it allows
and each role of `build_tenant()`:
- anonymous: 401 (or 403), nothing else;
- no role in the account (the outsider): 404;
- a role below the action the view declares for the method (`view.action_for(method)`): 403;
- a role that may: neither 403 nor 404, and never a 5xx (a 400 for the empty body is fine);
- a VA-scoped role (User or Viewer on va_a) on the same URL built in va_b: 404;
- the tenant's own account with another tenant's ids in the URL: 404 for every role that may (a role
  below the action is refused before any id is read: 403, the same answer whatever the ids);
- another tenant's account (id or domain): 404 for every role.
Each check runs with the portal's session (`APIClient.force_login`) and with an API client's Bearer token
holding the same role (see `AUTH_MODES`).
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from config.cssm.base import AccountlessCssmView
from smartaccounts.models import SmartAccount
from tests.api.helpers import get_token, make_api_client
from tests.isolation import build_tenant, load_builders, response_text
from tests.licensing.workflows.builders import build_partner_tenant

from .sweep import (
    EXEMPT,
    ROLES_ASCENDING,
    SWEPT_BASES,
    VA_SCOPED_ROLES,
    ApiView,
    account_endpoints,
    api_endpoints,
    cssm_endpoints,
    describe,
    may,
)

pytestmark = pytest.mark.django_db

ALL_ROLES = ("admin", "user", "viewer", "va_user", "va_viewer")


# --- how a role signs in --------------------------------------------------------------------------


class SessionAuth:
    """The portal's session, as a browser holds it."""

    name = "session"

    def __init__(self, tenant):
        self.client = APIClient()

    def as_role(self, tenant, role: str) -> APIClient:
        self.client.logout()
        self.client.force_login(getattr(tenant, role))
        return self.client

    def as_user(self, user) -> APIClient:
        self.client.logout()
        self.client.force_login(user)
        return self.client


class BearerAuth:
    """An API client's Bearer token (client credentials grant at /as/token.oauth2) holding the role: Admin,
    User or Viewer on the account, or User or Viewer on va_a for the VA-scoped roles; the outsider's
    client is an Admin client of the outsider's own account."""

    name = "bearer"
    SCOPES = {
        "admin": ("admin", None),
        "user": ("user", None),
        "viewer": ("viewer", None),
        "va_user": ("user", "va_a"),
        "va_viewer": ("viewer", "va_a"),
    }

    def __init__(self, tenant):
        self.tokens: dict[tuple, str] = {}

    def _client_for(self, key, account, role, va=None) -> APIClient:
        if key not in self.tokens:
            api_client, secret = make_api_client(account, role, virtual_account=va)
            self.tokens[key] = get_token(Client(), api_client.application.client_id, secret)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {self.tokens[key]}")
        return client

    def as_role(self, tenant, role: str) -> APIClient:
        level, va = self.SCOPES[role]
        return self._client_for((tenant.account.pk, role), tenant.account, level, getattr(tenant, va) if va else None)

    def as_user(self, user) -> APIClient:
        account = SmartAccount.objects.filter(created_by=user).first()
        assert account is not None, f"{user} administers no account of their own"
        return self._client_for((account.pk, "admin"), account, "admin")


AUTH_MODES = [SessionAuth, BearerAuth]


def tenant_for(endpoint, label: str):
    """A tenant of a kind the view serves (`allowed_kinds`): a customer account unless the view serves only
    partner holding accounts."""
    kinds = endpoint.view().allowed_kinds
    if kinds is None or SmartAccount.Kind.CUSTOMER in kinds:
        return build_tenant(label)
    assert SmartAccount.Kind.PARTNER_HOLDING in kinds, f"{endpoint}: no tenant builder for kinds {kinds}"
    return build_partner_tenant(label)


def _request(client, method: str, url: str, headers: dict | None = None):
    if method in ("get", "delete"):
        return getattr(client, method)(url, headers=headers)
    return getattr(client, method)(url, {}, format="json", headers=headers)


def _swept():
    endpoints = account_endpoints() + cssm_endpoints()
    return [pytest.param(e, m, id=f"{m.upper()} {e.name}") for e in endpoints for m in e.methods]


def _with_ids(endpoints):
    return [pytest.param(e, m, id=f"{m.upper()} {e.name}") for e in endpoints for m in e.methods if e.names_ids]


# --- nothing escapes the sweep --------------------------------------------------------------------


def test_every_api_endpoint_is_swept_or_exempt_with_a_reason():
    escaped = []
    for endpoint in api_endpoints():
        short = endpoint.name.split(":")[-1]
        if short in EXEMPT or endpoint.name in EXEMPT:
            continue
        if not issubclass(endpoint.view_class, SWEPT_BASES):
            escaped.append(f"{endpoint.name} ({endpoint.pattern}): {endpoint.view_class.__qualname__}")
    assert not escaped, (
        "API endpoints whose view is not an AccountApiView, ApiView or Cisco view, so the permission sweep "
        "cannot check them (subclass one, or list the name in tests/api/sweep.py EXEMPT with the reason):\n"
        + "\n".join(escaped)
    )


def test_every_url_kwarg_of_the_api_has_a_builder():
    builders = load_builders()
    missing = sorted(
        {
            f"{endpoint.name}: {kwarg}"
            for endpoint in account_endpoints() + cssm_endpoints()
            for kwarg in endpoint.kwargs
            if kwarg not in builders
        }
    )
    assert not missing, "URL kwargs without a builder (add @builds(...) in tests/<area>/builders.py):\n" + "\n".join(
        missing
    )


def test_the_sweep_finds_the_api():
    """Guards the discovery itself: a resolver walk that found nothing would pass every sweep."""
    names = {e.name for e in account_endpoints()}
    assert {"api_account", "api_virtual_accounts", "api_members"} <= names
    assert all(e.methods for e in account_endpoints())


# --- the role matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize("auth_mode", AUTH_MODES, ids=lambda a: a.name)
@pytest.mark.parametrize(("endpoint", "method"), _swept())
def test_role_matrix(endpoint, method, auth_mode):
    tenant = tenant_for(endpoint, "Sweep")
    auth = auth_mode(tenant)
    action = endpoint.action_for(method)
    url = tenant.url(endpoint.name)
    headers = endpoint.headers(tenant, tenant.va_a_child)
    problems: list[str] = []

    response = _request(APIClient(), method, url, headers)
    if response.status_code not in (401, 403):
        problems.append(f"anonymous: expected 401, got {describe(response)}")

    response = _request(auth.as_user(tenant.outsider), method, url, headers)
    if response.status_code != 404:
        problems.append(f"outsider: expected 404, got {describe(response)}")

    for role in ROLES_ASCENDING:
        response = _request(auth.as_role(tenant, role), method, url, headers)
        code = response.status_code
        if not may(role, action):
            if code != 403:
                problems.append(f"{role} (below {action}): expected 403, got {describe(response)}")
        elif code in (403, 404) or code >= 500:
            problems.append(f"{role} (may {action}): expected neither 403, 404 nor 5xx, got {describe(response)}")
        elif method != "get" and code < 300:
            # The write happened: the next role gets objects of its own.
            tenant.cache.clear()
            url = tenant.url(endpoint.name)
            headers = endpoint.headers(tenant, tenant.va_a_child)

    if endpoint.va_bound:
        outside = tenant.url(endpoint.name, va=tenant.va_b)
        outside_headers = endpoint.headers(tenant, tenant.va_b)
        for role in VA_SCOPED_ROLES:
            response = _request(auth.as_role(tenant, role), method, outside, outside_headers)
            allowed = (404,) if may(role, action) else (403, 404)
            if response.status_code not in allowed:
                problems.append(f"{role} on va_b's object ({outside}): expected 404, got {describe(response)}")

    assert not problems, f"{method.upper()} {endpoint.name} ({action}) with {auth.name}:\n" + "\n".join(problems)


# --- the cross-tenant sweep -----------------------------------------------------------------------


def _my_url_with_their_ids(endpoint, mine, theirs) -> str:
    kwargs = theirs.kwargs_for(endpoint.name, va=theirs.va_a_child)
    if "account_id" in kwargs:
        kwargs["account_id"] = mine.account.pk
    if "domain" in kwargs:
        kwargs["domain"] = mine.account.domain
    return reverse(endpoint.name, kwargs=kwargs)


@pytest.mark.parametrize("auth_mode", AUTH_MODES, ids=lambda a: a.name)
@pytest.mark.parametrize(("endpoint", "method"), _with_ids(account_endpoints() + cssm_endpoints()))
def test_own_account_with_another_tenants_ids_is_404(endpoint, method, auth_mode):
    mine = tenant_for(endpoint, "Mine")
    theirs = tenant_for(endpoint, "Theirs")
    auth = auth_mode(mine)
    action = endpoint.action_for(method)
    url = _my_url_with_their_ids(endpoint, mine, theirs)
    headers = endpoint.headers(mine, theirs.va_a_child)  # my account, their VA
    problems = []
    for role in ALL_ROLES:
        response = _request(auth.as_role(mine, role), method, url, headers)
        allowed = (404,) if may(role, action) else (403, 404)
        if response.status_code not in allowed:
            problems.append(f"{role}: expected 404, got {describe(response)}")
        text = response_text(response)
        problems += [f"{role}: the answer shows {s!r}" for s in theirs.secret_names if s in text]
    assert not problems, f"{method.upper()} {url} ({action}) with {auth.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("auth_mode", AUTH_MODES, ids=lambda a: a.name)
@pytest.mark.parametrize(("endpoint", "method"), _swept())
def test_another_tenants_account_is_404_for_everyone(endpoint, method, auth_mode):
    mine = tenant_for(endpoint, "Mine")
    theirs = tenant_for(endpoint, "Theirs")
    auth = auth_mode(mine)
    url = theirs.url(endpoint.name)
    headers = endpoint.headers(theirs, theirs.va_a_child)
    problems = []
    for role in ALL_ROLES:
        response = _request(auth.as_role(mine, role), method, url, headers)
        if response.status_code != 404:
            problems.append(f"{role}: expected 404, got {describe(response)}")
        text = response_text(response)
        problems += [f"{role}: the answer shows {s!r}" for s in theirs.secret_names if s in text]
    assert not problems, f"{method.upper()} {url} with {auth.name}:\n" + "\n".join(problems)


# --- endpoints outside one account ----------------------------------------------------------------


def _accountless():
    return [
        pytest.param(e, m, id=f"{m.upper()} {e.name}")
        for e in api_endpoints()
        if issubclass(e.view_class, ApiView) and not e.kwargs
        for m in e.methods
        if m == "get"
    ]


@pytest.mark.parametrize("auth_mode", AUTH_MODES, ids=lambda a: a.name)
@pytest.mark.parametrize(("endpoint", "method"), _accountless())
def test_lists_outside_an_account_show_only_ones_own(endpoint, method, auth_mode):
    tenant = build_tenant("Sweep")
    auth = auth_mode(tenant)
    url = reverse(endpoint.name)
    assert _request(APIClient(), method, url).status_code in (401, 403)
    response = _request(auth.as_user(tenant.outsider), method, url)
    assert response.status_code == 200, describe(response)
    text = response_text(response)
    assert not [s for s in tenant.secret_names if s in text], f"the outsider sees the tenant: {text[:300]}"
    for role in ALL_ROLES:
        response = _request(auth.as_role(tenant, role), method, url)
        assert response.status_code == 200, f"{role}: {describe(response)}"
        assert tenant.account.name in response_text(response), f"{role} does not see their account"


def _accountless_cssm():
    return [
        pytest.param(e, m, id=f"{m.upper()} {e.name}")
        for e in api_endpoints()
        if issubclass(e.view_class, AccountlessCssmView)
        for m in e.methods
    ]


@pytest.mark.parametrize("auth_mode", AUTH_MODES, ids=lambda a: a.name)
@pytest.mark.parametrize(("endpoint", "method"), _accountless_cssm())
def test_cisco_paths_without_an_account_show_nothing_of_another_tenant(endpoint, method, auth_mode):
    """The account lists and searches name no account in the URL: the outsider's answer names nothing of
    the tenant, and the tenant's people are answered (neither 403, 404 nor 5xx)."""
    tenant = build_tenant("Sweep")
    auth = auth_mode(tenant)
    url = reverse(endpoint.name)
    response = _request(auth.as_user(tenant.outsider), method, url)
    assert response.status_code < 500, describe(response)
    text = response_text(response)
    assert not [s for s in tenant.secret_names if s in text], f"the outsider sees the tenant: {text[:300]}"
    for role in ALL_ROLES:
        response = _request(auth.as_role(tenant, role), method, url)
        assert response.status_code not in (403, 404) and response.status_code < 500, f"{role}: {describe(response)}"
