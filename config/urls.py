from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from smartaccounts.api.oauth import TokenView
from smartaccounts.views import PasswordResetView

from . import views
from .api_docs import ApiDocsView

# A request a page cannot read (a damaged page cursor, a forged host): 400 in the portal's layout.

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on every page, the admin's too: it is a static file.
    path("favicon.ico", views.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    # The device API's OpenAPI document (YAML; ?format=json for JSON). It describes, it grants nothing.
    path("api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api_schema"),
    # The browsable docs of that document (Swagger UI from static/vendor/swagger-ui).
    path("api/docs/", ApiDocsView.as_view(permission_classes=[AllowAny]), name="api_docs"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password/change/", auth_views.PasswordChangeView.as_view(), name="password_change"),
    path("password/change/done/", auth_views.PasswordChangeDoneView.as_view(), name="password_change_done"),
    path("password/reset/", PasswordResetView.as_view(), name="password_reset"),
    path("password/reset/sent/", auth_views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path(
        "password/reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("password/reset/complete/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    # OAuth2 token endpoints for API clients, at the paths of Cisco's two identity services.
    path("as/token.oauth2", TokenView.as_view(), name="api_token"),
    path("oauth2/default/v1/token", TokenView.as_view(), name="api_token_okta"),
    # The native JSON API (docs/api.md). licensing.api.urls is included by licensing.urls.
    path("", include("smartaccounts.api.urls")),
    path("", include("policy.api.urls")),
    # Cisco's Smart Accounts & Licensing API paths, for scripts written against it (config/cssm).
    path("services/api/smart-accounts-and-licensing/", include("config.cssm.urls")),
    # Cisco's "Software APIs" paths (apx.cisco.com/v1/software/apis/...).
    path("v1/software/apis/", include("config.cssm.apx_urls")),
    path("", include("smartaccounts.urls")),
    path("", include("licensing.urls")),
    path("", include("policy.urls")),
]

# Errors Django answers itself (no such URL, a refused request, a crash): JSON under /api/, pages elsewhere.
handler400 = "config.api.bad_request"
handler404 = "config.api.not_found"
handler500 = "config.api.server_error"
