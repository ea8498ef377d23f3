from django.urls import path

from . import views

A = "accounts/<id:account_id>/"
VA = A + "virtual-accounts/<id:va_id>/"

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    # Sign-up and invitations (no login needed)
    path("signup/", views.SignUpView.as_view(), name="signup"),
    path("signup/sent/", views.SignUpSentView.as_view(), name="signup_sent"),
    path("signup/confirm/<str:confirmation_token>/", views.ConfirmEmailView.as_view(), name="signup_confirm"),
    path("invitations/<str:invitation_token>/", views.InvitationView.as_view(), name="invitation_accept"),
    path("logout-and-continue/", views.LogOutAndContinueView.as_view(), name="logout_and_continue"),
    # Requesting an account, or access to one
    path("accounts/request/", views.AccountRequestView.as_view(), name="account_request"),
    path(A + "request-access/", views.RequestAccessView.as_view(), name="access_request_create"),
    # An account
    path(A, views.AccountHomeView.as_view(), name="account_home"),
    path(A + "properties/", views.AccountPropertiesView.as_view(), name="account_properties"),
    path(A + "virtual-accounts/", views.VirtualAccountTreeView.as_view(), name="virtual_accounts"),
    path(VA, views.VirtualAccountDetailView.as_view(), name="virtual_account"),
    path(VA + "rename/", views.VirtualAccountRenameView.as_view(), name="va_rename"),
    path(VA + "move/", views.VirtualAccountMoveView.as_view(), name="va_move"),
    path(VA + "delete/", views.VirtualAccountDeleteView.as_view(), name="va_delete"),
    path(VA + "make-default/", views.VirtualAccountMakeDefaultView.as_view(), name="va_make_default"),
    path(VA + "events/", views.EventLogView.as_view(), name="va_events"),
    path(VA + "events.csv", views.EventCsvView.as_view(), name="va_events_csv"),
    path(A + "events/", views.EventLogView.as_view(), name="account_events"),
    path(A + "events.csv", views.EventCsvView.as_view(), name="account_events_csv"),
    path(A + "users/", views.UsersView.as_view(), name="account_users"),
    path(A + "users/<id:member_id>/", views.MemberView.as_view(), name="account_member"),
    path(A + "users/<id:member_id>/remove/", views.MemberRemoveView.as_view(), name="account_member_remove"),
    path(A + "invitations/<id:invitation_id>/resend/", views.InvitationResendView.as_view(), name="invitation_resend"),
    path(A + "invitations/<id:invitation_id>/cancel/", views.InvitationCancelView.as_view(), name="invitation_cancel"),
    path(A + "access-requests/", views.AccessRequestsView.as_view(), name="access_requests"),
    path(A + "api-clients/", views.ApiClientsView.as_view(), name="api_clients"),
    path(A + "api-clients/<id:api_client_id>/revoke/", views.ApiClientRevokeView.as_view(), name="api_client_revoke"),
    path(
        A + "access-requests/<id:request_id>/approve/",
        views.AccessRequestApproveView.as_view(),
        name="access_request_approve",
    ),
    path(
        A + "access-requests/<id:request_id>/decline/",
        views.AccessRequestDeclineView.as_view(),
        name="access_request_decline",
    ),
]
