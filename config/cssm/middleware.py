"""Cisco API clients send `//services/api/...` and a doubled `/services/api/services/api/...` prefix.

The path is rewritten to the single prefix before URL resolution, so both reach the same view (and the
CommonMiddleware's slash handling never sees the doubled form).
"""

from __future__ import annotations

import re

PREFIX = "/services/api/"
_LEADING = re.compile(r"^/{2,}")


class CssmPathMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if "services/api/" in path[:40]:
            fixed = _LEADING.sub("/", path)
            while fixed.startswith(PREFIX + "services/api/"):
                fixed = fixed[len(PREFIX) - 1 :]
            if fixed != path:
                script = request.path[: len(request.path) - len(path)] if request.path.endswith(path) else ""
                request.path_info = fixed
                request.path = script + fixed
        return self.get_response(request)
