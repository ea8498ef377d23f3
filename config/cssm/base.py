"""What every Cisco-compatible view shares: the envelope, lenient request bodies, names to objects, errors.

- `CssmView`: an API view under `/services/api/smart-accounts-and-licensing/...` (or the "Software APIs"
  base). The account is named by its domain (URL kwarg `domain`), a VA by its name (`va_name`); both are
  resolved by `smartaccounts.mixins.AccountScopeMixin`, the code the pages and the native API use, so the
  rules are the same: no role reaching them is a 404, a role too low for the method's action a 403
  (declare `required_action` / `required_write_action` / `method_actions` as on `AccountApiView`;
  `AccountlessCssmView` for paths without an account).
- Answers: `ok(payload, total=...)` writes `{"status": "SUCCESS", "statusMessage": ""}` plus the payload
  (plus `totalRecords` for lists), HTTP 200, compact JSON (`application/json`). Errors keep the envelope:
  `{"status": "ERROR", "statusMessage": <what to fix>, "errorCode": <the native API's code>}` with the
  native API's HTTP status (400/401/403/404/429), built from `config.api.exception_handler`'s answer.
- Bodies: `self.body` is the request's JSON object whatever the Content-Type says (a UTF-8 byte order mark
  is skipped); an empty body or the literal `null` (Ansible sends it on GETs and deletes) is `{}`; unknown
  keys are ignored by the views. Answers are JSON whatever the Accept header asks for (no 406).
- Values: `as_int` takes 1, "1", 1.0 and "1.0"; `as_bool` takes true/"true"/"yes"/"allowed"/...;
  `cisco_bool` writes "true"/"false" (clients compare strings); `iso_z` writes `2023-01-01T00:00:00Z`.
- `page(request, body)`: `limit`/`offset` from the body or the query string, or the defaults.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, QueryDict
from django.utils.functional import cached_property
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import exception_handler as api_exception_handler
from config.jsondoc import DocumentError, load_json
from smartaccounts import selectors
from smartaccounts.mixins import SAFE_METHODS, AccountScopeMixin
from smartaccounts.models import VirtualAccount
from smartaccounts.params import MAX_ID

__all__ = [
    "AccountlessCssmView",
    "CssmView",
    "MAX_LIMIT",
    "as_bool",
    "as_int",
    "cisco_bool",
    "envelope_error",
    "iso_z",
    "ok",
    "page",
]

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
_TRUE = {"true", "yes", "y", "1", "allowed", "on"}
_FALSE = {"false", "no", "n", "0", "not allowed", "notallowed", "off", ""}


def ok(payload: dict | None = None, *, total: int | None = None, status: str = "SUCCESS", http_status: int = 200):
    body = {"status": status, "statusMessage": ""}
    if total is not None:
        body["totalRecords"] = total
    body.update(payload or {})
    return Response(body, status=http_status)


def envelope_error(message: str, code: str = "invalid") -> dict:
    return {"status": "ERROR", "statusMessage": message, "errorCode": code}


def cssm_exception_handler(exc, context):
    """The native API's handler (one place for statuses, logging and rollback), its body in Cisco's envelope."""
    response = api_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data or {}
    message = data.get("detail", "")
    fields = data.get("fields") or {}
    if fields:
        message = " ".join([message, *(f"{name}: {' '.join(msgs)}" for name, msgs in fields.items())]).strip()
    response.data = envelope_error(message, data.get("code", "invalid"))
    return response


def as_int(value, field: str, *, minimum: int | None = None, maximum: int = MAX_ID) -> int:
    """An integer from a number or a numeric string of ASCII digits (clients send both); a clear error
    otherwise. Never past the largest bigint, so no value read here can overflow a query."""
    number = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.isascii():
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                as_float = float(text)
            except ValueError:
                as_float = None
            if as_float is not None and as_float.is_integer():
                number = int(as_float)
    if number is None:
        raise ValidationError({field: f"{field} must be a whole number."}, code="invalid")
    if minimum is not None and number < minimum:
        raise ValidationError({field: f"{field} must be at least {minimum}."}, code="invalid")
    if maximum is not None and number > maximum:
        raise ValidationError({field: f"{field} must be at most {maximum:,}."}, code="invalid")
    return number


def as_bool(value, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationError({field: f"{field} must be true or false."}, code="invalid")


def cisco_bool(value: bool) -> str:
    return "true" if value else "false"


def iso_z(value: dt.datetime | dt.date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.strftime("%Y-%m-%dT00:00:00Z")


def page(request, body: dict, *, default: int = DEFAULT_LIMIT) -> tuple[int, int]:
    """(limit, offset) from the body or the query string (Cisco.Api sends them in the query), else defaults."""
    limit = body.get("limit", request.query_params.get("limit"))
    offset = body.get("offset", request.query_params.get("offset"))
    limit = default if limit in (None, "") else as_int(limit, "limit", minimum=1, maximum=MAX_LIMIT)
    offset = 0 if offset in (None, "") else as_int(offset, "offset", minimum=0)
    return limit, offset


class _UnreadBody(BaseParser):
    """Accepts every Content-Type and leaves the body unread: `body` below reads it. DRF still asks a parser
    when something touches `request.data`/`request.POST` (the Bearer authentication does, looking for a
    token in a form body); with no parser that would be a 415, and a parser that read the stream would
    leave nothing for `body`."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return QueryDict()  # what `request.POST` readers (django-oauth-toolkit) expect of a form body


class _AlwaysJson(BaseContentNegotiation):
    """Cisco's API answers JSON whatever the Accept header says; scripts send `text/plain`, `application/xml`
    or a browser's list, and a 406 would stop them. The body is read by `body` (the parser is a stand-in)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class _CssmBase(APIView):
    schema = None  # Cisco's paths are documented by Cisco (CSSM_API.md), not in the native API's OpenAPI document
    renderer_classes = [JSONRenderer]
    parser_classes = [_UnreadBody]  # bodies are read by `body` below, whatever their Content-Type
    content_negotiation_class = _AlwaysJson

    def get_exception_handler(self):
        return cssm_exception_handler

    @cached_property
    def body(self) -> dict:
        raw = self.request._request.body
        if not raw.strip():
            return {}
        try:
            document = load_json(raw.decode("utf-8-sig"))  # a byte order mark (Windows tools write one) is no error
        except (UnicodeDecodeError, DocumentError) as error:
            raise ValidationError(f"The request body is not JSON: {error}", code="parse_error") from None
        if document is None:
            return {}
        if not isinstance(document, dict):
            raise ValidationError("The request body must be a JSON object.", code="invalid")
        return document


class AccountlessCssmView(_CssmBase):
    """A Cisco path that names no account (account searches, the SLUP device flow)."""


class CssmView(AccountScopeMixin, _CssmBase):
    """A Cisco path under `accounts/<domain>/...` (see the module docstring)."""

    method_actions: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.resolve_scope(request, kwargs)

    def account_lookup(self, kwargs) -> dict:
        return {"domain__iexact": kwargs["domain"]}

    def va_lookup(self, kwargs) -> dict | None:
        return {"name__iexact": kwargs["va_name"]} if "va_name" in kwargs else None

    def action_for(self, method: str) -> str:
        method = method.upper()
        if method in self.method_actions:
            return self.method_actions[method]
        return self.required_action if method in SAFE_METHODS else self.required_write_action

    def va_named(self, name, action: str = "view") -> VirtualAccount:
        """A VA of the account named in a body: 404 when the caller sees no such VA, 403 when their role
        there does not allow `action`."""
        if not isinstance(name, str) or not name.strip():
            raise ValidationError({"virtualAccount": "Name a Virtual Account."}, code="invalid")
        visible = selectors.virtual_accounts_for(self.request.user, self.smart_account, "view")
        va = visible.filter(name__iexact=name.strip()).first()
        if va is None:
            raise Http404("No such Virtual Account.")
        if (
            action != "view"
            and not selectors.virtual_accounts_for(self.request.user, self.smart_account, action)
            .filter(pk=va.pk)
            .exists()
        ):
            raise PermissionDenied("Your role does not allow this in that Virtual Account.")
        return va

    def vas_named(self, names: Iterable | None, action: str = "view") -> list[VirtualAccount]:
        """The VAs named in a body's `virtualAccounts` list; an empty or missing list means every VA the
        caller can `action` on (CiscoSE's dashboard sends `[]`)."""
        if names in (None, "", []):
            return list(selectors.virtual_accounts_for(self.request.user, self.smart_account, action))
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise ValidationError({"virtualAccounts": "Send a list of Virtual Account names."}, code="invalid")
        return [self.va_named(name, action) for name in names]
