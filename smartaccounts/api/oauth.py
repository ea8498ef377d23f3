"""OAuth2 for API clients (django-oauth-toolkit): the token endpoints and the rules of our clients.

Token endpoints: `POST /as/token.oauth2` and `POST /oauth2/default/v1/token` (the paths of Cisco's two
identity services). Scripts written for Cisco's API send their fields in every way seen in the wild, and
all of them are accepted here before django-oauth-toolkit does the OAuth2 work:
- a form body, with or without a Content-Type, URL-encoded or built by string formatting (a value with a
  `%` that is not an escape is taken as written);
- the fields in the query string with an empty body (a field in both places: the body wins);
- HTTP Basic client authentication with only `grant_type` in the body.

Grants: `client_credentials` (the token acts as the client's service identity, which holds the client's
role) and `password` (a portal user's e-mail address and password, with the login lockout; the token acts
as that person, limited by the client's role: see `smartaccounts.access.Ceiling`). The answer is
`{"access_token", "token_type": "Bearer", "expires_in"}` (the lifetime in seconds); errors are
`{"error", "error_description"}` with 400, or 401 for a client that failed to authenticate. No refresh
tokens: a script asks for a new token. Tokens and secrets are stored hashed. A revoked client gets no
token, and the tokens it holds are refused.
"""

from __future__ import annotations

import json
import math
import re
from urllib.parse import unquote_plus

from django.core.exceptions import ObjectDoesNotExist
from django.http import HttpResponse, JsonResponse, QueryDict
from django.utils.datastructures import MultiValueDict
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.oauth2_validators import OAuth2Validator
from oauth2_provider.views import TokenView as DotTokenView

from .. import access
from ..ratelimits import ClientAddressThrottle

__all__ = ["ApiClientValidator", "ApiTokenThrottle", "TokenView", "GRANT_TYPES", "parse_token_fields"]

GRANT_TYPES = ("client_credentials", "password")

_ERROR_TEXT = {
    "invalid_client": "The client id or secret is wrong, or the client has been revoked.",
    "invalid_grant": "The e-mail address or password is wrong, or that person holds no role within the client's scope.",
    "unsupported_grant_type": "Use grant_type client_credentials or password.",
    "invalid_request": "The request lacks a field the grant needs (grant_type, client_id, client_secret, "
    "username, password).",
}


def _client_of(application):
    """The API client behind a django-oauth-toolkit Application (None: not one of ours)."""
    try:
        return application.api_client
    except ObjectDoesNotExist:
        return None


def ceiling_of(api_client, user) -> access.Ceiling:
    """The most `user` may do through `api_client`: its role, on its account or its VA's subtree."""
    return access.Ceiling.of(
        user,
        api_client.smart_account_id,
        api_client.role,
        virtual_account=api_client.virtual_account,
        client_name=api_client.name,
    )


def _load_client(application):
    """The API client of a token's Application with what the request needs (one query), cached on it."""
    from ..models import ApiClient

    api_client = (
        ApiClient.objects.select_related("service_user", "smart_account", "virtual_account")
        .filter(application_id=application.pk)
        .first()
    )
    if api_client is not None:
        application.api_client = api_client
    return api_client


class ApiClientValidator(OAuth2Validator):
    """django-oauth-toolkit's validator with our clients' rules (settings OAUTH2_PROVIDER)."""

    def _load_application(self, client_id, request):
        application = super()._load_application(client_id, request)
        if application is None:
            return None
        api_client = _client_of(application)
        if api_client is None or api_client.is_revoked:
            request.client = None
            return None
        return application

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in GRANT_TYPES and _client_of(client) is not None

    def validate_user(self, username, password, client, request, *args, **kwargs):
        """A person signing in through a client (login lockout included) who holds a role within its scope."""
        if not super().validate_user(username, password, client, request, *args, **kwargs):
            return False
        user, api_client = request.user, _client_of(client)
        if api_client is None or is_service_identity(user):
            request.user = None
            return False
        with access.under_ceiling(ceiling_of(api_client, user)):
            holds = access.account_roles(user, api_client.smart_account).strongest is not None
        if not holds:
            request.user = None
        return holds

    def save_bearer_token(self, token, request, *args, **kwargs):
        token.pop("refresh_token", None)  # scripts ask for a new token; no refresh tokens are kept
        super().save_bearer_token(token, request, *args, **kwargs)
        token.pop("refresh_token", None)

    def validate_bearer_token(self, token, scopes, request):
        if not super().validate_bearer_token(token, scopes, request):
            return False
        api_client = _load_client(request.access_token.application)
        if api_client is None or api_client.is_revoked:
            request.oauth2_error = {"error": "invalid_token", "error_description": "The API client has been revoked."}
            return False
        return True


def is_service_identity(user) -> bool:
    """Whether `user` is an API client's service identity (which never signs in with a password)."""
    try:
        return user.api_client is not None
    except ObjectDoesNotExist:
        return False


class ApiTokenThrottle(ClientAddressThrottle):
    """Token requests per client address (settings RATE_LIMITS["api_token"])."""

    scope = "api_token"


# --- the token endpoint ---------------------------------------------------------------------------------

_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def _value(text: str) -> str:
    """A form value: URL-decoded, unless it holds a `%` that is no escape (a body built by string formatting)."""
    return text if _BAD_ESCAPE.search(text) else unquote_plus(text)


def parse_token_fields(body: bytes, query: str) -> dict[str, str]:
    """The fields of a token request: the body (form fields, however written, or a JSON object), then any
    field only the query string has."""
    fields: dict[str, str] = {}
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        if isinstance(data, dict):
            fields.update({str(k): str(v) for k, v in data.items() if isinstance(v, str | int)})
            text = ""
    for part in text.split("&") if text else []:
        key, _, value = part.partition("=")
        key = unquote_plus(key).strip()
        if key and key not in fields:
            fields[key] = _value(value)
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        key = unquote_plus(key).strip()
        if key and key not in fields:
            fields[key] = _value(value)
    return fields


def _oauth_error(error: str, status: int, description: str = "") -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description or _ERROR_TEXT[error]}, status=status)
    response["Cache-Control"] = "no-store"
    return response


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(DotTokenView):
    """`POST /as/token.oauth2`, `POST /oauth2/default/v1/token`: see the module docstring."""

    http_method_names = ["post", "options"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        """A GET (a script that lost its method on a redirect, a browser) gets an OAuth error, in JSON."""
        response = _oauth_error("invalid_request", 405, "The token endpoint takes POST requests only.")
        response["Allow"] = "POST, OPTIONS"
        return response

    def post(self, request, *args, **kwargs):
        throttle = ApiTokenThrottle()
        if not throttle.allow_request(request, self):
            wait = max(1, math.ceil(throttle.wait() or 60))
            response = _oauth_error(
                "invalid_request", 429, f"Too many token requests from your address: try again in {wait} seconds."
            )
            response["Retry-After"] = str(wait)
            return response
        if (request.content_type or "").startswith("multipart/"):
            fields = {key: request.POST[key] for key in request.POST}
        else:
            fields = parse_token_fields(request.body, request.META.get("QUERY_STRING", ""))
        form = QueryDict(mutable=True)
        for key, value in fields.items():
            form[key] = value
        # django-oauth-toolkit reads request.POST; oauthlib refuses query parameters on a token request.
        request._post, request._files = form, MultiValueDict()
        request.META["QUERY_STRING"] = ""
        request.GET = QueryDict()
        if not fields.get("grant_type"):
            return _oauth_error("invalid_request", 400, "grant_type is missing: use client_credentials or password.")
        if fields["grant_type"] not in GRANT_TYPES:
            return _oauth_error("unsupported_grant_type", 400)
        return self._answer(self.authorization_flow_token_response(request, *args, **kwargs))

    def _answer(self, response: HttpResponse) -> HttpResponse:
        """oauthlib's answer in the shape our clients read: three keys on success, two on error."""
        try:
            data = json.loads(response.content or b"{}")
        except ValueError:
            data = {}
        if response.status_code == 200 and "access_token" in data:
            body = {
                "access_token": data["access_token"],
                "token_type": "Bearer",
                "expires_in": data.get("expires_in"),
            }
            answer = JsonResponse(body, status=200)
            answer["Cache-Control"] = "no-store"
            answer["Pragma"] = "no-cache"
            return answer
        error = data.get("error") or "invalid_request"
        if error == "invalid_client":
            answer = _oauth_error("invalid_client", 401)
            answer["WWW-Authenticate"] = 'Basic realm="api"'
            return answer
        if error == "unauthorized_client":
            return _oauth_error("unsupported_grant_type", 400)
        if error == "invalid_grant":
            return _oauth_error("invalid_grant", 400)  # never says which of the two was wrong
        return _oauth_error(
            error if error in _ERROR_TEXT else "invalid_request", 400, str(data.get("error_description") or "")
        )
