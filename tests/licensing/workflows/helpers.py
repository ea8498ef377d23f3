"""Data makers for the hand-over, PAK and reservation tests, and the ledger check run after each workflow."""

from __future__ import annotations

import itertools
import secrets

from django.db.models import Sum

from licensing import ledger
from licensing.models import (
    HandOver,
    LedgerEntry,
    License,
    LicenseBalance,
    LicenseLot,
    Order,
    OrderLine,
    Pak,
    PakLine,
    Reservation,
    Sku,
)
from licensing.reservation_codes import make_request_code
from licensing.services import deposit_order
from licensing.verification import verify_ledger
from smartaccounts import services as sa_services
from smartaccounts.models import SmartAccount
from tests.factories import make_account, make_staff, make_user

_seq = itertools.count(1)


def make_license(
    name: str | None = None, *, family: str = "Catalyst 9300", license_type: str = "perpetual", tag: str | None = None
) -> License:
    n = next(_seq)
    name = name or f"{family} Feature {n}"
    return License.objects.create(
        name=name,
        tag=tag or f"regid.2018-05.com.cisco.TEST_{n}_{secrets.token_hex(3)},1.0_{secrets.token_hex(4)}",
        product_family=family,
        license_type=license_type,
    )


def make_sku(license: License, code: str | None = None, *, per_unit: int = 1, term_months: int | None = None) -> Sku:
    return Sku.objects.create(
        code=code or f"L-TEST-{next(_seq)}-{secrets.token_hex(2).upper()}",
        license=license,
        licenses_per_unit=per_unit,
        default_term_months=term_months,
    )


def make_partner(name: str = "Northwind Partners Holding", domain: str | None = None) -> SmartAccount:
    domain = domain or f"holding{next(_seq)}.northwind-{secrets.token_hex(2)}.example.com"
    admin = make_user(f"admin@{domain}")
    return make_account(admin=admin, name=name, domain=domain, kind="partner_holding")


def make_order(account: SmartAccount, lines: list[tuple[Sku, int]], *, va=None, number: str | None = None) -> Order:
    """An order deposited into `account` (its default VA unless `va`), through deposit_order."""
    order = Order.objects.create(
        number=number or f"SO-{next(_seq):05d}-{secrets.token_hex(2).upper()}",
        ordered_by="Northwind Partners",
        smart_account=account,
        virtual_account=va,
    )
    for i, (sku, quantity) in enumerate(lines, start=1):
        OrderLine.objects.create(order=order, line_number=i, sku=sku, quantity=quantity)
    deposit_order(order=order)
    order.refresh_from_db()
    return order


def deposit(va, license: License, quantity: int, *, start=None, end=None) -> None:
    """Put licenses into a VA directly (a deposit entry without an order), for reservation tests."""
    from django.db import transaction

    with transaction.atomic():
        balances = ledger.lock_balances([(va.smart_account_id, va.pk, license.pk)])
        ledger.add_to_va(
            balance=balances[(va.pk, license.pk)],
            quantity=quantity,
            kind=LedgerEntry.Kind.DEPOSIT,
            movement=ledger.new_movement(),
            start_date=start,
            end_date=end,
        )


def balance(va, license: License) -> LicenseBalance:
    return LicenseBalance.objects.filter(virtual_account=va, license=license).first() or LicenseBalance(
        virtual_account=va, license=license
    )


def held(account: SmartAccount, order_line: OrderLine) -> int:
    return (
        LicenseLot.objects.filter(
            smart_account=account, virtual_account__isnull=False, order_line=order_line, expired_at__isnull=True
        ).aggregate(total=Sum("quantity"))["total"]
        or 0
    )


def in_transit(hand_over: HandOver) -> int:
    return LicenseLot.objects.filter(in_transit=hand_over).aggregate(total=Sum("quantity"))["total"] or 0


def assert_ledger_consistent() -> None:
    """verify_ledger is clean, and the workflows' own invariants hold.

    - only pending hand-overs have licenses in transit;
    - each license's lots (in VAs, in transit, expired) add up to what deposits and conversions created;
    - each active reservation's lines equal its reserved entries; a closed one holds nothing.
    """
    differences = verify_ledger()
    assert not differences, "\n".join(map(str, differences))
    stray = LicenseLot.objects.filter(quantity__gt=0, in_transit__isnull=False).exclude(
        in_transit__status=HandOver.Status.PENDING
    )
    assert not stray.exists(), f"licenses in transit with a closed hand-over: {list(stray.values('pk', 'quantity'))}"
    created = dict(
        LedgerEntry.objects.filter(kind__in=[LedgerEntry.Kind.DEPOSIT, LedgerEntry.Kind.CONVERSION])
        .values_list("license_id")
        .annotate(total=Sum("quantity"))
    )
    held_now = dict(
        LicenseLot.objects.values_list("license_id").annotate(total=Sum("quantity") + Sum("expired_quantity"))
    )
    for license_id in set(created) | set(held_now):
        assert created.get(license_id, 0) == held_now.get(license_id, 0), (
            f"license {license_id}: {created.get(license_id, 0)} created, {held_now.get(license_id, 0)} held"
        )
    for reservation in Reservation.objects.prefetch_related("lines"):
        entries = dict(
            LedgerEntry.objects.filter(reservation=reservation, kind__in=LedgerEntry.RESERVED_KINDS)
            .values_list("license_id")
            .annotate(total=Sum("quantity"))
        )
        entries = {k: v for k, v in entries.items() if v}
        lines = {line.license_id: line.quantity for line in reservation.lines.all()}
        expected = lines if reservation.status == Reservation.Status.ACTIVE else {}
        assert entries == expected, f"reservation {reservation.pk}: entries {entries}, lines {expected}"


def make_pak(owner: SmartAccount | None, lines: list[tuple[Sku, int]], number: str | None = None) -> Pak:
    pak = Pak.objects.create(number=number or f"PAK-{secrets.token_hex(4).upper()}", owner=owner)
    for sku, quantity in lines:
        PakLine.objects.create(pak=pak, sku=sku, quantity=quantity)
    return pak


def enable_reservations(account: SmartAccount) -> SmartAccount:
    staff = make_staff(f"staff{next(_seq)}@operator.example.net", "smartaccounts.change_smartaccount")
    sa_services.set_license_reservation(actor=staff, smart_account=account, enabled=True)
    account.refresh_from_db()
    return account


def request_code(pid: str = "C9300-48P-4X", serial: str | None = None) -> str:
    return make_request_code(pid=pid, serial_number=serial or f"FOC{secrets.token_hex(4).upper()}")
