"""Balance and instance locks (rules 1 and 4 of the package docstring)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction

from .. import queries
from ..models import LicenseAccountTotal, LicenseBalance, ProductInstance


class LockedBalances(dict):
    """The locked balance rows, keyed by (virtual_account_id, license_id); `totals` holds what the locked
    account totals had in use and reserved, keyed by (smart_account_id, license_id) (empty when not locked)."""

    totals: dict[tuple[int, int], tuple[int, int]]


def _require_transaction(name: str) -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"{name} must run inside transaction.atomic().")


def lock_balances(pairs: Iterable[tuple[int, int, int]], *, totals: bool = True) -> LockedBalances:
    """Create missing balance rows and lock every requested one, in primary-key order.

    `pairs`: (smart_account_id, virtual_account_id, license_id) triples. Returns the locked
    rows keyed by (virtual_account_id, license_id). Then the per-account totals of those
    licenses are created and locked, unless `totals=False` (rule 1: a transfer inside one account);
    what they hold in use and reserved is in the result's `totals`.
    On PostgreSQL the insert of missing rows and the locking read go in one round trip (`licensing.queries`).
    """
    _require_transaction("lock_balances")
    wanted = sorted({(int(a), int(v), int(lic)) for a, v, lic in pairs}, key=lambda t: (t[1], t[2]))
    locked = LockedBalances()
    locked.totals = {}
    if not wanted:
        return locked
    names = [f.attname for f in LicenseBalance._meta.concrete_fields]
    rows = queries.create_and_lock(
        [LicenseBalance(smart_account_id=a, virtual_account_id=v, license_id=lic) for a, v, lic in wanted],
        names,
        ("virtual_account_id", "license_id"),
    )
    for row in rows:
        balance = LicenseBalance.from_db(connection.alias, names, row)
        locked[(balance.virtual_account_id, balance.license_id)] = balance
    missing = {(v, lic) for _, v, lic in wanted} - locked.keys()
    if missing:  # pragma: no cover - would mean the insert above failed silently
        raise RuntimeError(f"Balance rows could not be created for {sorted(missing)}")
    if totals:
        locked.totals = _lock_totals({(a, lic) for a, _, lic in wanted})
    return locked


def _lock_totals(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """Create and lock the per-account totals of (account, license) pairs, after the balances, in pk order.
    Returns what each has in use and reserved."""
    wanted = sorted(pairs)
    rows = queries.create_and_lock(
        [LicenseAccountTotal(smart_account_id=account, license_id=lic) for account, lic in wanted],
        ("smart_account_id", "license_id", "in_use", "reserved"),
        ("smart_account_id", "license_id"),
    )
    return {(account, lic): (in_use, reserved) for account, lic, in_use, reserved in rows}


def lock_instances(ids: Iterable[int]) -> dict[int, ProductInstance]:
    """Lock product instance rows in primary-key order and return them fresh from the database.

    Take these locks before `lock_balances` (rule 4). The rows are re-read, so the caller sees
    the VA and status another transaction may have committed a moment ago.
    """
    _require_transaction("lock_instances")
    wanted = sorted({int(pk) for pk in ids})
    if not wanted:
        return {}
    rows = ProductInstance.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    return {row.pk: row for row in rows}
