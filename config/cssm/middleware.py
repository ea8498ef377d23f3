"""Cisco API clients send `//services/api/...` and a doubled `/services/api/services/api/...` prefix.

The path is rewritten to the single prefix before URL resolution, so both reach the same view (and the
CommonMiddleware's slash handling never sees the doubled form). Leading slashes are collapsed on the other
entry points of Cisco's hosts too (the token endpoints, the "Software APIs" base): a script whose base
URL ends in `/` sends `//as/token.oauth2`. Other paths are left alone.
"""

from __future__ import annotations

PREFIX = "/services/api/"
CISCO_ROOTS = ("services/api/", "v1/software/apis/", "as/token.oauth2", "oauth2/default/v1/token")


class CssmPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        fixed = path
        if path.startswith("//") and path.lstrip("/").startswith(CISCO_ROOTS):
            fixed = "/" + path.lstrip("/")
        while fixed.startswith(PREFIX + "services/api/"):
            fixed = fixed[len(PREFIX) - 1 :]
        if fixed != path:
            script = request.path[: len(request.path) - len(path)] if request.path.endswith(path) else ""
            request.path_info = fixed
            request.path = script + fixed
        return self.get_response(request)
