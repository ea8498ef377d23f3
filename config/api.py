"""The JSON API's errors: one shape, `{"code": ..., "detail": ..., "fields": {...}}`, for every error.

- `code`: stable and machine-readable (`invalid`, `parse_error`, `too_deep`, `too_large`, a service's
  refusal code such as `token_expired`, ...); `detail`: a sentence a person can act on; `fields`:
  the messages per request field (empty when the error is not about one field).
- `exception_handler` (settings `REST_FRAMEWORK["EXCEPTION_HANDLER"]`) answers every exception an
  API view raises in that shape: DRF's own (parse errors, 405, 415, throttling), Django's
  ValidationError from a service (the HTTP status from the view's `status_for_code`, 400 by
  default), PermissionDenied, Http404, a body over `DATA_UPLOAD_MAX_MEMORY_SIZE` (413), and any
  other exception (500, logged with its traceback).
- `JSONParser` reads request bodies with `config.jsondoc.load_json` (bounded nesting, no NaN).
- `not_found`, `bad_request`, `server_error` (the project's `handler404/400/500`) answer paths under
  /api/ in the same shape, the Cisco-compatible paths in Cisco's envelope, and every other path with
  Django's pages.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.signals import got_request_exception
from django.http import Http404, JsonResponse
from django.utils.log import log_response
from django.views import defaults
from rest_framework import exceptions, parsers, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from licensing.identifiers import printable
from smartaccounts.views import errors as pages

from .jsondoc import DocumentError, load_json

__all__ = [
    "API_PREFIX",
    "JSONParser",
    "bad_request",
    "error_body",
    "exception_handler",
    "not_found",
    "server_error",
    "validation_error_body",
]

API_PREFIX = "/api/"
logger = logging.getLogger(__name__)


# A lone UTF-16 surrogate: a JSON body may carry one (escaped), and a message that echoes the value (DRF's
# "is not a valid choice", a service naming what it did not find) could then not be encoded as UTF-8.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _showable(text):
    return _SURROGATE.sub("\ufffd", text) if isinstance(text, str) else text


def error_body(code: str, detail: str, fields: dict | None = None) -> dict:
    fields = {
        name: [_showable(m) for m in messages] if isinstance(messages, list) else _showable(messages)
        for name, messages in (fields or {}).items()
    }
    return {"code": code, "detail": _showable(detail), "fields": fields}


def validation_error_body(error: DjangoValidationError) -> dict:
    """A service's refusal: its code (a `Refusal`'s reason, or the first code given), its messages, its fields."""
    code = getattr(error, "reason", None) or getattr(error, "code", None)
    fields = {}
    if hasattr(error, "error_dict"):
        fields = {name: [str(m) for e in errors for m in e.messages] for name, errors in error.error_dict.items()}
        if code is None:
            code = next((e.code for errors in error.error_dict.values() for e in errors if e.code), None)
    elif code is None and hasattr(error, "error_list"):
        code = next((e.code for e in error.error_list if e.code), None)
    return error_body(code or "invalid", " ".join(error.messages), fields)


def _messages(detail, prefix: str = "") -> list[str]:
    """A field's messages as flat text. Nested errors (a DictField names the key it refuses, and the key
    is the client's) are prefixed with the key, made printable: it may hold anything."""
    if isinstance(detail, dict):
        return [m for key, value in detail.items() for m in _messages(value, f"{prefix}{printable(str(key), 80)}: ")]
    if isinstance(detail, list):
        return [m for value in detail for m in _messages(value, prefix)]
    return [prefix + str(detail)]


def _drf_body(exc: exceptions.APIException) -> dict:
    detail, codes = exc.detail, exc.get_codes()
    if isinstance(detail, dict):
        fields = {printable(str(name), 80): _messages(messages) for name, messages in detail.items()}
        return error_body("invalid", "The request is not valid.", fields)
    if isinstance(detail, list):
        first = codes[0] if codes and isinstance(codes[0], str) else "invalid"
        return error_body(first, " ".join(str(m) for m in detail))
    code = codes if isinstance(codes, str) else exc.default_code
    return error_body(code, str(detail))


def _too_large() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_body(
        "too_large",
        f"The request body is larger than {limit:,} bytes, the most the portal reads. Send fewer reports per request.",
    )


def exception_handler(exc, context):
    """Every error of the API as a JSON answer in the one shape (see the module's docstring)."""
    view = context.get("view")
    request = context.get("request")
    headers = {}
    if isinstance(exc, RequestDataTooBig):
        body, http_status = _too_large(), status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    elif isinstance(exc, DjangoValidationError):
        body = validation_error_body(exc)
        http_status = getattr(view, "status_for_code", {}).get(body["code"], status.HTTP_400_BAD_REQUEST)
    elif isinstance(exc, PermissionDenied):
        body, http_status = error_body("permission_denied", str(exc) or "You may not do this."), 403
    elif isinstance(exc, Http404):
        body, http_status = error_body("not_found", "Not found."), 404
    elif isinstance(exc, SuspiciousOperation):
        body, http_status = error_body("bad_request", "The request is not one the portal accepts."), 400
    elif isinstance(exc, exceptions.APIException):
        body, http_status = _drf_body(exc), exc.status_code
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
    else:
        # A bug: the client gets JSON, the log gets the traceback, and anything listening for
        # request exceptions (error reporting, the test client) hears of it.
        response = Response(
            error_body("server_error", "The portal could not process this request. It has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )
        if request is not None:
            raw = getattr(request, "_request", request)
            log_response("Internal Server Error: %s", raw.path, response=response, request=raw, exception=exc)
            got_request_exception.send(sender=None, request=raw)
        set_rollback()
        return response
    set_rollback()
    return Response(body, status=http_status, headers=headers)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading with `load_json`: bounded nesting, NaN and Infinity refused.

    A view whose body holds several documents (a batch of reports) sets `caps_nesting = True`: nesting
    past the bound then refuses only the document holding it (`config.jsondoc`, `cap=True`)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        cap = getattr(parser_context.get("view"), "caps_nesting", False)
        encoding = parsers.get_encoding(parser_context)
        raw = stream.read() if stream is not None else b""
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The request body is not {encoding} text.", code="parse_error") from None
        try:
            return load_json(text, cap=cap)
        except DocumentError as error:
            raise exceptions.ParseError(str(error), code=error.code) from None


# --- Django's error views, in JSON under /api/ and the Cisco-compatible paths ----------------------------

# Cisco's API clients (Ansible's `uri`, scripts) read only JSON answers: an unknown path, an unreadable
# request or a crash under these prefixes answers in Cisco's envelope, not with an HTML page.
CISCO_PREFIXES = ("/services/api/", "/v1/software/apis/")


def _is_api(request) -> bool:
    return request.path.startswith(API_PREFIX) or request.path.startswith(CISCO_PREFIXES)


def _json_error(request, body: dict, status: int) -> JsonResponse:
    if request.path.startswith(CISCO_PREFIXES):
        from config.cssm.base import envelope_error  # the Cisco layer imports this module

        body = envelope_error(body["detail"], body["code"])
    return JsonResponse(body, status=status)


def not_found(request, exception=None):
    if _is_api(request):
        return _json_error(request, error_body("not_found", "There is no API endpoint at this address."), 404)
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None):
    if _is_api(request):
        if isinstance(exception, RequestDataTooBig):
            return _json_error(request, _too_large(), 413)
        return _json_error(request, error_body("bad_request", "The request is not one the portal accepts."), 400)
    return pages.bad_request(request, exception)


def server_error(request):
    if _is_api(request):
        body = error_body("server_error", "The portal could not process this request. It has been logged.")
        return _json_error(request, body, 500)
    return defaults.server_error(request)
