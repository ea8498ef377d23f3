"""Permission-scoped reads of license reservations and what a VA can reserve."""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from ..models import LicenseBalance, Reservation, ReservationLine


def reservations_in(virtual_accounts: QuerySet, status: str | None = None) -> QuerySet[Reservation]:
    """Reservations held in `virtual_accounts` (a permission-scoped VA queryset), newest first."""
    reservations = (
        Reservation.objects.filter(virtual_account__in=virtual_accounts.values("pk"))
        .select_related("virtual_account", "product_instance", "created_by")
        .annotate(
            license_count=Count("lines"),
            total=Coalesce(Sum("lines__quantity"), Value(0, output_field=IntegerField())),
        )
        .order_by("-created_at", "-pk")
    )
    if status:
        reservations = reservations.filter(status=status)
    return reservations


def reservation_lines(reservation: Reservation) -> QuerySet[ReservationLine]:
    return reservation.lines.select_related("license").order_by("license__name")


def reservable_balances(virtual_account) -> QuerySet[LicenseBalance]:
    """The VA's licenses with something available to reserve (purchased − in use − reserved > 0)."""
    return (
        LicenseBalance.objects.filter(virtual_account=virtual_account, purchased__gt=F("in_use") + F("reserved"))
        .select_related("license")
        .order_by("license__product_family", "license__name")
    )


def reservable_families(virtual_account) -> list[str]:
    return sorted(set(reservable_balances(virtual_account).values_list("license__product_family", flat=True)))
