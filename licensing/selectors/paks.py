"""Permission-scoped reads of PAKs: an account sees only the PAKs it owns."""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, Prefetch, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from smartaccounts.models import SmartAccount

from ..models import LedgerEntry, Pak, PakLine


def paks_of(smart_account: SmartAccount, search: str = "") -> QuerySet[Pak]:
    """The account's PAKs with their lines (one more query) and unit totals."""
    zero = Value(0, output_field=IntegerField())
    paks = (
        Pak.objects.filter(owner=smart_account)
        .annotate(
            line_count=Count("lines"),
            units=Coalesce(Sum("lines__quantity"), zero),
            converted_units=Coalesce(Sum("lines__converted_quantity"), zero),
        )
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=PakLine.objects.filter(smart_account=smart_account)
                .select_related("sku__license")
                .order_by("pk"),
            )
        )
        .order_by("number")
    )
    if search:
        paks = paks.filter(number__icontains=search.strip())
    return paks


def pak_lines(pak: Pak) -> QuerySet[PakLine]:
    return (
        PakLine.objects.filter(smart_account_id=pak.owner_id, pak=pak)
        .select_related("sku__license")
        .annotate(left=F("quantity") - F("converted_quantity"))
        .order_by("pk")
    )


def pak_conversions(pak: Pak) -> QuerySet[LedgerEntry]:
    """The ledger entries that converted this PAK's lines (newest first)."""
    return (
        LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CONVERSION, pak_line__pak=pak)
        .select_related("license", "virtual_account", "actor", "pak_line__sku")
        .order_by("-created_at", "-pk")
    )
