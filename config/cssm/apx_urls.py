"""Cisco's newer "Software APIs" (`https://apx.cisco.com/v1/software/apis/...`), mounted at `v1/software/apis/`.

Same views and rules as the Smart Accounts & Licensing paths; trailing slash optional.
"""

from django.urls import re_path

from . import accounts, devices

D = r"(?P<domain>[^/]+)"

urlpatterns = [
    re_path(r"^pnp/v2/accounts/?$", accounts.ApxAccounts.as_view(), name="apx_accounts"),
    re_path(rf"^pnp/v2/accounts/{D}/virtual-accounts/?$", accounts.ApxVirtualAccounts.as_view(), name="apx_vas"),
    re_path(
        r"^accounts/v1/user/search-smart-accounts/?$",
        accounts.ApxUserSmartAccounts.as_view(),
        name="apx_user_smart_accounts",
    ),
    re_path(rf"^licensing/v2/accounts/{D}/devices/?$", devices.ApxDevices.as_view(), name="apx_devices"),
]

# Reservations (config/cssm/reservations.py).
from . import reservations  # noqa: E402

reservation_urls = [
    re_path(
        rf"^licensing/v2/account/{D}/virtual-account/(?P<va_name>[^/]+)/licenses/reserve/?$",
        reservations.ReserveLicensesView.as_view(),
        name="apx_reserve_licenses",
    ),
    re_path(r"^licensing/v1/search-slr-details/?$", reservations.SlrDetailsView.as_view(), name="apx_slr_details"),
]
urlpatterns += reservation_urls
