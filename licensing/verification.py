"""Recomputing the ledger: every lot from its entries, every balance from lots, usage and reservations.

`verify_ledger()` is what the `verify_ledger` command and the tests run. It also checks the
per-account totals against the balances they sum. Each check is a
set-based query (grouped sums), per account, so it scales with the number of rows, not queries.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce

from smartaccounts.models import SmartAccount, VirtualAccount

from .models import (
    LedgerEntry,
    License,
    LicenseAccountTotal,
    LicenseBalance,
    LicenseLot,
    ProductInstance,
    ProductInstanceUsage,
)

Key = tuple[int, int]  # (virtual_account_id, license_id)


@dataclass(frozen=True)
class Difference:
    check: str  # lot, purchased, in_use, reserved, account, total
    message: str

    def __str__(self) -> str:
        return self.message


def _entry_sum(kinds) -> Subquery:
    return Subquery(
        LedgerEntry.objects.filter(lot=OuterRef("pk"), kind__in=kinds)
        .order_by()
        .values("lot")
        .annotate(total=Sum("quantity"))
        .values("total")
    )


def _lot_differences(account_id: int | None) -> list[Difference]:
    lots = LicenseLot.objects.all() if account_id is None else LicenseLot.objects.filter(smart_account_id=account_id)
    found = []
    checked = lots.annotate(
        from_entries=Coalesce(_entry_sum(LedgerEntry.LOT_KINDS), 0),
        expired_entries=Coalesce(_entry_sum([LedgerEntry.Kind.EXPIRY]), 0),
    ).filter(~Q(quantity=F("from_entries")) | ~Q(expired_quantity=-F("expired_entries")))
    for lot in checked.select_related("license", "virtual_account").order_by("pk"):
        where = f"lot {lot.pk} ({lot.license.name} in {lot.virtual_account.name if lot.virtual_account else 'transit'})"
        if lot.quantity != lot.from_entries:
            found.append(
                Difference("lot", f"{where}: holds {lot.quantity}, its ledger entries add up to {lot.from_entries}.")
            )
        if lot.expired_quantity != -lot.expired_entries:
            found.append(
                Difference(
                    "lot",
                    f"{where}: says {lot.expired_quantity} expired, its expiry entries say {-lot.expired_entries}.",
                )
            )
    wrong_account = lots.filter(virtual_account__isnull=False).exclude(
        smart_account_id=F("virtual_account__smart_account_id")
    )
    for lot in wrong_account.select_related("virtual_account").order_by("pk"):
        found.append(Difference("account", f"lot {lot.pk} is in {lot.virtual_account.name} of another account."))
    return found


def _grouped(queryset, va_field: str, license_field: str, value: str) -> dict[Key, int]:
    rows = queryset.order_by().values(va_field, license_field).annotate(total=Sum(value))
    return {(r[va_field], r[license_field]): r["total"] or 0 for r in rows if r[va_field] is not None}


def _balance_differences(account_id: int) -> list[Difference]:
    lots = _grouped(
        LicenseLot.objects.filter(smart_account_id=account_id, virtual_account__isnull=False),
        "virtual_account_id",
        "license_id",
        "quantity",
    )
    usage = _grouped(
        ProductInstanceUsage.objects.filter(product_instance__smart_account_id=account_id).exclude(
            product_instance__status=ProductInstance.Status.REMOVED
        ),
        "product_instance__virtual_account_id",
        "license_id",
        "count",
    )
    reserved = _grouped(
        LedgerEntry.objects.filter(smart_account_id=account_id, kind__in=LedgerEntry.RESERVED_KINDS),
        "virtual_account_id",
        "license_id",
        "quantity",
    )
    balances = {
        (va, lic): (purchased, in_use, held)
        for va, lic, purchased, in_use, held in LicenseBalance.objects.filter(smart_account_id=account_id).values_list(
            "virtual_account_id", "license_id", "purchased", "in_use", "reserved"
        )
    }
    problems: list[tuple[Key, str, str]] = []
    for key in sorted(set(lots) | set(usage) | set(reserved) | set(balances)):
        purchased, in_use, held = balances.get(key, (0, 0, 0))
        stored = "has no balance row" if key not in balances else None
        for check, have, want, source in (
            ("purchased", purchased, lots.get(key, 0), "its lots hold"),
            ("in_use", in_use, usage.get(key, 0), "its product instances use"),
            ("reserved", held, reserved.get(key, 0), "its reservation entries add up to"),
        ):
            if have != want:
                text = stored or f"{check.replace('_', ' ')} is {have}"
                problems.append((key, check, f"{text}, {source} {want}"))
    if not problems:
        return []
    names = dict(VirtualAccount.objects.filter(pk__in={k[0] for k, _, _ in problems}).values_list("pk", "name"))
    licenses = dict(License.objects.filter(pk__in={k[1] for k, _, _ in problems}).values_list("pk", "name"))
    return [
        Difference(check, f"{names.get(va, f'VA {va}')} / {licenses.get(lic, f'license {lic}')}: {text}.")
        for (va, lic), check, text in problems
    ]


def _total_differences(account_id: int) -> list[Difference]:
    """The per-account totals against the sums of the balances they materialise."""
    sums = {
        row["license_id"]: (row["p"] or 0, row["u"] or 0, row["r"] or 0, row["s"] or 0)
        for row in LicenseBalance.objects.filter(smart_account_id=account_id)
        .order_by()
        .values("license_id")
        .annotate(
            p=Sum("purchased"),
            u=Sum("in_use"),
            r=Sum("reserved"),
            s=Count("pk", filter=Q(purchased__lt=F("in_use") + F("reserved"))),
        )
    }
    totals = {
        lic: (p, u, r, short)
        for lic, p, u, r, short in LicenseAccountTotal.objects.filter(smart_account_id=account_id).values_list(
            "license_id", "purchased", "in_use", "reserved", "short_vas"
        )
    }
    labels = ("purchased", "in use", "reserved", "Virtual Accounts short")
    problems = []
    for lic in sorted(set(sums) | set(totals)):
        have, want = totals.get(lic, (0, 0, 0, 0)), sums.get(lic, (0, 0, 0, 0))
        for label, a, b in zip(labels, have, want, strict=True):
            if a != b:
                problems.append((lic, f"the account total says {label} {a}, its Virtual Accounts add up to {b}"))
    if not problems:
        return []
    names = dict(License.objects.filter(pk__in={lic for lic, _ in problems}).values_list("pk", "name"))
    return [Difference("total", f"{names.get(lic, f'license {lic}')}: {text}.") for lic, text in problems]


def _reserved_usage(account_id: int) -> list[Difference]:
    rows = ProductInstanceUsage.objects.filter(
        product_instance__smart_account_id=account_id, product_instance__status=ProductInstance.Status.RESERVED
    ).select_related("product_instance", "license")
    return [
        Difference(
            "in_use",
            f"{row.product_instance} is reserved but has usage of {row.license.name}: "
            "reserved licenses count through reservations, not usage.",
        )
        for row in rows
    ]


def verify_ledger(*, smart_account: SmartAccount | None = None) -> list[Difference]:
    """Every difference between the stored lots and balances and what the entries, usage and reservations say.

    Empty when the ledger is consistent.
    """
    account_ids = (
        [smart_account.pk]
        if smart_account is not None
        else list(SmartAccount.objects.order_by("pk").values_list("pk", flat=True))
    )
    differences = _lot_differences(smart_account.pk if smart_account else None)
    for account_id in account_ids:
        differences += _balance_differences(account_id)
        differences += _total_differences(account_id)
        differences += _reserved_usage(account_id)
    return differences
