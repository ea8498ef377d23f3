"""The accounts pages. `apply_validation_error` is shared with the other apps' views."""

from .accounts import AccountHomeView, AccountPropertiesView, AccountRequestView, HomeView, RequestAccessView
from .api_clients import ApiClientRevokeView, ApiClientsView
from .base import AccountActionView, apply_validation_error, error_text, safe_next
from .events import EventCsvView, EventLogView
from .people import (
    AccessRequestApproveView,
    AccessRequestDeclineView,
    AccessRequestsView,
    InvitationCancelView,
    InvitationResendView,
    MemberRemoveView,
    MemberView,
    UsersView,
)
from .signup import (
    ConfirmEmailView,
    InvitationView,
    LogOutAndContinueView,
    PasswordResetView,
    SignUpSentView,
    SignUpView,
)
from .virtual_accounts import (
    VirtualAccountDeleteView,
    VirtualAccountDetailView,
    VirtualAccountMakeDefaultView,
    VirtualAccountMoveView,
    VirtualAccountRenameView,
    VirtualAccountTreeView,
)

__all__ = [
    "ApiClientRevokeView",
    "ApiClientsView",
    "AccessRequestApproveView",
    "AccessRequestDeclineView",
    "AccessRequestsView",
    "AccountActionView",
    "AccountHomeView",
    "AccountPropertiesView",
    "AccountRequestView",
    "ConfirmEmailView",
    "EventCsvView",
    "EventLogView",
    "HomeView",
    "InvitationCancelView",
    "InvitationResendView",
    "InvitationView",
    "PasswordResetView",
    "LogOutAndContinueView",
    "MemberRemoveView",
    "MemberView",
    "RequestAccessView",
    "SignUpSentView",
    "SignUpView",
    "UsersView",
    "VirtualAccountDeleteView",
    "VirtualAccountDetailView",
    "VirtualAccountMakeDefaultView",
    "VirtualAccountMoveView",
    "VirtualAccountRenameView",
    "VirtualAccountTreeView",
    "apply_validation_error",
    "error_text",
    "safe_next",
]
