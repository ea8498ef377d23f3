"""URL-argument builders of the hand-over, PAK and reservation pages (see tests/isolation.py).

`hand_over_id` depends on the tenant's kind: a partner holding tenant gets a hand-over it made from
`va`; any other tenant gets a hand-over a partner made to it.
"""

from __future__ import annotations

import secrets

from licensing.models import HandOver, Pak, Reservation
from licensing.services import reserve_licenses, transfer_to_customer
from smartaccounts.models import SmartAccount
from tests.factories import default_va, grant, make_account, make_user, make_va
from tests.isolation import Tenant, builds

from .helpers import (
    deposit,
    enable_reservations,
    make_license,
    make_order,
    make_pak,
    make_partner,
    make_sku,
    request_code,
)


def build_partner_tenant(label: str = "Partner") -> Tenant:
    """Like `build_tenant()`, for a partner holding account: every role and scope, and an outsider."""
    token = secrets.token_hex(3)
    domain = f"{label.lower()}-{token}.example.com"
    admin = make_user(f"admin@{domain}")
    account = make_account(admin=admin, name=f"{label} {token} Holding", domain=domain, kind="partner_holding")
    va_a = make_va(account, f"{label}-Resale-{token}")
    va_a_child = make_va(account, f"{label}-Resale-EMEA-{token}", parent=va_a)
    va_b = make_va(account, f"{label}-Stock-{token}")
    user = grant(make_user(f"user@{domain}"), "user", account=account)
    viewer = grant(make_user(f"viewer@{domain}"), "viewer", account=account)
    va_user = grant(make_user(f"va-user@{domain}"), "user", va=va_a)
    va_viewer = grant(make_user(f"va-viewer@{domain}"), "viewer", va=va_a)
    outsider_domain = f"outsider-{token}.example.net"
    outsider = make_user(f"admin@{outsider_domain}")
    make_account(admin=outsider, name=f"Outsider {token} Ltd", domain=outsider_domain)
    tenant = Tenant(
        account=account, admin=admin, user=user, viewer=viewer, va_user=va_user, va_viewer=va_viewer,
        outsider=outsider, va_a=va_a, va_a_child=va_a_child, va_b=va_b, default_va=default_va(account),
    )  # fmt: skip
    tenant.remember(account.name, va_a.name, va_a_child.name, va_b.name)
    return tenant


def held_line(tenant: Tenant, va):
    """An order line of the partner tenant held in `va` (10 licenses), and the customer to hand it to."""
    key = ("held_line", va.pk)
    if key not in tenant.cache:
        token = secrets.token_hex(3).upper()
        sku = make_sku(make_license(f"Held License {token}"))
        order = make_order(tenant.account, [(sku, 10)], va=va, number=f"SO-HELD-{token}")
        customer = make_account(name=f"Customer {token} Corp", domain=f"customer-{token.lower()}.example.com")
        tenant.remember(order.number)
        tenant.cache[key] = (order.lines.get(), customer)
    return tenant.cache[key]


@builds("hand_over_id")
def hand_over_id(tenant: Tenant, va) -> int:
    key = ("hand_over", va.pk)
    if key in tenant.cache:
        return tenant.cache[key]
    if tenant.account.kind == SmartAccount.Kind.PARTNER_HOLDING:
        line, customer = held_line(tenant, va)
        hand_over = transfer_to_customer(actor=tenant.admin, order_lines={line: 2}, customer_account=customer)
    else:
        token = secrets.token_hex(3).upper()
        partner = make_partner(f"Partner {token} Holding")
        sku = make_sku(make_license(f"Handed License {token}"))
        order = make_order(partner, [(sku, 5)], number=f"SO-IN-{token}")
        hand_over = transfer_to_customer(
            actor=partner.created_by, order_lines={order.lines.get(): 5}, customer_account=tenant.account
        )
        tenant.remember(order.number, partner.name)
    assert hand_over.status == HandOver.Status.PENDING
    tenant.cache[key] = hand_over.pk
    return hand_over.pk


@builds("pak_id")
def pak_id(tenant: Tenant, va) -> int:
    key = ("pak", tenant.account.pk)
    if key not in tenant.cache:
        token = secrets.token_hex(4).upper()
        sku = make_sku(make_license(f"PAK License {token}"))
        pak: Pak = make_pak(tenant.account, [(sku, 4)], number=f"PAK-{token}")
        tenant.remember(pak.number)
        tenant.cache[key] = pak.pk
    return tenant.cache[key]


@builds("reservation_id")
def reservation_id(tenant: Tenant, va) -> int:
    key = ("reservation", va.pk)
    if key not in tenant.cache:
        if not tenant.account.license_reservation_enabled:
            enable_reservations(tenant.account)
        token = secrets.token_hex(4).upper()
        license = make_license(f"Reserved License {token}")
        deposit(va, license, 5)
        serial = f"FOC{token}"
        reservation: Reservation = reserve_licenses(
            actor=tenant.admin,
            virtual_account=va,
            request_code=request_code(serial=serial),
            reservation_type="specific",
            licenses={license: 2},
        )
        tenant.remember(serial)
        tenant.cache[key] = reservation.pk
    return tenant.cache[key]
