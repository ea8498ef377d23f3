from django.urls import path

from . import holdings, instances
from .views import DeviceRegistrationView

ACCOUNT = "api/v1/accounts/<id:account_id>/"

urlpatterns = [
    path("api/v1/devices/register/", DeviceRegistrationView.as_view(), name="api_device_register"),
    # Licenses, lots and license transfers (holdings.py).
    path(ACCOUNT + "licenses/", holdings.LicensesApiView.as_view(), name="api_licenses"),
    path(ACCOUNT + "licenses/<id:license_id>/", holdings.LicenseDetailApiView.as_view(), name="api_license_detail"),
    path(ACCOUNT + "lots/", holdings.LotsApiView.as_view(), name="api_lots"),
    path(ACCOUNT + "license-transfers/", holdings.LicenseTransfersApiView.as_view(), name="api_license_transfers"),
    # Product instances, registration tokens and instance transfers (instances.py).
    path(ACCOUNT + "product-instances/", instances.ProductInstancesApiView.as_view(), name="api_product_instances"),
    path(
        ACCOUNT + "product-instances/<id:instance_id>/",
        instances.ProductInstanceDetailApiView.as_view(),
        name="api_product_instance_detail",
    ),
    path(ACCOUNT + "instance-transfers/", instances.InstanceTransfersApiView.as_view(), name="api_instance_transfers"),
    path(
        ACCOUNT + "registration-tokens/",
        instances.RegistrationTokensApiView.as_view(),
        name="api_registration_tokens",
    ),
    path(
        ACCOUNT + "registration-tokens/<id:token_id>/",
        instances.RegistrationTokenDetailApiView.as_view(),
        name="api_registration_token_detail",
    ),
    path(
        ACCOUNT + "registration-tokens/<id:token_id>/revoke/",
        instances.RegistrationTokenRevokeApiView.as_view(),
        name="api_registration_token_revoke",
    ),
]
