"""The per-account totals of a license (`LicenseAccountTotal`) and their count of short VAs.

A VA is *short* of a license when its balance is below zero: purchased < in use + reserved
(`is_short` for a row in memory, `SHORT` for a query). Every balance change moves the account's
total by the same amounts and its `short_vas` by the VAs that became (or stopped being) short;
`total_changes` computes that for a set of balance changes, and both the ORM path (`bump`) and
the statements of `licensing.queries` apply what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Count, F, Q, Sum

from ..models import LicenseAccountTotal, LicenseBalance

SHORT = Q(purchased__lt=F("in_use") + F("reserved"))


def is_short(balance: LicenseBalance) -> bool:
    return balance.purchased < balance.in_use + balance.reserved


def total_changes(changes: Iterable[tuple[LicenseBalance, dict[str, int]]]) -> dict[tuple[int, int], dict[str, int]]:
    """Apply `changes` ((balance, {field: delta})) to the balances in memory and return what moves in each
    account total, keyed by (smart_account_id, license_id): the same deltas summed, plus `short_vas`."""
    moved: dict[tuple[int, int], dict[str, int]] = {}
    for balance, deltas in changes:
        was_short = is_short(balance)
        for field, delta in deltas.items():
            setattr(balance, field, getattr(balance, field) + delta)
        total = moved.setdefault((balance.smart_account_id, balance.license_id), {})
        for field, delta in {**deltas, "short_vas": int(is_short(balance)) - int(was_short)}.items():
            total[field] = total.get(field, 0) + delta
    return {key: {k: v for k, v in deltas.items() if v} for key, deltas in moved.items()}


def bump(balance: LicenseBalance, **deltas: int) -> None:
    """Apply deltas to a locked balance row, in the database and in memory, and to its account total."""
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    LicenseBalance.objects.filter(pk=balance.pk).update(**{k: F(k) + v for k, v in deltas.items()})
    for (account, license_id), moved in total_changes([(balance, deltas)]).items():
        if moved:
            LicenseAccountTotal.objects.filter(smart_account_id=account, license_id=license_id).update(
                **{k: F(k) + v for k, v in moved.items()}
            )


def rebuild_account_totals(*, smart_account_ids: Iterable[int] | None = None) -> int:
    """Recompute the per-account totals from the balances (all accounts, or those given).

    For bulk loaders that write balances without the ledger (benchmark estates, imports from
    another system); ordinary writers never need it. Locks the accounts' total rows while it
    works. Returns the number of total rows written. (Migration 0009 keeps its own frozen copy, as
    migrations must: it runs against the models as they were then.)
    """
    with transaction.atomic():
        balances = LicenseBalance.objects.order_by()
        totals = LicenseAccountTotal.objects.all()
        if smart_account_ids is not None:
            ids = list(smart_account_ids)
            balances, totals = balances.filter(smart_account_id__in=ids), totals.filter(smart_account_id__in=ids)
        list(totals.select_for_update().order_by("pk").values_list("pk"))
        totals.delete()
        rows = balances.values("smart_account_id", "license_id").annotate(
            p=Sum("purchased"), u=Sum("in_use"), r=Sum("reserved"), s=Count("pk", filter=SHORT)
        )
        made = LicenseAccountTotal.objects.bulk_create(
            [
                LicenseAccountTotal(
                    smart_account_id=row["smart_account_id"],
                    license_id=row["license_id"],
                    purchased=row["p"] or 0,
                    in_use=row["u"] or 0,
                    reserved=row["r"] or 0,
                    short_vas=row["s"] or 0,
                )
                for row in rows.iterator()
            ],
            batch_size=2000,
        )
    return len(made)
