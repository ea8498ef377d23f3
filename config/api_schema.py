"""The browsable docs page of the OpenAPI document (`/api/schema/`): `/api/docs/`."""

from django.templatetags.static import static
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularSwaggerSplitView


class ApiDocsView(SpectacularSwaggerSplitView):
    """The browsable API docs page: Swagger UI from the vendored static files, its start-up script served
    as a script of its own (no inline script). SWAGGER_UI_DIST and SWAGGER_UI_FAVICON_HREF are paths of the
    static files, resolved through the static storage (hashed names in production)."""

    url_name = "api_schema"
    title = "Smart Accounts API"

    @staticmethod
    def _swagger_ui_resource(filename):
        return static(f"{spectacular_settings.SWAGGER_UI_DIST}/{filename}")

    @staticmethod
    def _swagger_ui_favicon():
        return static(spectacular_settings.SWAGGER_UI_FAVICON_HREF)
