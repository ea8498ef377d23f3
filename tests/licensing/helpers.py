"""Data makers for the licensing tests: licenses and SKUs, deposited orders, tokens and registered devices.

Everything goes through the services, as the product does it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import secrets

from licensing.models import License, LicenseBalance, Order, OrderLine, ProductInstance, Sku
from licensing.services import create_registration_token, deposit_order, register_product_instance
from licensing.verification import verify_ledger
from smartaccounts.models import SmartAccount, VirtualAccount

_seq = itertools.count(1)


def make_license(
    name: str | None = None,
    *,
    family: str = "Catalyst 9300",
    license_type: str = "perpetual",
    enforcement: str = "unenforced",
) -> License:
    n = next(_seq)
    return License.objects.create(
        name=name or f"{family} Test Feature {n}",
        tag=f"regid.2017-03.com.cisco.T{n}_{secrets.token_hex(3).upper()},1.0_{secrets.token_hex(8)}",
        product_family=family,
        license_type=license_type,
        enforcement=enforcement,
    )


def make_sku(license: License, *, per_unit: int = 1, term_months: int | None = None, code: str | None = None) -> Sku:
    if term_months is None and license.is_time_bound:
        term_months = 36
    return Sku.objects.create(
        code=code or f"L-T{next(_seq)}-{secrets.token_hex(2).upper()}",
        license=license,
        licenses_per_unit=per_unit,
        default_term_months=term_months,
    )


def sku_for(license: License) -> Sku:
    return license.skus.order_by("pk").first() or make_sku(license)


def make_order(
    account: SmartAccount | None,
    lines: list[tuple],
    *,
    va: VirtualAccount | None = None,
    number: str | None = None,
    deposit: bool = True,
) -> Order:
    """`lines`: (license or SKU, quantity[, term_start, term_end]) tuples."""
    order = Order.objects.create(
        number=number or f"SO-{next(_seq):05d}-{secrets.token_hex(2).upper()}",
        smart_account=account,
        virtual_account=va,
        ordered_by="Test Partner Inc",
    )
    for n, line in enumerate(lines, start=1):
        item, quantity, *term = line
        sku = item if isinstance(item, Sku) else sku_for(item)
        OrderLine.objects.create(
            order=order,
            line_number=n,
            sku=sku,
            quantity=quantity,
            term_start=term[0] if term else None,
            term_end=term[1] if len(term) > 1 else None,
        )
    if deposit:
        order = deposit_order(order=order)
    return order


def deposit(va: VirtualAccount, license: License, quantity: int, *, end: dt.date | None = None, start=None) -> Order:
    """Put `quantity` licenses into `va` with an order (term licenses end on `end` when given)."""
    term = (start or (end - dt.timedelta(days=365) if end else None), end) if end else ()
    return make_order(va.smart_account, [(license, quantity, *term)], va=va)


def token_for(va: VirtualAccount, actor=None, **kwargs):
    actor = actor or va.smart_account.created_by
    return create_registration_token(actor=actor, virtual_account=va, **kwargs)


def register(
    va: VirtualAccount, usage: dict[License, int] | None = None, *, serial: str | None = None, hostname: str = "", **kw
) -> ProductInstance:
    token = kw.pop("token", None) or token_for(va)
    return register_product_instance(
        token=token.token,
        pid=kw.pop("pid", "C9300-48P"),
        serial_number=serial or f"FOC{secrets.token_hex(4).upper()}",
        hostname=hostname,
        usage={lic.tag: n for lic, n in (usage or {}).items()},
        **kw,
    )


def balance(va: VirtualAccount, license: License) -> LicenseBalance:
    return LicenseBalance.objects.filter(virtual_account=va, license=license).first() or LicenseBalance(
        virtual_account=va, license=license
    )


def assert_ledger_clean() -> None:
    differences = verify_ledger()
    assert differences == [], "\n".join(map(str, differences))
