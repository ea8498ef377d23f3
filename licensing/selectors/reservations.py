"""Permission-scoped reads of license reservations and what a VA can reserve."""

from __future__ import annotations

from django.db.models import Count, F, IntegerField, QuerySet, Sum, Value
from django.db.models.functions import Coalesce

from ..models import License, LicenseBalance, Reservation, ReservationLine


def reservations_in(
    virtual_accounts: QuerySet, status: str | None = None, *, smart_account=None
) -> QuerySet[Reservation]:
    """Reservations held in `virtual_accounts` (a permission-scoped VA queryset), newest first; `smart_account`
    names the VAs' account in the query too (docs/scaling.md)."""
    reservations = Reservation.objects.all()
    if smart_account is not None:
        reservations = reservations.filter(smart_account=smart_account)
    reservations = (
        reservations.filter(virtual_account__in=virtual_accounts.values("pk"))
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


def licenses_by_tag(tags) -> dict[str, License]:
    """Catalog licenses by entitlement tag (the catalog is public: no scope)."""
    return {lic.tag: lic for lic in License.objects.filter(tag__in=set(tags))}


def catalog_families() -> list[str]:
    return list(License.objects.order_by("product_family").values_list("product_family", flat=True).distinct())


def family_licenses(families) -> dict[str, list[License]]:
    """The catalog's licenses of each product family named (case-insensitive names, as given)."""
    wanted = {name.casefold(): name for name in families}
    found: dict[str, list[License]] = {name: [] for name in families}
    for lic in License.objects.order_by("product_family", "tag"):
        name = wanted.get(lic.product_family.casefold())
        if name is not None:
            found[name].append(lic)
    return found


def active_reservation_of(virtual_account, *, pid: str, serial_number: str) -> Reservation | None:
    """The active reservation of the device `pid`/`serial_number` in `virtual_account`, if any."""
    return (
        Reservation.objects.filter(
            virtual_account=virtual_account,
            status=Reservation.Status.ACTIVE,
            product_instance__pid__iexact=pid,
            product_instance__serial_number__iexact=serial_number,
        )
        .select_related("product_instance", "virtual_account", "smart_account")
        .first()
    )
