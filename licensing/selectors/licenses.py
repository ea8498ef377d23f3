"""Licenses in a scope: the roll-up of materialised balances, alerts from lots, and one license's details.

The summary is one grouped query over `LicenseBalance` (the per-VA totals the ledger keeps in
the same transaction as every movement), so an account of thousands of VAs answers with a
single aggregate over an index, whatever the number of lots, entries or devices behind it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from smartaccounts.db import scalar
from smartaccounts.models import SmartAccount

from ..models import (
    LedgerEntry,
    License,
    LicenseAccountTotal,
    LicenseBalance,
    LicenseLot,
    ProductInstance,
    ProductInstanceUsage,
)
from .scope import LicensingScope

__all__ = [
    "ALERT_CHOICES",
    "EXPIRED_SHOWN_DAYS",
    "AlertCounts",
    "LicenseAlerts",
    "LicenseRow",
    "SORTS",
    "license_detail",
    "license_families",
    "license_in_scope",
    "license_alert_counts",
    "license_rows",
    "license_summary_counts",
    "lots_in_scope",
]

EXPIRED_SHOWN_DAYS = 90  # an expiry stays on the licenses page this long
EXPIRING_TIERS = (30, 60, 90)
ALERT_CHOICES = [
    ("insufficient", "Insufficient"),
    ("expiring", "Expiring within 90 days"),
    ("expired", "Expired"),
    ("any", "Any alert"),
]
# Sorting happens in Python on the aggregated rows (one per license, a few hundred at most): in SQL
# an ORDER BY on a license column would join and sort every balance row before aggregating them.
SORTS = {
    "name": lambda r: (r.license.name.casefold(),),
    "type": lambda r: (r.license.license_type, r.license.name.casefold()),
    "family": lambda r: (r.license.product_family, r.license.name.casefold()),
    "purchased": lambda r: (r.purchased, r.license.name.casefold()),
    "in_use": lambda r: (r.total_in_use, r.license.name.casefold()),
    "balance": lambda r: (r.balance, r.license.name.casefold()),
}


@dataclass
class LicenseAlerts:
    balance: int = 0
    short_vas: int = 0  # VAs below zero (when the roll-up itself is not)
    expired: int = 0
    expiring: list[tuple[int, int, dt.date | None]] = field(default_factory=list)  # (tier days, quantity, first end)

    @property
    def insufficient(self) -> bool:
        return self.balance < 0

    def badges(self) -> list[tuple[str, str]]:
        """(css class, text) for each alert, the most urgent first."""
        shown = []
        if self.insufficient:
            shown.append(("badge-bad", f"Insufficient ({self.balance})"))
        elif self.short_vas:
            shown.append(("badge-bad", f"Short in {self.short_vas} VA{'s' if self.short_vas != 1 else ''}"))
        if self.expired:
            shown.append(("badge-muted", f"Expired: {self.expired}"))
        for days, quantity, first in self.expiring:
            css = "badge-bad" if days == 30 else "badge-warn"
            when = f", first {first:%Y-%m-%d}" if first else ""
            shown.append((css, f"Expiring ≤{days} days: {quantity}{when}"))
        return shown

    def text(self) -> str:
        return "; ".join(text for _, text in self.badges())


@dataclass
class LicenseRow:
    license: License
    purchased: int
    in_use: int
    reserved: int
    alerts: LicenseAlerts

    @property
    def total_in_use(self) -> int:
        return self.in_use + self.reserved

    @property
    def balance(self) -> int:
        return self.purchased - self.in_use - self.reserved


def _lot_alert_filter(today: dt.date, now) -> Q:
    return Q(quantity__gt=0, end_date__lte=today + dt.timedelta(days=max(EXPIRING_TIERS))) | Q(
        expired_at__gte=now - dt.timedelta(days=EXPIRED_SHOWN_DAYS)
    )


def _alert_aggregates(today: dt.date, now) -> dict:
    live = Q(quantity__gt=0, end_date__gte=today)
    aggregates = {
        # Past the end date but not yet expired by the daily task: already expired for the customer.
        "overdue": Sum("quantity", filter=Q(quantity__gt=0, end_date__lt=today)),
        "expired_recent": Sum(
            "expired_quantity", filter=Q(expired_at__gte=now - dt.timedelta(days=EXPIRED_SHOWN_DAYS))
        ),
        "first_end": Min("end_date", filter=live),
    }
    for days in EXPIRING_TIERS:
        aggregates[f"in{days}"] = Sum("quantity", filter=live & Q(end_date__lte=today + dt.timedelta(days=days)))
    return aggregates


def _expiry_alerts(scope: LicensingScope, license_ids) -> dict[int, dict]:
    today, now = timezone.localdate(), timezone.now()
    rows = (
        LicenseLot.objects.filter(scope.q(), license_id__in=license_ids)
        .filter(_lot_alert_filter(today, now))
        .order_by()
        .values("license_id")
        .annotate(**_alert_aggregates(today, now))
    )
    return {row["license_id"]: row for row in rows}


def _apply_expiry(alerts: LicenseAlerts, row: dict | None) -> None:
    if not row:
        return
    alerts.expired = (row["overdue"] or 0) + (row["expired_recent"] or 0)
    previous = 0
    for days in EXPIRING_TIERS:
        cumulative = row[f"in{days}"] or 0
        if cumulative > previous:
            alerts.expiring.append((days, cumulative - previous, row["first_end"] if not previous else None))
        previous = cumulative


def _recently_expired(scope: LicensingScope, today: dt.date, now) -> QuerySet:
    return (
        LicenseLot.objects.filter(scope.q())
        .filter(Q(quantity__gt=0, end_date__lt=today) | Q(expired_at__gte=now - dt.timedelta(days=EXPIRED_SHOWN_DAYS)))
        .values("license_id")
    )


def _summaries(scope: LicensingScope) -> QuerySet:
    """Per license of the scope: purchased, in use, reserved (sums over VAs) and how many VAs are short.

    A role on the whole account reads the materialised per-account totals (one row per license);
    a VA, a subtree or a VA-scoped user's VAs are summed from the balances, over an index.
    """
    today, now = timezone.localdate(), timezone.now()
    if scope.virtual_account is None and scope.account_wide:
        rows = (
            LicenseAccountTotal.objects.filter(smart_account_id=scope.smart_account.pk)
            .order_by()
            .annotate(purchased_total=F("purchased"), in_use_total=F("in_use"), reserved_total=F("reserved"))
            .values("license_id", "purchased_total", "in_use_total", "reserved_total", "short_vas")
        )
    else:
        rows = (
            LicenseBalance.objects.filter(scope.q())
            .order_by()
            .values("license_id")
            .annotate(
                purchased_total=Sum("purchased"),
                in_use_total=Sum("in_use"),
                reserved_total=Sum("reserved"),
                short_vas=Count("pk", filter=Q(purchased__lt=F("in_use") + F("reserved"))),
            )
        )
    return rows.annotate(
        used_total=F("in_use_total") + F("reserved_total"),
        balance_total=F("purchased_total") - F("in_use_total") - F("reserved_total"),
    ).filter(
        # A balance row stays when a VA's licenses all leave it: a license held nowhere is not listed,
        # unless its licenses expired lately (the page shows them as expired).
        Q(purchased_total__gt=0) | Q(used_total__gt=0) | Q(license_id__in=_recently_expired(scope, today, now))
    )


def license_rows(
    scope: LicensingScope,
    *,
    search: str = "",
    license_type: str = "",
    family: str = "",
    alert: str = "",
    sort: str = "name",
    descending: bool = False,
) -> list[LicenseRow]:
    """The licenses page: one row per license held or used in the scope. Three queries, whatever its size."""
    rows = _summaries(scope)
    licenses_wanted = License.objects.all()
    if search:
        licenses_wanted = licenses_wanted.filter(Q(name__icontains=search) | Q(tag__icontains=search))
    if license_type:
        licenses_wanted = licenses_wanted.filter(license_type=license_type)
    if family:
        licenses_wanted = licenses_wanted.filter(product_family=family)
    if search or license_type or family:
        # A subquery, not a join: the balances are grouped by license id alone.
        rows = rows.filter(license_id__in=licenses_wanted.values("pk"))
    today, now = timezone.localdate(), timezone.now()
    with_expiry = LicenseLot.objects.filter(scope.q()).filter(_lot_alert_filter(today, now))
    expiring = with_expiry.filter(quantity__gt=0, end_date__gte=today).values("license_id")
    expired = _recently_expired(scope, today, now)
    if alert == "insufficient":
        rows = rows.filter(Q(balance_total__lt=0) | Q(short_vas__gt=0))
    elif alert == "expiring":
        rows = rows.filter(license_id__in=expiring)
    elif alert == "expired":
        rows = rows.filter(license_id__in=expired)
    elif alert == "any":
        rows = rows.filter(
            Q(balance_total__lt=0) | Q(short_vas__gt=0) | Q(license_id__in=expiring) | Q(license_id__in=expired)
        )
    rows = list(rows.order_by())
    ids = [r["license_id"] for r in rows]
    licenses = License.objects.in_bulk(ids)
    expiry = _expiry_alerts(scope, ids) if ids else {}
    result = []
    for r in rows:
        alerts = LicenseAlerts(balance=r["balance_total"], short_vas=r["short_vas"])
        _apply_expiry(alerts, expiry.get(r["license_id"]))
        result.append(
            LicenseRow(
                license=licenses[r["license_id"]],
                purchased=r["purchased_total"],
                in_use=r["in_use_total"],
                reserved=r["reserved_total"],
                alerts=alerts,
            )
        )
    key = SORTS.get(sort, SORTS["name"])
    result.sort(key=lambda row: (*key(row), row.license.pk))
    if descending:
        # Descending on the sorted column; ties stay in name order.
        result.sort(key=lambda row: key(row)[0], reverse=True)
    return result


def license_families() -> list[str]:
    return list(License.objects.order_by("product_family").values_list("product_family", flat=True).distinct())


@dataclass(frozen=True)
class AlertCounts:
    """The shortages and expiries of a scope, each as licenses (distinct licenses) and units (quantity).

    Every page that shows these counts (the account home, the licenses page, compliance) reads them
    here and shows them through `licensing/includes/alert_stats.html`, so one word means one number.
    """

    short_licenses: int = 0  # licenses short in at least one Virtual Account of the scope
    short_balances: int = 0  # (Virtual Account, license) pairs below zero: the rows of the compliance page
    short_units: int = 0  # licenses used beyond what is held, added up over those pairs
    expiring_licenses: int = 0  # licenses with a quantity ending within EXPIRING_DAYS
    expiring_units: int = 0  # that quantity

    @property
    def expiring_days(self) -> int:
        return EXPIRING_DAYS


EXPIRING_DAYS = max(EXPIRING_TIERS)


def _alert_count_row(scope: LicensingScope, **more) -> dict:
    """The scope's alert counts (and `more` scalar subqueries), read in one query."""
    short = LicenseBalance.objects.filter(scope.q(), purchased__lt=F("in_use") + F("reserved"))
    today = timezone.localdate()
    expiring = LicenseLot.objects.filter(
        scope.q(), quantity__gt=0, end_date__gte=today, end_date__lte=today + dt.timedelta(days=EXPIRING_DAYS)
    )
    return (
        SmartAccount.objects.filter(pk=scope.smart_account.pk)
        .values(
            short_licenses=scalar(short, Count("license_id", distinct=True)),
            short_balances=scalar(short, Count("pk")),
            short_units=scalar(short, Sum(F("in_use") + F("reserved") - F("purchased"))),
            expiring_licenses=scalar(expiring, Count("license_id", distinct=True)),
            expiring_units=scalar(expiring, Sum("quantity")),
            **more,
        )
        .first()
    ) or {}


def license_alert_counts(scope: LicensingScope) -> AlertCounts:
    """Shortages (a VA using more of a license than it holds) and expiries within 90 days. One query."""
    row = _alert_count_row(scope)
    return AlertCounts(**{key: value or 0 for key, value in row.items()})


def license_summary_counts(scope: LicensingScope) -> dict:
    """The account-home panel: how many licenses, the alert counts (`license_alert_counts`). One query."""
    # The licenses page's rows, counted (a grouped query on a VA-scoped scope: counted through its ids).
    listed = License.objects.filter(pk__in=_summaries(scope).values("license_id"))
    row = _alert_count_row(scope, licenses=scalar(listed, Count("pk")))
    licenses = row.pop("licenses", None)
    return {"licenses": licenses or 0, "alerts": AlertCounts(**{key: value or 0 for key, value in row.items()})}


# --- One license ---------------------------------------------------------------------------------


def license_in_scope(scope: LicensingScope, license_id: int) -> License:
    """The license, if the scope holds, uses or ever held it (it has a balance row there); else 404."""
    held = LicenseBalance.objects.filter(scope.q(), license_id=OuterRef("pk"))
    license = License.objects.filter(pk=license_id).filter(Exists(held)).first()
    if license is None:
        raise Http404("No such license here.")
    return license


def lots_in_scope(scope: LicensingScope, *, license_id: int | None = None) -> QuerySet[LicenseLot]:
    """The lots of the scope that hold licenses or expired some (those a license's detail lists), optionally
    of one license. Lots in transit to a customer (a pending hand-over) belong to no VA: only a scope over
    the whole account holds them."""
    lots = LicenseLot.objects.filter(scope.q()).filter(Q(quantity__gt=0) | Q(expired_quantity__gt=0))
    if license_id is not None:
        lots = lots.filter(license_id=license_id)
    return lots


@dataclass
class LicenseDetail:
    license: License
    purchased: int
    in_use: int
    reserved: int
    alerts: LicenseAlerts
    per_va: list  # LicenseBalance rows with virtual_account, the largest first
    per_va_more: int
    lots: list
    lots_more: int
    instances: list  # ProductInstanceUsage rows with product_instance and its VA
    instances_total: int
    entries: list

    @property
    def balance(self) -> int:
        return self.purchased - self.in_use - self.reserved

    @property
    def total_in_use(self) -> int:
        return self.in_use + self.reserved


def license_detail(scope: LicensingScope, license: License, *, limit: int = 50) -> LicenseDetail:
    """Totals, the VAs that hold it, its lots with their sources, the instances using it and its ledger entries.

    A fixed number of queries, each limited, whatever the number of rows behind them.
    """
    balances = LicenseBalance.objects.filter(scope.q(), license=license)
    totals = balances.aggregate(
        total_purchased=Sum("purchased"),
        total_in_use=Sum("in_use"),
        total_reserved=Sum("reserved"),
        short_vas=Count("pk", filter=Q(purchased__lt=F("in_use") + F("reserved"))),
        vas=Count("pk", filter=Q(purchased__gt=0) | Q(in_use__gt=0) | Q(reserved__gt=0)),
    )
    purchased, in_use, reserved = (totals[k] or 0 for k in ("total_purchased", "total_in_use", "total_reserved"))
    alerts = LicenseAlerts(balance=purchased - in_use - reserved, short_vas=totals["short_vas"] or 0)
    _apply_expiry(alerts, _expiry_alerts(scope, [license.pk]).get(license.pk))
    per_va = list(
        balances.filter(Q(purchased__gt=0) | Q(in_use__gt=0) | Q(reserved__gt=0))
        .select_related("virtual_account")
        .order_by("-purchased", "virtual_account__name")[:limit]
    )
    lots_qs = lots_in_scope(scope, license_id=license.pk)
    lots = list(
        lots_qs.select_related(
            "virtual_account", "order_line__order", "order_line__sku", "pak_line__pak", "pak_line__sku"
        ).order_by(F("end_date").asc(nulls_last=True), "virtual_account__name", "pk")[: limit * 2]
    )
    lots_count = lots_qs.count() if len(lots) == limit * 2 else len(lots)
    usage = ProductInstanceUsage.objects.filter(
        scope.q("product_instance__"), smart_account_id=scope.smart_account.pk, license=license
    ).exclude(product_instance__status=ProductInstance.Status.REMOVED)
    instances = list(
        usage.select_related("product_instance__virtual_account").order_by("-count", "product_instance__hostname")[
            :limit
        ]
    )
    instances_total = usage.count() if len(instances) == limit else len(instances)
    entries = list(
        LedgerEntry.objects.filter(scope.q(), license=license)
        .select_related("virtual_account", "actor", "order_line__order", "pak_line__pak")
        .order_by("-created_at", "-id")[:limit]
    )
    return LicenseDetail(
        license=license,
        purchased=purchased,
        in_use=in_use,
        reserved=reserved,
        alerts=alerts,
        per_va=per_va,
        per_va_more=max(0, (totals["vas"] or 0) - len(per_va)),
        lots=lots,
        lots_more=max(0, lots_count - len(lots)),
        instances=instances,
        instances_total=instances_total,
        entries=entries,
    )
