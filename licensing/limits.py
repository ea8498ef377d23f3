"""The most licenses a count may hold: per device, and per license in a Smart Account.

Counts come from outside (a device's registration or report, an upload, a reservation), so they are
bounded before anything adds them up: a device registered with 2,147,483,572 licenses once pushed its
account's in-use total to the 32-bit limit, and every later registration of that license failed.

- `MAX_INSTANCE_USAGE`: licenses of one license a product instance uses (or a reservation holds for
  its device). The usage-report schema's `maximum`, the registration serializer, the services and a
  database constraint all say the same number.
- `MAX_ACCOUNT_USAGE`: licenses of one license a Smart Account has in use plus reserved, all its VAs
  together. The ledger checks it while it holds the account total's row lock (so it is exact under
  concurrent writers); the batch ingestion checks it report by report beforehand, so a report that
  would pass it is refused alone (`account_usage_limit`) and the others go on.

Purchased quantities are not bounded here (orders are imported by staff); the ledger's columns are
64-bit, so no sum of them can overflow.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

__all__ = [
    "MAX_ACCOUNT_USAGE",
    "MAX_INSTANCE_USAGE",
    "account_usage_refusal",
    "instance_usage_problem",
]

MAX_INSTANCE_USAGE = 1_000_000
MAX_ACCOUNT_USAGE = 1_000_000_000


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
