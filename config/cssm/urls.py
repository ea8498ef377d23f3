"""Routes under `/services/api/smart-accounts-and-licensing/` (see the package docstring).

Clients send paths with and without a trailing slash, POSTs included: every route takes both (`/?$`),
so no redirect ever answers a POST. An account is named by its domain, a VA by its name (URL-encoded).
"""

from django.urls import re_path

from . import accounts, devices, licenses, tokens

D = r"(?P<domain>[^/]+)"
VA = r"(?P<va_name>[^/]+)"
ACCOUNT = rf"^v1/accounts/{D}"
IN_VA = rf"{ACCOUNT}/virtual-accounts/{VA}"

urlpatterns = [
    re_path(r"^v2/accounts/?$", accounts.AccountsV2.as_view(), name="cssm_v2_accounts"),
    re_path(r"^v2/accounts/search/?$", accounts.AccountSearchV2.as_view(), name="cssm_v2_account_search"),
    re_path(r"^v1/accounts/search/?$", accounts.AccountSearchV1.as_view(), name="cssm_v1_account_search"),
    re_path(rf"{ACCOUNT}/virtual-accounts/?$", accounts.VirtualAccounts.as_view(), name="cssm_virtual_accounts"),
    re_path(rf"{IN_VA}/delete/?$", accounts.VirtualAccountDelete.as_view(), name="cssm_va_delete"),
    re_path(rf"{IN_VA}/tokens/?$", tokens.Tokens.as_view(), name="cssm_tokens"),
    re_path(rf"{IN_VA}/tokens/revoke/?$", tokens.TokenRevoke.as_view(), name="cssm_token_revoke"),
    re_path(rf"{IN_VA}/devices/?$", devices.VaDevices.as_view(), name="cssm_va_devices"),
    re_path(rf"{IN_VA}/devices/transfer/?$", devices.DeviceTransfer.as_view(), name="cssm_device_transfer"),
    re_path(rf"{IN_VA}/devices/remove/?$", devices.DeviceRemove.as_view(), name="cssm_device_remove"),
    re_path(rf"{IN_VA}/licenses/transfer/?$", licenses.LicenseTransfer.as_view(), name="cssm_license_transfer"),
    re_path(rf"{ACCOUNT}/licenses/?$", licenses.Licenses.as_view(), name="cssm_licenses"),
    re_path(rf"{ACCOUNT}/license-subscriptions/?$", licenses.LicenseSubscriptions.as_view(), name="cssm_subscriptions"),
    re_path(rf"{ACCOUNT}/devices/?$", devices.Devices.as_view(), name="cssm_devices"),
    # `{d}/customer/virtual-accounts` (abhaskar) and `{d}/{accountType}/virtual-accounts` (catalyst9k): the
    # account type in the path is the client's echo of `accountType`; the list is the same.
    re_path(
        rf"{ACCOUNT}/(?P<account_type>[A-Za-z_-]+)/virtual-accounts/?$",
        accounts.VirtualAccounts.as_view(http_method_names=["get", "head", "options"]),
        name="cssm_typed_virtual_accounts",
    ),
]

# Reservations, the SLUP device flow and device-led conversion (config/cssm/reservations.py, slup.py, dlc.py).
from . import dlc, reservations, slup  # noqa: E402

reservation_urls = [
    re_path(
        rf"^v[12]/accounts/{D}/virtual-accounts/{VA}/reserve-licenses/?$",
        reservations.ReserveLicensesView.as_view(),
        name="cssm_reserve_licenses",
    ),
    re_path(rf"{ACCOUNT}/dlc_convert/?$", dlc.DlcConvertView.as_view(), name="cssm_dlc_convert"),
    re_path(r"^v2/devices/authrequest/?$", slup.AuthRequestView.as_view(), name="cssm_slup_authrequest"),
    re_path(r"^v2/devices/reportusage/?$", slup.ReportUsageView.as_view(), name="cssm_slup_reportusage"),
    re_path(r"^v2/accounts/poll/?$", slup.PollView.as_view(), name="cssm_slup_poll"),
    re_path(r"^v3/licenses/summary/?$", slup.LicenseSummaryView.as_view(), name="cssm_slup_license_summary"),
]
urlpatterns += reservation_urls
