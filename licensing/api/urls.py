from django.urls import path

from . import handovers, paks, reservations
from .views import DeviceRegistrationView

ACCOUNT = "api/v1/accounts/<id:account_id>/"
HAND_OVER = ACCOUNT + "hand-overs/<id:hand_over_id>/"
PAK = ACCOUNT + "paks/<id:pak_id>/"
RESERVATION = ACCOUNT + "reservations/<id:reservation_id>/"

urlpatterns = [
    path("api/v1/devices/register/", DeviceRegistrationView.as_view(), name="api_device_register"),
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
