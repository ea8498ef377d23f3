"""Per-VA holdings and devices of chosen Virtual Accounts, for lists that name VAs one by one.

The VAs passed in are already permission-checked (resolved through `smartaccounts.selectors`); these
reads only narrow to them. Each is a fixed number of queries whatever the number of VAs or rows: the
Cisco-compatible API lists licenses and devices per VA with them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Q, QuerySet

from smartaccounts.models import VirtualAccount

from ..identifiers import udi_part
from ..models import LicenseBalance, LicenseLot, ProductInstance, ProductInstanceUsage

__all__ = [
    "balances_in",
    "instances_by_udi",
    "instances_in",
    "lots_of_balances",
    "usage_of_instances",
]


def _ids(virtual_accounts: Iterable[VirtualAccount]) -> list[int]:
    return [va.pk for va in virtual_accounts]


def balances_in(virtual_accounts: Iterable[VirtualAccount]) -> QuerySet[LicenseBalance]:
    """The license balances of these VAs that hold or use something, by VA name then license name."""
    return (
        LicenseBalance.objects.filter(virtual_account_id__in=_ids(virtual_accounts))
        .filter(Q(purchased__gt=0) | Q(in_use__gt=0) | Q(reserved__gt=0))
        .select_related("license", "virtual_account")
        .order_by("virtual_account__name", "license__name", "pk")
    )


def lots_of_balances(balances: Iterable[LicenseBalance], *, time_bound_only: bool = False) -> list[LicenseLot]:
    """The live lots (quantity above 0) behind these balances, with their order line, order and SKU.

    One query on the VAs and licenses of the balances (plain IN lists: an OR per pair would outgrow
    SQLite's expression depth on a 1,000-row page), narrowed to the exact pairs in Python."""
    balances = list(balances)
    pairs = {(b.virtual_account_id, b.license_id) for b in balances}
    if not pairs:
        return []
    lots = LicenseLot.objects.filter(
        virtual_account_id__in={va for va, _ in pairs},
        license_id__in={lic for _, lic in pairs},
        quantity__gt=0,
        in_transit__isnull=True,
    )
    if time_bound_only:
        lots = lots.filter(end_date__isnull=False)
    lots = lots.select_related("license", "virtual_account", "order_line__order", "order_line__sku").order_by(
        "virtual_account__name", "license__name", F("start_date").asc(nulls_first=True), "pk"
    )
    return [lot for lot in lots if (lot.virtual_account_id, lot.license_id) in pairs]


def instances_in(virtual_accounts: Iterable[VirtualAccount], *, hostname: str = "") -> QuerySet[ProductInstance]:
    """The live (not removed) product instances of these VAs, oldest registration first."""
    qs = ProductInstance.objects.filter(virtual_account_id__in=_ids(virtual_accounts)).exclude(
        status=ProductInstance.Status.REMOVED
    )
    if hostname:
        qs = qs.filter(hostname__iexact=hostname)
    return qs.select_related("virtual_account", "deadline").order_by("registered_at", "pk")


def usage_of_instances(instance_ids: Iterable[int]) -> dict[int, list[ProductInstanceUsage]]:
    """{instance id: its license usage (with the license)} in one query."""
    usage: dict[int, list[ProductInstanceUsage]] = {}
    rows = ProductInstanceUsage.objects.filter(product_instance_id__in=list(instance_ids)).select_related("license")
    for row in rows.order_by("license__name", "pk"):
        usage.setdefault(row.product_instance_id, []).append(row)
    return usage


def instances_by_udi(
    virtual_account: VirtualAccount, udis: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], ProductInstance]:
    """The live instances of one VA with these (PID, serial number) pairs, keyed by the pair in its stored
    (upper-case) form; pairs that are no UDI find nothing. One query (serial numbers in an IN list)."""
    wanted = set()
    for pid, serial in udis:
        pid, serial = udi_part(pid.strip()), udi_part(serial.strip())
        if pid and serial:
            wanted.add((pid, serial))
    if not wanted:
        return {}
    rows = (
        ProductInstance.objects.filter(virtual_account_id=virtual_account.pk, serial_number__in={s for _, s in wanted})
        .exclude(status=ProductInstance.Status.REMOVED)
        .select_related("virtual_account")
    )
    return {(row.pid, row.serial_number): row for row in rows if (row.pid, row.serial_number) in wanted}
