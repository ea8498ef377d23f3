"""URLs of the workflows that move licenses in or out of ordinary use: hand-overs, PAKs, reservations."""

from django.urls import path

from .views import handover, paks, reservations

ACCOUNT = "accounts/<id:account_id>/"
VA = ACCOUNT + "virtual-accounts/<id:va_id>/"
HAND_OVER = ACCOUNT + "hand-overs/<id:hand_over_id>/"
INCOMING = ACCOUNT + "incoming/<id:hand_over_id>/"
RESERVATION = ACCOUNT + "reservations/<id:reservation_id>/"

urlpatterns = [
    # A partner holding account: held orders, handing lines over, the hand-overs it made.
    path(ACCOUNT + "holdings/", handover.HeldOrdersView.as_view(), name="partner_holdings"),
    path(ACCOUNT + "holdings/transfer/", handover.TransferToCustomerView.as_view(), name="hand_over_create"),
    path(ACCOUNT + "hand-overs/", handover.OutgoingHandOversView.as_view(), name="hand_overs_outgoing"),
    path(HAND_OVER, handover.OutgoingHandOverDetailView.as_view(), name="hand_over_outgoing_detail"),
    path(HAND_OVER + "cancel/", handover.CancelHandOverView.as_view(), name="hand_over_cancel"),
    # A customer account: licenses partners handed over.
    path(ACCOUNT + "incoming/", handover.IncomingHandOversView.as_view(), name="hand_overs_incoming"),
    path(INCOMING, handover.IncomingHandOverDetailView.as_view(), name="hand_over_incoming_detail"),
    path(INCOMING + "accept/", handover.AcceptHandOverView.as_view(), name="hand_over_accept"),
    path(INCOMING + "decline/", handover.DeclineHandOverView.as_view(), name="hand_over_decline"),
    # PAK conversion.
    path(ACCOUNT + "paks/", paks.PakListView.as_view(), name="pak_list"),
    path(ACCOUNT + "paks/<id:pak_id>/", paks.PakConvertView.as_view(), name="pak_convert"),
    # License reservations.
    path(ACCOUNT + "reservations/", reservations.ReservationListView.as_view(), name="reservation_list"),
    path(VA + "reservations/", reservations.ReservationListView.as_view(), name="va_reservations"),
    path(ACCOUNT + "reservations/new/", reservations.ReservationStartView.as_view(), name="reservation_start"),
    path(VA + "reservations/new/", reservations.ReservationWizardView.as_view(), name="reservation_create"),
    path(RESERVATION, reservations.ReservationDetailView.as_view(), name="reservation_detail"),
    path(
        RESERVATION + "authorization-code.json",
        reservations.AuthorizationDownloadView.as_view(),
        name="reservation_authorization",
    ),
    path(RESERVATION + "update/", reservations.ReservationUpdateView.as_view(), name="reservation_update"),
    path(RESERVATION + "release/", reservations.ReservationReleaseView.as_view(), name="reservation_release"),
    path(RESERVATION + "remove/", reservations.ReservationRemoveView.as_view(), name="reservation_remove"),
    path(RESERVATION + "rehost/", reservations.ReservationRehostView.as_view(), name="reservation_rehost"),
]
