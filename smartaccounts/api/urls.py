"""`/api/v1/` endpoints of this app: accounts, Virtual Accounts, members and roles, the event log (docs/api.md)."""

from django.urls import path

from . import api_clients, views

V1 = "api/v1/"
A = V1 + "accounts/<id:account_id>/"
VA = A + "virtual-accounts/<id:va_id>/"
MEMBER = A + "members/<id:member_id>/"

urlpatterns = [
    path(V1 + "accounts/", views.AccountListView.as_view(), name="api_accounts"),
    path(A, views.AccountDetailView.as_view(), name="api_account"),
    path(A + "virtual-accounts/", views.VirtualAccountListView.as_view(), name="api_virtual_accounts"),
    path(A + "virtual-accounts/tree/", views.VirtualAccountTreeView.as_view(), name="api_virtual_account_tree"),
    path(VA, views.VirtualAccountDetailView.as_view(), name="api_virtual_account"),
    path(VA + "move/", views.VirtualAccountMoveView.as_view(), name="api_va_move"),
    path(VA + "make-default/", views.VirtualAccountMakeDefaultView.as_view(), name="api_va_make_default"),
    path(A + "members/", views.MemberListView.as_view(), name="api_members"),
    path(MEMBER, views.MemberDetailView.as_view(), name="api_member"),
    path(MEMBER + "roles/", views.MemberRoleView.as_view(), name="api_member_roles"),
    path(MEMBER + "revoke/", views.MemberRevokeView.as_view(), name="api_member_revoke"),
    path(A + "invitations/", views.InvitationListView.as_view(), name="api_invitations"),
    path(
        A + "invitations/<id:invitation_id>/resend/", views.InvitationResendView.as_view(), name="api_invitation_resend"
    ),
    path(
        A + "invitations/<id:invitation_id>/cancel/", views.InvitationCancelView.as_view(), name="api_invitation_cancel"
    ),
    path(A + "events/", views.EventListView.as_view(), name="api_events"),
    path(A + "events.csv", views.EventCsvView.as_view(), name="api_events_csv"),
    # API clients (api_clients.py).
    path(
        "api/v1/accounts/<id:account_id>/api-clients/",
        api_clients.ApiClientListView.as_view(),
        name="api_api_clients",
    ),
    path(
        "api/v1/accounts/<id:account_id>/api-clients/<id:api_client_id>/revoke/",
        api_clients.ApiClientRevokeView.as_view(),
        name="api_api_client_revoke",
    ),
]
