from django.urls import path

from . import handovers, holdings, instances, paks, reservations
from .views import DeviceRegistrationView

ACCOUNT = "api/v1/accounts/<id:account_id>/"
HAND_OVER = ACCOUNT + "hand-overs/<id:hand_over_id>/"
PAK = ACCOUNT + "paks/<id:pak_id>/"
RESERVATION = ACCOUNT + "reservations/<id:reservation_id>/"

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
    # Hand-overs, PAK conversion, reservations.
    path(ACCOUNT + "hand-overs/", handovers.HandOverListView.as_view(), name="api_hand_overs"),
    path(HAND_OVER, handovers.HandOverDetailView.as_view(), name="api_hand_over"),
    path(HAND_OVER + "accept/", handovers.HandOverAcceptView.as_view(), name="api_hand_over_accept"),
    path(HAND_OVER + "decline/", handovers.HandOverDeclineView.as_view(), name="api_hand_over_decline"),
    path(HAND_OVER + "cancel/", handovers.HandOverCancelView.as_view(), name="api_hand_over_cancel"),
    path(ACCOUNT + "paks/", paks.PakListView.as_view(), name="api_paks"),
    path(PAK, paks.PakDetailView.as_view(), name="api_pak"),
    path(PAK + "convert/", paks.PakConvertView.as_view(), name="api_pak_convert"),
    path(ACCOUNT + "reservations/", reservations.ReservationListView.as_view(), name="api_reservations"),
    path(RESERVATION, reservations.ReservationDetailView.as_view(), name="api_reservation"),
    path(RESERVATION + "update/", reservations.ReservationUpdateView.as_view(), name="api_reservation_update"),
    path(RESERVATION + "release/", reservations.ReservationReleaseView.as_view(), name="api_reservation_release"),
    path(RESERVATION + "rehost/", reservations.ReservationRehostView.as_view(), name="api_reservation_rehost"),
]
