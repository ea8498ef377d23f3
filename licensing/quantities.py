"""The largest quantities of licenses the portal takes in, and the check that keeps an account under them.

They keep every ledger column far inside a 32-bit integer whatever arrives (an order file, the admin, a
PAK, a hand-over): a line gives at most MAX_LINE_UNITS × MAX_LICENSES_PER_UNIT = 10**9 licenses, and
no Smart Account holds more than MAX_LICENSES_PER_ACCOUNT of one license however many lines add up.
The models carry the per-line maxima as validators and database constraints; `refuse_past_account_maximum`
is called by every service that brings licenses into an account (orders, PAK conversions, hand-overs).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

__all__ = [
    "MAX_LICENSES_PER_ACCOUNT",
    "MAX_LICENSES_PER_UNIT",
    "MAX_LINE_NUMBER",
    "MAX_LINE_UNITS",
    "refuse_past_account_maximum",
]

MAX_LINE_UNITS = 1_000_000  # units of a SKU on one order line or one PAK line
MAX_LICENSES_PER_UNIT = 1_000  # licenses one unit of a SKU gives
MAX_LINE_NUMBER = 1_000_000  # an order's line numbers
MAX_LICENSES_PER_ACCOUNT = 1_000_000_000  # of one license in one Smart Account, over all its VAs


def refuse_past_account_maximum(*, smart_account, added: dict, what: str) -> None:
    """Raise ValidationError when adding `added` ({License: licenses}) would take the account's purchased
    total of a license past MAX_LICENSES_PER_ACCOUNT. Call it after `ledger.lock_balances` (which locks the
    account totals), so no concurrent deposit slips in between the check and the write. `what` names the
    source in the message ("Order SO-1", "PAK 3PAK-…")."""
    from .models import LicenseAccountTotal  # the models import the maxima above

    added = {license: quantity for license, quantity in added.items() if quantity}
    if not added:
        return
    have = dict(
        LicenseAccountTotal.objects.filter(smart_account_id=smart_account.pk, license__in=list(added)).values_list(
            "license_id", "purchased"
        )
    )
    problems = [
        f"{what} would bring {smart_account.name} to {have.get(license.pk, 0) + quantity:,} {license.name} "
        f"licenses; an account holds at most {MAX_LICENSES_PER_ACCOUNT:,} of one license."
        for license, quantity in sorted(added.items(), key=lambda item: item[0].name)
        if have.get(license.pk, 0) + quantity > MAX_LICENSES_PER_ACCOUNT
    ]
    if problems:
        raise ValidationError(problems)
