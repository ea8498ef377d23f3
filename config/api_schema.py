"""What the OpenAPI document (`/api/schema/`, the docs page `/api/docs/`) describes."""

from django.templatetags.static import static
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.views import SpectacularSwaggerSplitView

CSSM_PREFIX = "/services/api/"


def native_api_only(endpoints):
    """drf-spectacular preprocessing hook: the native API and the device endpoints; not the Cisco-compatible
    paths, whose bodies follow Cisco's API (CSSM_API.md) rather than this document."""
    return [endpoint for endpoint in endpoints if not endpoint[0].startswith(CSSM_PREFIX)]


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
