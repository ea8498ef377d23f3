"""How the OpenAPI document of the API (`/api/schema/`) is written.

- `ApiAutoSchema` (settings `DEFAULT_SCHEMA_CLASS`): drf-spectacular's, plus the error answers every
  operation can give, in the one shape of `config.api.exception_handler` (`ApiError`): 400 always; 401
  and 403 where the view needs a signed-in caller; 404 where the path names something; 429 where a
  throttle applies. A view that documents a code itself keeps its own.
The docs page is `config.api_docs.ApiDocsView`.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import AllowAny

ERROR_DESCRIPTIONS = {
    400: "Invalid input, or a rule of the service refused it.",
    401: "No credentials, or credentials the API does not accept (an expired or revoked token).",
    403: "The caller's role does not allow this.",
    404: "No such object the caller can reach.",
    429: "Too many requests: wait the seconds of the Retry-After header.",
}


class ApiAutoSchema(AutoSchema):
    def error_codes(self) -> list[int]:
        codes = [400]
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += [401, 403]
        if "{" in self.path:
            codes.append(404)
        if self.view.get_throttles():
            codes.append(429)
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        from smartaccounts.api.serializers import ErrorSerializer

        for code in self.error_codes():
            if str(code) not in responses:
                answer = OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code])
                responses[str(code)] = self._get_response_for_code(answer, str(code), direction=direction)
        return responses
