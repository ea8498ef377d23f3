"""Demo data of the partner hand-over, PAK and reservation workflows. Idempotent.

- The approved partner holding account (Globex Distribution) holds three deposited orders and has
  one pending hand-over of two order lines to the demo customer (Acme Networks), who sees it under
  Incoming licenses; a second partner person has the User role.
- PAKs: two loaded for Acme Networks (one partly converted into Campus Network) and two that belong
  to nobody yet, to claim by entering their numbers.
- Acme Networks may reserve licenses (staff enabled it) and has one active specific reservation
  (SLR) for a Catalyst 9500 core switch in Data Center that never connects.
"""

from __future__ import annotations

from smartaccounts import services as sa_services
from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.selectors import live_virtual_accounts, strongest_role_in_account

from .models import HandOver, License, Order, OrderLine, Pak, Reservation, Sku
from .reservation_codes import make_request_code
from .services import convert_pak, deposit_order, import_paks, reserve_licenses, transfer_to_customer

# (order number, end customer, [(SKU, units)]) deposited into the partner's holding account.
HELD_ORDERS = [
    ("SO-DEMO-PH-200201", "Acme Networks", [("C9300-NW-A-48", 40), ("C9300-DNA-A-48-3Y", 40)]),
    ("SO-DEMO-PH-200202", "Contoso Retail", [("C9200-NW-E-48", 25), ("C9200-DNA-E-48-3Y", 25)]),
    ("SO-DEMO-PH-200203", "", [("ISR4K-NW-E", 6), ("DNA-A-T2-ISR4K-5Y", 6)]),
]
HAND_OVER = ("SO-DEMO-PH-200201", {1: 20, 2: 20})  # order, {line number: licenses}

PAKS = [
    ("3PAK-DEMO-4711-0001", "acme.example.com", [("C9300-NW-A-48", 10), ("C9300-DNA-A-48-3Y", 10)]),
    ("3PAK-DEMO-4711-0002", "acme.example.com", [("LIC-UCM-ENHANCED-25PK", 2)]),
    ("3PAK-DEMO-4711-0003", "", [("C9200-NW-E-48", 5), ("C9200-DNA-E-48-3Y", 5)]),
    ("3PAK-DEMO-4711-0004", "", [("ISR4K-NW-E", 2)]),
]
PARTLY_CONVERTED = ("3PAK-DEMO-4711-0001", "Campus Network", {"C9300-NW-A-48": 4})

SLR_ORDER = ("SO-DEMO-SLR-300301", "Data Center", [("C9500-NW-A-48Y4C", 4), ("C9500-DNA-A-48Y4C-3Y", 4)])
SLR_DEVICE = {"pid": "C9500-48Y4C", "serial_number": "FCW2231L0SL", "nonce": "DemoSLR2026"}


def _skus(codes) -> dict[str, Sku]:
    return {sku.code: sku for sku in Sku.objects.filter(code__in=codes).select_related("license")}


def _deposited_order(number: str, account: SmartAccount, va: VirtualAccount | None, lines, end_customer="") -> Order:
    order = Order.objects.filter(number=number).first()
    if order is None:
        skus = _skus([code for code, _ in lines])
        missing = [code for code, _ in lines if code not in skus]
        if missing:
            raise RuntimeError(f"The demo catalog lacks {', '.join(missing)}: run load_catalog first.")
        order = Order.objects.create(
            number=number,
            ordered_by="Globex Distribution",
            end_customer=end_customer,
            smart_account=account,
            virtual_account=va,
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(order=order, smart_account=account, line_number=n, sku=skus[code], quantity=units)
                for n, (code, units) in enumerate(lines, start=1)
            ]
        )
    return deposit_order(order=order)


def _account(demo, key: str, domain: str) -> SmartAccount | None:
    return demo.objects.get(key) or SmartAccount.objects.filter(domain__iexact=domain).first()


def _va(account: SmartAccount, name: str) -> VirtualAccount:
    return live_virtual_accounts().filter(
        smart_account=account, name__iexact=name
    ).first() or live_virtual_accounts().get(smart_account=account, is_default=True)


def seed(demo) -> None:
    customer = _account(demo, "customer", "acme.example.com")
    partner = _account(demo, "partner", "globex.example.net")
    staff = demo.objects.get("staff")
    if customer is None or partner is None or staff is None or not License.objects.exists():
        demo.stdout.write("Skipping the hand-over, PAK and reservation demo: the accounts or the catalog are missing.")
        return
    customer_admin = demo.objects.get("customer_admin") or customer.created_by
    partner_admin = demo.objects.get("partner_admin") or partner.created_by

    # --- Partner holding: held orders, a second person, one pending hand-over -------------------------
    partner_user = demo.user(
        "pete.sales@globex.example.net", "Globex Distribution: User (hands orders over)", name="Pete Sales"
    )
    if strongest_role_in_account(partner_user, partner) is None:
        sa_services.assign_role(actor=partner_admin, user=partner_user, role="user", smart_account=partner)
    orders = {
        number: _deposited_order(number, partner, None, lines, end_customer)
        for number, end_customer, lines in HELD_ORDERS
    }
    if not HandOver.objects.filter(partner_account=partner, customer_account=customer).exists():
        number, quantities = HAND_OVER
        lines = {line: quantities[line.line_number] for line in orders[number].lines.filter(line_number__in=quantities)}
        transfer_to_customer(actor=partner_user, order_lines=lines, customer_account=customer)

    # --- PAKs: owned (one partly converted) and unowned ------------------------------------------------
    rows = [
        {"pak_number": number, "sku": code, "quantity": str(units), "owner_domain": owner}
        for number, owner, lines in PAKS
        for code, units in lines
    ]
    import_paks(rows=list(enumerate(rows, start=1)), actor=staff)
    number, va_name, lines = PARTLY_CONVERTED
    pak = Pak.objects.get(number=number)
    if not pak.lines.filter(converted_quantity__gt=0).exists():
        convert_pak(actor=customer_admin, pak=pak, virtual_account=_va(customer, va_name), lines=lines)

    # --- Reservations: enabled for the customer, one active SLR ----------------------------------------
    if not customer.license_reservation_enabled:
        sa_services.set_license_reservation(actor=staff, smart_account=customer, enabled=True)
        customer.refresh_from_db()
    number, va_name, lines = SLR_ORDER
    data_center = _va(customer, va_name)
    order = _deposited_order(number, customer, data_center, lines)
    if not Reservation.objects.filter(product_instance__serial_number=SLR_DEVICE["serial_number"]).exists():
        reserve_licenses(
            actor=customer_admin,
            virtual_account=data_center,
            request_code=make_request_code(
                pid=SLR_DEVICE["pid"], serial_number=SLR_DEVICE["serial_number"], nonce=SLR_DEVICE["nonce"]
            ),
            reservation_type="specific",
            licenses={line.sku.license: 1 for line in order.lines.select_related("sku__license")},
        )
    demo.objects.update(held_orders=orders, paks={number: Pak.objects.get(number=number) for number, _, _ in PAKS})
    unowned = ", ".join(number for number, owner, _ in PAKS if not owner)
    demo.stdout.write(
        f"Workflows: {partner.name} has a pending hand-over to {customer.name} (Incoming licenses); PAKs to claim "
        f"under PAKs: {unowned}; a reserved device in {data_center.name}. A device's request code: "
        "python manage.py simulate_device request"
    )
