"""Demo data: the catalog, orders deposited across the demo customer's Virtual Accounts, registration
tokens, 200+ product instances with usage, a few shortages and terms about to expire.

Idempotent: orders are found by number, tokens by description, instances by UDI, so running it
again changes nothing (and keeps the trust codes the policy demo signs reports with).
"""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.selectors import live_virtual_accounts

from .models import License, Order, OrderLine, ProductInstance, RegistrationToken, Sku
from .services import (
    create_registration_token,
    deposit_order,
    expire_term_lots,
    load_catalog,
    read_catalog_file,
    register_product_instance,
)

# (order number, VA index, [(SKU, units, term start offset days, term length days or None)])
# Offsets are relative to today, so the demo always has terms about to expire.
ORDERS = [
    ("SO-DEMO-100101", 0, [("C9300-NW-A-48", 60, None, None), ("C9300-DNA-A-48-3Y", 60, -400, None)]),
    ("SO-DEMO-100102", 1, [("C9300-NW-E-24", 40, None, None), ("C9300-DNA-E-24-5Y", 40, -100, None)]),
    ("SO-DEMO-100103", 2, [("AIR-DNA-NWSTACK-E", 80, None, None), ("AIR-DNA-E-3Y", 80, -1075, 1095)]),
    ("SO-DEMO-100104", 3, [("FL-44-HSEC-K9", 6, None, None), ("DNA-A-T2-ISR4K-5Y", 12, -200, None)]),
    ("SO-DEMO-100105", 0, [("LIC-UCM-ENHANCED-25PK", 4, None, None), ("A-FLEX-NU-10PK", 5, -340, 365)]),
    ("SO-DEMO-100106", 1, [("L-FPR2130T-3Y", 4, -1050, 1095), ("L-FPR2130TURL-3Y", 4, -30, None)]),
    ("SO-DEMO-100107", 4, [("C9300-DNA-A-48-3Y", 30, -20, None), ("C9200-NW-E-48", 25, None, None)]),
    # A term that ended ten days ago: the expiry task records it and the licenses page shows it expired.
    ("SO-DEMO-100108", 2, [("C9200-DNA-E-48-3Y", 10, -1105, 1095)]),
]

# (VA index, count, PID, family, hostname prefix, {SKU whose license is used: count per device})
FLEET = [
    (0, 70, "C9300-48P", "Catalyst 9300", "sw-hq", {"C9300-NW-A-48": 1, "C9300-DNA-A-48-3Y": 1}),
    (1, 45, "C9300-24T", "Catalyst 9300", "sw-br", {"C9300-NW-E-24": 1, "C9300-DNA-E-24-5Y": 1}),
    (2, 2, "C9800-40-K9", "Wireless", "wlc", {"AIR-DNA-NWSTACK-E": 40, "AIR-DNA-E-3Y": 40}),
    (3, 8, "ISR4451-X/K9", "ISR 4000", "rtr-wan", {"DNA-A-T2-ISR4K-5Y": 1}),
    (4, 20, "C9300-48U", "Catalyst 9300", "sw-lab", {"C9300-DNA-A-48-3Y": 1, "C9200-NW-E-48": 1}),
    (1, 3, "FPR-2130", "Secure Firewall", "fw-edge", {"L-FPR2130T-3Y": 1, "L-FPR2130TURL-3Y": 1}),
    (0, 50, "CP-8865-K9", "Collaboration", "ucm-user", {"LIC-UCM-ENHANCED-25PK": 1}),
]
EXPORT_CONTROLLED = [(3, 4, "ISR4451-X/K9", "ISR 4000", "rtr-core", {"FL-44-HSEC-K9": 1, "DNA-A-T2-ISR4K-5Y": 1})]


def _customer(demo) -> SmartAccount | None:
    customer = demo.objects.get("customer")
    if customer is None:
        customer = SmartAccount.objects.filter(kind=SmartAccount.Kind.CUSTOMER, status="active").order_by("pk").first()
    return customer


def _vas(demo, customer: SmartAccount) -> list[VirtualAccount]:
    shared = demo.objects.get("vas")
    if isinstance(shared, dict):
        vas = list(shared.values())
    elif isinstance(shared, list | tuple):
        vas = list(shared)
    else:
        vas = []
    vas = [va for va in vas if isinstance(va, VirtualAccount) and va.smart_account_id == customer.pk]
    if not vas:
        vas = list(live_virtual_accounts().filter(smart_account=customer).order_by("tree_id", "lft"))
    # The default VA last: the demo's devices live in the named departments.
    return sorted(vas, key=lambda va: (va.is_default, va.tree_id, va.lft))


def _order(number: str, customer: SmartAccount, va: VirtualAccount, lines, skus: dict[str, Sku], today) -> Order:
    order = Order.objects.filter(number=number).first()
    if order is None:
        order = Order.objects.create(
            number=number,
            ordered_by="Northwind Partners",
            end_customer=customer.name,
            smart_account=customer,
            virtual_account=va,
        )
        for n, (code, units, start_offset, length) in enumerate(lines, start=1):
            start = today + dt.timedelta(days=start_offset) if start_offset is not None else None
            end = start + dt.timedelta(days=length) if start and length else None
            OrderLine.objects.create(
                order=order, line_number=n, sku=skus[code], quantity=units, term_start=start, term_end=end
            )
    return deposit_order(order=order)


def _token(va: VirtualAccount, actor, description: str, **kwargs) -> RegistrationToken:
    token = RegistrationToken.objects.filter(
        virtual_account=va, description=description, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).first()
    return token or create_registration_token(actor=actor, virtual_account=va, description=description, **kwargs)


def seed(demo) -> None:
    result = load_catalog(data=read_catalog_file())
    demo.stdout.write(f"Catalog: {result}.")
    customer = _customer(demo)
    if customer is None:
        demo.stdout.write("No active customer account: licensing demo data skipped.")
        return
    vas = _vas(demo, customer)
    actor = customer.created_by
    today = timezone.localdate()
    skus = {s.code: s for s in Sku.objects.select_related("license")}
    pick = lambda index: vas[index % len(vas)]  # noqa: E731  (a small account has fewer VAs)
    orders = [_order(number, customer, pick(i), lines, skus, today) for number, i, lines in ORDERS]
    expire_term_lots()

    tokens = {}
    for va in {pick(i).pk: pick(i) for i, *_ in FLEET + EXPORT_CONTROLLED}.values():
        tokens[va.pk] = _token(va, actor, f"{va.name} rollout", expires_after_days=365)
    hsec_va = pick(EXPORT_CONTROLLED[0][0])
    hsec_token = _token(hsec_va, actor, f"{hsec_va.name} HSECK9 routers", expires_after_days=90, export_controlled=True)

    instances: list[ProductInstance] = []
    fleets = [(f, tokens) for f in FLEET] + [(f, {hsec_va.pk: hsec_token}) for f in EXPORT_CONTROLLED]
    for k, ((index, count, pid, family, prefix, usage), token_map) in enumerate(fleets):
        va = pick(index)
        usage_tags = {skus[code].license.tag: n for code, n in usage.items()}
        for n in range(1, count + 1):
            serial = f"FOC{2410 + k}{n:04d}"
            instance = (
                ProductInstance.objects.filter(pid=pid, serial_number=serial)
                .exclude(status=ProductInstance.Status.REMOVED)
                .first()
            )
            if instance is None:
                instance = register_product_instance(
                    token=token_map[va.pk].token,
                    pid=pid,
                    serial_number=serial,
                    hostname=f"{prefix}-{n:03d}.{customer.domain}",
                    product_family=family,
                    software_version="17.9.4" if family != "Collaboration" else "14.0.1",
                    usage=usage_tags,
                )
            instances.append(instance)

    demo.objects["catalog_licenses"] = {lic.name: lic for lic in License.objects.all()}
    demo.objects["orders"] = orders
    demo.objects["tokens"] = [*tokens.values(), hsec_token]
    demo.objects["instances"] = instances
    demo.stdout.write(
        f"Licensing: {len(orders)} orders deposited in {customer.name}, {len(instances)} product instances."
    )
