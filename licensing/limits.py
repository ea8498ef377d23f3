"""The most licenses the portal takes in and counts: per order line, per device and per license in a Smart Account.

Quantities and counts come from outside (an order file, the admin, a PAK, a hand-over, a device's
registration or report, an upload, a reservation), so they are bounded before anything adds them up: a
device registered with 2,147,483,572 licenses once pushed its account's in-use total to the 32-bit limit,
and every later registration of that license failed.

- Coming in: a line gives at most MAX_LINE_UNITS × MAX_LICENSES_PER_UNIT = 10**9 licenses, and no Smart
  Account holds more than MAX_LICENSES_PER_ACCOUNT of one license however many lines add up. The models
  carry the per-line maxima as validators and database constraints; `refuse_past_account_maximum` is
  called by every service that brings licenses into an account (orders, PAK conversions, hand-overs).
- In use: `MAX_INSTANCE_USAGE` licenses of one license per product instance (or per reservation, which
  is for one device): the usage-report schema's `maximum`, the registration serializer, the services and
  a database constraint all say the same number. `MAX_ACCOUNT_USAGE` licenses of one license in use plus
  reserved in a Smart Account, all its VAs together: the ledger checks it while it holds the account
  total's row lock (exact under concurrent writers); the batch ingestion checks it report by report
  beforehand, so a report that would pass it is refused alone (`account_usage_limit`).

The ledger's columns are 64-bit besides, so no sum of them can overflow.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

__all__ = [
    "MAX_ACCOUNT_USAGE",
    "MAX_INSTANCE_USAGE",
    "MAX_LICENSES_PER_ACCOUNT",
    "MAX_LICENSES_PER_UNIT",
    "MAX_LINE_NUMBER",
    "MAX_LINE_UNITS",
    "account_usage_refusal",
    "instance_usage_problem",
    "refuse_past_account_maximum",
]

MAX_INSTANCE_USAGE = 1_000_000
MAX_ACCOUNT_USAGE = 1_000_000_000
MAX_LINE_UNITS = 1_000_000  # units of a SKU on one order line or one PAK line
MAX_LICENSES_PER_UNIT = 1_000  # licenses one unit of a SKU gives
MAX_LINE_NUMBER = 1_000_000  # an order's line numbers
MAX_LICENSES_PER_ACCOUNT = 1_000_000_000  # purchased, of one license in one Smart Account, over all its VAs


def instance_usage_problem(count, what: str) -> str | None:
    """Why `count` cannot be a device's count of `what` (None when it can)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        return f"The count of {what} must be a whole number, 0 or more."
    if count > MAX_INSTANCE_USAGE:
        return f"The count of {what} is {count}; a device uses at most {MAX_INSTANCE_USAGE:,} of one license."
    return None


def account_usage_refusal(license_name: str, in_use: int, increase: int) -> ValidationError:
    """The refusal of an `increase` that would take an account's in-use total of a license past the maximum."""
    return ValidationError(
        f"{license_name}: the account has {in_use:,} in use or reserved, and {increase:,} more would pass the "
        f"most one Smart Account may use of one license ({MAX_ACCOUNT_USAGE:,}).",
        code="account_usage_limit",
    )


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
