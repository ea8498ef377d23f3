"""Rate limits and the client address they are keyed on.

One function says who the client is (`client_address`): `REMOTE_ADDR`, or, behind
`TRUSTED_PROXY_COUNT` reverse proxies, the address the outermost of them saw, read from the right of
`X-Forwarded-For` (entries further left are whatever the client wrote and are never trusted). The
login lockout (django-axes) and every throttle use it; IPv6 clients are keyed on their /64 network,
which one client usually holds whole.

Throttles are Django REST framework's `SimpleRateThrottle`, rates from `settings.RATE_LIMITS` (read
per request, so an operator's or a test's setting applies at once). The API views list them in
`throttle_classes`; pages use `RateLimitedMixin`, which answers 429 with a page a person understands.
Counters live in the Django cache, which fails open (config/cache.py).
"""

from __future__ import annotations

import ipaddress
import logging
import math

from django.conf import settings
from django.shortcuts import render
from rest_framework.throttling import SimpleRateThrottle

__all__ = [
    "ApiClientThrottle",
    "ClientAddressThrottle",
    "DeviceRegistrationThrottle",
    "PakClaimAccountThrottle",
    "PakClaimAddressThrottle",
    "PakClaimUserThrottle",
    "PasswordResetThrottle",
    "RateLimitedMixin",
    "SignUpThrottle",
    "UsageReportThrottle",
    "client_address",
    "client_key",
    "lockout_response",
    "login_username",
]

logger = logging.getLogger(__name__)


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    # Some proxies write the client's port too: 203.0.113.7:51234, [2001:db8::7]:51234.
    host = text[1 : text.find("]")] if text.startswith("[") else text.rsplit(":", 1)[0] if text.count(":") == 1 else ""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def client_address(request) -> str:
    """The client's IP address as the portal's own edge saw it (see the module docstring).

    With `TRUSTED_PROXY_COUNT = n`, each trusted proxy appends the address it received the request from,
    so the client is the n-th entry from the right of X-Forwarded-For. A request with fewer entries did
    not come through the proxies, and an entry that is not an address is not trusted: REMOTE_ADDR then.
    """
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = settings.TRUSTED_PROXY_COUNT
    if count > 0:
        forwarded = [part for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= count:
            address = _parse_address(forwarded[-count])
            if address is not None:
                return str(address)
    parsed = _parse_address(remote)
    return str(parsed) if parsed is not None else remote


def client_key(request) -> str:
    """The address rate limits and the login lockout count against: the client address, or for IPv6 its /64."""
    address = client_address(request)
    parsed = _parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False).network_address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(parsed.ipv4_mapped)
    return address


# --- Throttles --------------------------------------------------------------------------------------------------


class ClientAddressThrottle(SimpleRateThrottle):
    """A limit per client address (`client_key`), its rate `settings.RATE_LIMITS[scope]` (None: no limit)."""

    scope = ""

    def get_rate(self):
        return settings.RATE_LIMITS[self.scope]

    def get_ident(self, request):
        return client_key(request)

    def key_for(self, request, view) -> str | None:
        return self.get_ident(request)

    def get_cache_key(self, request, view):
        ident = self.key_for(request, view)
        return None if ident is None else self.cache_format % {"scope": self.scope, "ident": ident}


class SignUpThrottle(ClientAddressThrottle):
    scope = "signup"


class PasswordResetThrottle(ClientAddressThrottle):
    scope = "password_reset"


class DeviceRegistrationThrottle(ClientAddressThrottle):
    scope = "device_registration"


class UsageReportThrottle(ClientAddressThrottle):
    """Usage reports and change notices share one budget per address."""

    scope = "usage_reports"


class PakClaimAddressThrottle(ClientAddressThrottle):
    scope = "pak_claim_address"


class PakClaimUserThrottle(ClientAddressThrottle):
    """PAK numbers entered by one login, wherever from."""

    scope = "pak_claim_user"

    def key_for(self, request, view):
        return f"user-{request.user.pk}" if request.user.is_authenticated else None


class PakClaimAccountThrottle(ClientAddressThrottle):
    """PAK numbers entered for one Smart Account, by all its people together."""

    scope = "pak_claim_account"

    def key_for(self, request, view):
        account = getattr(view, "smart_account", None)
        return f"account-{account.pk}" if account is not None else None


class ApiClientThrottle(ClientAddressThrottle):
    """The API's default limit: per API client (a Bearer token's), per person (the portal's session), else
    per address."""

    scope = "api"

    def key_for(self, request, view):
        token = getattr(request, "auth", None)
        application_id = getattr(token, "application_id", None)
        if application_id is not None:
            return f"client-{application_id}"
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user-{user.pk}"
        return self.get_ident(request)


# --- Pages ------------------------------------------------------------------------------------------------------


def _wait_text(seconds: float | None) -> str:
    seconds = max(1, math.ceil(seconds or 60))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def too_many_requests(request, *, what: str, wait_seconds: float | None, detail: str = ""):
    """The 429 page: what was limited, how long to wait, and what else the person can do."""
    response = render(
        request,
        "ratelimited.html",
        {"what": what, "wait": _wait_text(wait_seconds), "detail": detail},
        status=429,
    )
    response["Retry-After"] = str(max(1, math.ceil(wait_seconds or 60)))
    return response


class RateLimitedMixin:
    """A page whose POSTs count against `throttle_classes`; over a limit it answers 429 without running the view.

    `throttled_what` names what was attempted too often, for the page ("sign-up requests").
    """

    throttle_classes: tuple[type[ClientAddressThrottle], ...] = ()
    throttled_methods = frozenset({"POST"})
    throttled_what = "requests"
    throttled_detail = ""

    def dispatch(self, request, *args, **kwargs):
        if request.method in self.throttled_methods:
            throttles = [throttle_class() for throttle_class in self.throttle_classes]
            refused = [throttle for throttle in throttles if not throttle.allow_request(request, self)]
            if refused:
                wait = max((throttle.wait() or 0) for throttle in refused)
                logger.warning(
                    "Rate limit reached on %s (%s) for %s",
                    request.path,
                    ", ".join(t.scope for t in refused),
                    client_address(request),
                )
                return too_many_requests(
                    request, what=self.throttled_what, wait_seconds=wait, detail=self.throttled_detail
                )
        return super().dispatch(request, *args, **kwargs)


# --- Login lockout (django-axes) --------------------------------------------------------------------------------


def login_username(request, credentials: dict | None = None) -> str:
    """The login as the lockout counts it: e-mail addresses are case-insensitive here, so is the count."""
    source = credentials if credentials else getattr(request, "POST", {}) or {}
    return str(source.get("username") or "").strip().lower()


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out login gets (django-axes' AXES_LOCKOUT_CALLABLE), 429."""
    cool_off = settings.AXES_COOLOFF_TIME
    return too_many_requests(
        request,
        what="failed log-ins",
        wait_seconds=cool_off.total_seconds() if cool_off else None,
        detail=(
            f"After {settings.AXES_FAILURE_LIMIT} wrong passwords in a row, logging in as this user from your "
            "network is blocked for a while, even with the right password. This protects the login from "
            "password guessing. Each attempt before the wait is over starts it again. If you have forgotten your "
            "password, reset it; the new one works once the wait is over. An administrator of the portal can "
            "lift the block sooner."
        ),
    )
