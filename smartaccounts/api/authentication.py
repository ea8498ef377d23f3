"""How API requests authenticate: an API client's OAuth2 Bearer token, or the portal's session (with CSRF).

`BearerAuthentication` (django-oauth-toolkit's DRF class) accepts a live token of a client that is not
revoked. The token acts as:
- the client's service identity (`client_credentials` grant), which holds the client's role;
- the person who signed in (`password` grant), limited by the client's role: the request runs under
  the client's `access.Ceiling`, which every permission check of `smartaccounts.access` applies.
Either way the events the request writes name the client (`services.events`), and the client's
`last_used_at` is kept (at most one write per client a minute). `CeilingMiddleware` clears the ceiling
when the request ends.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.settings import spectacular_settings
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from oauth2_provider.oauth2_backends import OAuthLibCore
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .. import access
from ..models import ApiClient
from .oauth import _load_client, ceiling_of

__all__ = ["BearerAuthentication", "CeilingMiddleware", "SessionAuthentication", "LAST_USED_RESOLUTION"]

LAST_USED_RESOLUTION = timedelta(minutes=1)


def touch(api_client: ApiClient) -> None:
    """Record that the client was used now, unless that was recorded less than a minute ago."""
    now = timezone.now()
    if api_client.last_used_at is not None and now - api_client.last_used_at < LAST_USED_RESOLUTION:
        return
    stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
    ApiClient.objects.filter(stale, pk=api_client.pk).update(last_used_at=now)
    api_client.last_used_at = now


class _HeaderOnlyCore(OAuthLibCore):
    """The token is read from the Authorization header only (RFC 9700: never from a URL or a body), so the
    request's body is left to the view's own parsers (a body it cannot parse is the view's 415, not ours)."""

    def extract_body(self, request):
        return []


class BearerAuthentication(OAuth2Authentication):
    """`Authorization: Bearer <token>` from the token endpoints (see the module docstring)."""

    www_authenticate_realm = "api"

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if header[:7].lower() != "bearer ":
            return None  # not ours: the session (or nobody) then
        valid, oauth_request = _HeaderOnlyCore().verify_request(request._request, scopes=[])
        if not valid:
            request.oauth2_error = getattr(oauth_request, "oauth2_error", {})
            raise AuthenticationFailed("The access token is invalid, expired or revoked.")
        user, token = oauth_request.user, oauth_request.access_token
        api_client = getattr(token.application, "api_client", None) or _load_client(token.application)
        if api_client is None or api_client.is_revoked:
            raise AuthenticationFailed("The API client has been revoked.")
        if user is None:  # client_credentials: the client's own identity
            user = api_client.service_user
        if not user.is_active:
            raise AuthenticationFailed("This account is deactivated.")
        access.set_ceiling(ceiling_of(api_client, user))
        touch(api_client)
        return user, token


class CeilingMiddleware:
    """Every request starts without an API client's ceiling and leaves none behind."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = access.set_ceiling(None)
        try:
            return self.get_response(request)
        finally:
            access.reset_ceiling(token)


class BearerScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI document describes Bearer tokens (drf-spectacular)."""

    target_class = "smartaccounts.api.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema):
        # OAuth2 flows (rather than a plain bearer scheme) so that the docs page's "Authorize" fetches a token.
        token = {"tokenUrl": spectacular_settings.OAUTH2_TOKEN_URL, "scopes": spectacular_settings.OAUTH2_SCOPES or {}}
        flows = {flow: dict(token) for flow in spectacular_settings.OAUTH2_FLOWS}
        return {
            "type": "oauth2",
            "description": "An API client's access token from POST /as/token.oauth2 (or /oauth2/default/v1/token), "
            "sent as `Authorization: Bearer <token>`.",
            "flows": flows,
        }
