"""Tenant isolation and the permission matrix, declared once and applied to every URL.

`build_tenant()` makes a Smart Account with people in every role and scope:

    account  ── va_a ── va_a_child        admin / user / viewer: roles on the whole account
             └─ va_b                      va_user: User role on va_a (reaches va_a_child, not va_b)
             └─ DEFAULT                   outsider: no role here (an Admin of another account)

URL keyword arguments are filled by *builders*: `@builds("license_id")` registers a function
`(tenant, va) -> id` that creates (or finds) an object of the tenant inside `va` and returns the
value for that URL argument. Each area keeps its builders in `tests/<area>/builders.py`; they are
imported below. A URL whose argument has no builder fails the sweep with a message saying so.
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern

from smartaccounts.models import SmartAccount, User, VirtualAccount
from tests.factories import default_va, grant, make_account, make_user, make_va

BUILDER_MODULES = ["tests.smartaccounts.builders", "tests.licensing.builders", "tests.policy.builders"]
BUILDER_MODULES.append("tests.licensing.workflows.builders")
BUILDER_MODULES.append("tests.cssm.builders")

Builder = Callable[["Tenant", VirtualAccount], Any]
_builders: dict[str, Builder] = {}


def builds(kwarg: str) -> Callable[[Builder], Builder]:
    def register(fn: Builder) -> Builder:
        _builders[kwarg] = fn
        return fn

    return register


def load_builders() -> dict[str, Builder]:
    for name in BUILDER_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
    return _builders


@dataclass
class Tenant:
    account: SmartAccount
    admin: User
    user: User
    viewer: User
    va_user: User
    va_viewer: User
    outsider: User
    va_a: VirtualAccount
    va_a_child: VirtualAccount
    va_b: VirtualAccount
    default_va: VirtualAccount
    secret_names: list[str] = field(default_factory=list)
    cache: dict = field(default_factory=dict)  # builders keep what they made here

    def remember(self, *names: str) -> None:
        """Strings (names, serial numbers, …) that must never appear to someone without a role here."""
        self.secret_names.extend(n for n in names if n)

    def kwargs_for(self, url_name: str, va: VirtualAccount | None = None, **overrides) -> dict[str, Any]:
        va = va or self.va_a_child
        builders = load_builders()
        kwargs = {}
        for name in url_kwarg_names(url_name):
            if name in overrides:
                kwargs[name] = overrides[name]
                continue
            if name not in builders:
                raise LookupError(
                    f"URL {url_name!r} takes {name!r} but no builder makes one: add @builds({name!r}) "
                    "in tests/<area>/builders.py"
                )
            kwargs[name] = builders[name](self, va)
        return kwargs

    def url(self, url_name: str, va: VirtualAccount | None = None, **overrides) -> str:
        return reverse(url_name, kwargs=self.kwargs_for(url_name, va, **overrides))


def build_tenant(label: str = "Tenant") -> Tenant:
    token = secrets.token_hex(3)
    domain = f"{label.lower()}-{token}.example.com"
    admin = make_user(f"admin@{domain}")
    account = make_account(admin=admin, name=f"{label} {token} Industries", domain=domain)
    va_a = make_va(account, f"{label}-Engineering-{token}")
    va_a_child = make_va(account, f"{label}-Lab-{token}", parent=va_a)
    va_b = make_va(account, f"{label}-Finance-{token}")
    user = grant(make_user(f"user@{domain}"), "user", account=account)
    viewer = grant(make_user(f"viewer@{domain}"), "viewer", account=account)
    va_user = grant(make_user(f"va-user@{domain}"), "user", va=va_a)
    va_viewer = grant(make_user(f"va-viewer@{domain}"), "viewer", va=va_a)
    outsider_domain = f"outsider-{token}.example.net"
    outsider = make_user(f"admin@{outsider_domain}")
    make_account(admin=outsider, name=f"Outsider {token} Ltd", domain=outsider_domain)
    tenant = Tenant(
        account=account,
        admin=admin,
        user=user,
        viewer=viewer,
        va_user=va_user,
        va_viewer=va_viewer,
        outsider=outsider,
        va_a=va_a,
        va_a_child=va_a_child,
        va_b=va_b,
        default_va=default_va(account),
    )
    tenant.remember(account.name, va_a.name, va_a_child.name, va_b.name)
    return tenant


# --- URL discovery -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    pattern: str
    kwargs: tuple[str, ...]


def all_routes() -> list[Route]:
    """Every named URL of the project outside the Django admin."""
    routes: list[Route] = []

    def walk(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin":
                    continue
                ns = p.namespace or namespace
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern) and p.name:
                name = f"{namespace}:{p.name}" if namespace else p.name
                full = prefix + str(p.pattern)
                # Regex routes (the Cisco-compatible paths) name their kwargs as groups, not converters.
                own = tuple(p.pattern.converters.keys())
                if isinstance(p.pattern, RegexPattern):
                    own += tuple(p.pattern.regex.groupindex)
                routes.append(Route(name, full, own + _resolver_kwargs(prefix)))

    walk(get_resolver().url_patterns, "", None)
    return routes


def _resolver_kwargs(prefix: str) -> tuple[str, ...]:
    import re

    return tuple(re.findall(r"<(?:\w+:)?(\w+)>", prefix)) + tuple(re.findall(r"\(\?P<(\w+)>", prefix))


def url_kwarg_names(url_name: str) -> tuple[str, ...]:
    for route in all_routes():
        if route.name == url_name:
            return tuple(dict.fromkeys(route.kwargs))
    raise LookupError(f"No URL named {url_name!r}")


# --- The permission matrix -----------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One URL and method, and the least role it needs.

    `action`: view, operate or admin. `va_bound`: the URL addresses something inside a VA, so a
    VA-scoped user outside that VA's subtree must get 404. `account_admin`: the action needs the
    Admin role on the account itself (a VA-scoped Admin is not enough).
    """

    url_name: str
    method: str = "get"
    action: str = "view"
    va_bound: bool = False
    account_admin: bool = False
    data: dict | Callable[[Tenant, VirtualAccount], dict] | None = None
    ok: tuple[int, ...] = (200, 302)

    def __str__(self):
        return f"{self.method.upper()} {self.url_name}"


def _request(client, case: Case, url: str, data: dict):
    if case.method == "get":
        return client.get(url, data)
    return getattr(client, case.method)(url, data)


def _data(case: Case, tenant: Tenant, va: VirtualAccount) -> dict:
    if case.data is None:
        return {}
    return case.data(tenant, va) if callable(case.data) else dict(case.data)


def check_permission_matrix(client, case: Case, tenant: Tenant) -> None:
    """anonymous → login; no role → 404; too low a role → 403; outside a VA-scoped role → 404; enough → ok."""
    url = tenant.url(case.url_name, va=tenant.va_a_child)
    data = _data(case, tenant, tenant.va_a_child)

    client.logout()
    response = _request(client, case, url, data)
    assert response.status_code == 302 and "/login/" in response["Location"], (
        f"{case}: anonymous got {response.status_code}"
    )

    client.force_login(tenant.outsider)
    response = _request(client, case, url, data)
    assert response.status_code == 404, f"{case}: a user without a role got {response.status_code}"

    lower = {"view": None, "operate": tenant.viewer, "admin": tenant.user}[case.action]
    if lower is not None:
        client.force_login(lower)
        response = _request(client, case, url, data)
        assert response.status_code == 403, f"{case}: a role below {case.action} got {response.status_code}"

    if case.va_bound:
        outside_url = tenant.url(case.url_name, va=tenant.va_b)
        outside_data = _data(case, tenant, tenant.va_b)
        client.force_login(tenant.va_user)
        response = _request(client, case, outside_url, outside_data)
        assert response.status_code == 404, f"{case}: a VA-scoped user outside their subtree got {response.status_code}"
    if case.account_admin:
        client.force_login(tenant.va_user)
        response = _request(client, case, url, data)
        assert response.status_code in (403, 404), f"{case}: a VA-scoped user got {response.status_code}"

    enough = {"view": tenant.viewer, "operate": tenant.user, "admin": tenant.admin}[case.action]
    client.force_login(enough)
    response = _request(client, case, url, data)
    assert response.status_code in case.ok, f"{case}: {case.action} role got {response.status_code}"
    client.logout()


def response_text(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")
