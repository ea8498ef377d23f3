"""The API permission sweep: every API endpoint found by walking the URL resolver, the action each of its
methods declares, and what each role of `tests.isolation.build_tenant()` must get for it.

A role reaches `view` < `operate` < `admin`: Admin, User and Viewer on the account, and the VA-scoped User
and Viewer (on `va_a`, reaching `va_a_child`). The action of a method is the view's own declaration,
`view.action_for(method)` (`required_action`, `required_write_action`, `method_actions`), so the sweep
checks that what a view declares is what it does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from config.cssm.base import AccountlessCssmView, CssmView
from config.cssm.slup import SlupView
from smartaccounts.api.base import AccountApiView, ApiView

ACTION_LEVEL = {"view": 0, "operate": 1, "admin": 2}
# Each role of the tenant and the highest action it allows (VA-scoped roles within va_a's subtree).
ROLE_LEVEL = {"viewer": "view", "va_viewer": "view", "user": "operate", "va_user": "operate", "admin": "admin"}
VA_SCOPED_ROLES = ("va_user", "va_viewer")
# Least privileged first: a write that succeeds may change what the next role finds.
ROLES_ASCENDING = ("viewer", "va_viewer", "user", "va_user", "admin")
SWEPT_METHODS = ("get", "post", "put", "patch", "delete")

# URL kwargs that name nothing inside a Virtual Account: a VA-scoped role reaching the account reaches them,
# wherever the builder put them (a member is a person of the account, a PAK and an incoming hand-over belong
# to the account until converted or accepted into a VA; the Cisco account domain names the account).
# A license is a catalog product: its numbers are those of the VAs the caller sees (the detail of a license
# held in va_a and va_b shows a VA-scoped role va_a's part), so it is no VA's object either. `account_type`
# is the client's echo of the account's kind in a Cisco path.
NOT_VA_BOUND = {
    "account_id",
    "member_id",
    "invitation_id",
    "request_id",
    "pak_id",
    "hand_over_id",
    "license_id",
    "domain",
    "account_type",
}
# URL kwargs that are no object's id (the cross-tenant sweep puts another tenant's ids in the others).
NOT_IDS = {"account_id", "domain", "account_type"}

# API endpoints outside the sweep, each with the reason. Anything else under api/ or named api_* must be an
# AccountApiView, an ApiView or a Cisco view, or the sweep fails.
EXEMPT = {
    "api_schema": "The OpenAPI document: public, describes and grants nothing.",
    "api_docs": "The browsable API docs page: public, reads the OpenAPI document.",
    "api_device_register": "Devices register with a registration token in the body, not a portal role.",
    "api_usage_reports": "Devices push usage reports signed by their own certificates, not a portal role.",
    "api_change_notices": "Devices pull change notices with their own credentials, not a portal role.",
    "api_token": "The OAuth2 token endpoint: authenticates API clients by their credentials (tests/api/test_oauth.py).",
    "api_token_okta": "The same token endpoint at the path Okta-style clients use.",
    "api_clients": "The API clients page (HTML), in the pages' permission matrix and tenant sweeps.",
    "api_client_revoke": "The API clients page's revoke form (HTML), in the pages' permission matrix.",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    pattern: str
    kwargs: tuple[str, ...]
    view_class: type
    initkwargs: tuple

    def view(self):
        return self.view_class(**dict(self.initkwargs))

    @property
    def methods(self) -> tuple[str, ...]:
        view = self.view()
        return tuple(m for m in SWEPT_METHODS if m in view.http_method_names and hasattr(view, m))

    def action_for(self, method: str) -> str:
        return self.view().action_for(method.upper())

    @property
    def is_account_api(self) -> bool:
        return issubclass(self.view_class, AccountApiView)

    @property
    def is_cssm(self) -> bool:
        return issubclass(self.view_class, CssmView)

    @property
    def header_scoped(self) -> bool:
        """The account and VA are named by headers (the SLUP device flow's X-CSW-* headers), not the URL."""
        return issubclass(self.view_class, SlupView)

    def headers(self, tenant, va) -> dict[str, str]:
        if not self.header_scoped:
            return {}
        return {"X-CSW-SMART-ACCOUNT-ID": str(tenant.account.pk), "X-CSW-VIRTUAL-ACCOUNT-ID": str(va.pk)}

    @property
    def va_bound(self) -> bool:
        """The URL names something inside a Virtual Account (so a VA-scoped role outside it gets 404)."""
        return self.header_scoped or bool(set(self.kwargs) - NOT_VA_BOUND)

    @property
    def names_ids(self) -> bool:
        return self.header_scoped or bool(set(self.kwargs) - NOT_IDS)

    def __str__(self):
        return self.name


def _kwargs(pattern: str) -> tuple[str, ...]:
    # path() converters and re_path() groups (the Cisco-compatible paths).
    return tuple(dict.fromkeys(re.findall(r"<(?:\w+:)?(\w+)>", pattern)))


def all_endpoints() -> list[Endpoint]:
    """Every named URL of the project whose view is a class-based view, with its view class."""
    found: list[Endpoint] = []

    def walk(patterns, prefix: str, namespace: str | None):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin":
                    continue
                walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name:
                view_class = getattr(p.callback, "view_class", None) or getattr(p.callback, "cls", None)
                if view_class is None:
                    continue
                name = f"{namespace}:{p.name}" if namespace else p.name
                full = prefix + str(p.pattern)
                initkwargs = tuple(sorted((getattr(p.callback, "view_initkwargs", None) or {}).items()))
                found.append(Endpoint(name, full, _kwargs(full), view_class, initkwargs))

    walk(get_resolver().url_patterns, "", None)
    return found


def is_api(endpoint: Endpoint) -> bool:
    """An endpoint of the API: a DRF view, under api/ or the Cisco prefix, or named api_*."""
    return (
        issubclass(endpoint.view_class, APIView)
        or endpoint.pattern.startswith(("api/", "services/api/"))
        or endpoint.name.split(":")[-1].startswith("api_")
    )


SWEPT_BASES = (AccountApiView, ApiView, CssmView, AccountlessCssmView)


def api_endpoints() -> list[Endpoint]:
    return [e for e in all_endpoints() if is_api(e)]


def account_endpoints() -> list[Endpoint]:
    return [e for e in api_endpoints() if e.is_account_api]


def cssm_endpoints() -> list[Endpoint]:
    return [e for e in api_endpoints() if e.is_cssm]


def may(role: str, action: str) -> bool:
    return ACTION_LEVEL[ROLE_LEVEL[role]] >= ACTION_LEVEL[action]


def describe(response) -> str:
    body = getattr(response, "data", None)
    if body is None:
        body = response.content[:300]
    return f"{response.status_code} {body!r}"[:400]
