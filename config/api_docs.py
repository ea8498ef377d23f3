"""The browsable docs page of the OpenAPI document: `/api/docs/`, Swagger UI from the vendored static files
(static/vendor/swagger-ui, swagger-ui-dist with its licence), its start-up script served as a script of its
own (no inline script, so a strict Content-Security-Policy holds)."""

from __future__ import annotations

from django.templatetags.static import static
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """The browsable API docs page. SWAGGER_UI_DIST and SWAGGER_UI_FAVICON_HREF are paths of static files,
    resolved through the static storage (hashed names in production); never a CDN."""

    url_name = "api_schema"
    title = "Smart Accounts API"

    @staticmethod
    def _swagger_ui_resource(filename):
        return static(f"{spectacular_settings.SWAGGER_UI_DIST}/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        return static(spectacular_settings.SWAGGER_UI_FAVICON_HREF)
