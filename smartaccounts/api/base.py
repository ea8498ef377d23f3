"""The base of every native API view (`/api/v1/...`): authentication, scope, action checks, pages.

- Authentication: the classes of `REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"]` (an OAuth2 Bearer
  token of an API client, or the portal's session with its CSRF check). Anonymous callers get 401.
- `AccountApiView`: every URL under `/api/v1/accounts/<account_id>/...`. The account (and the VA, when
  the URL has `va_id`) is resolved with `smartaccounts.mixins.AccountScopeMixin`, the same code the pages
  use: no role that reaches it is a 404, a role too low for the method's action a 403. The action of a
  method is `required_action` for GET/HEAD/OPTIONS and `required_write_action` for the others, unless
  `method_actions` names it (e.g. ``{"DELETE": "admin"}``). The permission sweep over every endpoint
  (tests/api) reads these declarations, so declare what the service will demand.
- Objects below the account are read through the permission-scoped selectors (`access.restrict`), so
  another tenant's or an unreachable VA's object is a 404 too; writes go through the services, whose
  ValidationError / PermissionDenied `config.api.exception_handler` turns into 400 / 403 in the one
  error shape `{"code", "detail", "fields"}`.
- Lists page with `CursorPage` (opaque `next`/`previous` links, stable under inserts).
"""

from __future__ import annotations

from rest_framework.generics import GenericAPIView

from ..mixins import SAFE_METHODS, AccountScopeMixin
from .pagination import CursorPage

__all__ = ["AccountApiView", "ApiView", "CursorPage"]


class ApiView(GenericAPIView):
    """An API view outside one account (the account list, the caller's own data)."""

    pagination_class = CursorPage


class AccountApiView(AccountScopeMixin, GenericAPIView):
    """An API view under `/api/v1/accounts/<account_id>/` (see the module docstring)."""

    pagination_class = CursorPage
    # {"METHOD": action} where a method needs another action than required_(write_)action.
    method_actions: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # authentication (401), throttles
        self.resolve_scope(request, kwargs)  # 404 / 403

    def action_for(self, method: str) -> str:
        method = method.upper()
        if method in self.method_actions:
            return self.method_actions[method]
        return self.required_action if method in SAFE_METHODS else self.required_write_action
