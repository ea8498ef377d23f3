from django.urls import include, path

from . import views

ACCOUNT = "accounts/<id:account_id>/"
VA = ACCOUNT + "virtual-accounts/<id:va_id>/"

urlpatterns = [
    # Licenses: the account roll-up and one VA (optionally with its subtree).
    path(ACCOUNT + "licenses/", views.LicensesView.as_view(), name="licenses"),
    path(ACCOUNT + "licenses/export.csv", views.LicensesView.as_view(csv=True), name="licenses_csv"),
    path(ACCOUNT + "licenses/<id:license_id>/", views.LicenseDetailView.as_view(), name="license_detail"),
    path(VA + "licenses/", views.LicensesView.as_view(), name="va_licenses"),
    path(VA + "licenses/export.csv", views.LicensesView.as_view(csv=True), name="va_licenses_csv"),
    path(VA + "licenses/<id:license_id>/", views.LicenseDetailView.as_view(), name="va_license_detail"),
    path(VA + "licenses/<id:license_id>/transfer/", views.LicenseTransferView.as_view(), name="license_transfer"),
    # Product instances.
    path(ACCOUNT + "instances/", views.InstancesView.as_view(), name="instances"),
    path(ACCOUNT + "instances/export.csv", views.InstancesView.as_view(csv=True), name="instances_csv"),
    path(ACCOUNT + "instances/transfer/", views.InstancesTransferView.as_view(), name="instances_transfer"),
    path(ACCOUNT + "instances/<id:instance_id>/", views.InstanceDetailView.as_view(), name="instance_detail"),
    path(ACCOUNT + "instances/<id:instance_id>/remove/", views.InstanceRemoveView.as_view(), name="instance_remove"),
    path(VA + "instances/", views.InstancesView.as_view(), name="va_instances"),
    path(VA + "instances/export.csv", views.InstancesView.as_view(csv=True), name="va_instances_csv"),
    # Registration tokens of a VA.
    path(VA + "tokens/", views.TokensView.as_view(), name="va_tokens"),
    path(VA + "tokens/<id:token_id>/revoke/", views.TokenRevokeView.as_view(), name="token_revoke"),
    # Compliance and orders.
    path(ACCOUNT + "compliance/", views.ComplianceView.as_view(), name="compliance"),
    path(ACCOUNT + "orders/", views.OrdersView.as_view(), name="orders"),
    path(ACCOUNT + "orders/<id:order_id>/", views.OrderDetailView.as_view(), name="order_detail"),
    # The device endpoint.
    path("", include("licensing.api.urls")),
    path("", include("licensing.urls_workflows")),
]
