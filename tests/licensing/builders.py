"""URL-argument builders of the licensing pages (see tests/isolation.py).

Each builder makes an object of the tenant inside `va` and remembers its distinctive strings,
which must never show to someone without a role there.
"""

from __future__ import annotations

import secrets

from tests.isolation import builds

from .helpers import make_license, make_order, register, token_for


def _held_license(tenant, va):
    """A license with 10 held in `va`, deposited by an order; made once per tenant and VA."""
    key = ("licensing.license", va.pk)
    if key not in tenant.cache:
        license = tenant.cache.get("licensing.catalog_license")
        if license is None:
            license = tenant.cache["licensing.catalog_license"] = make_license("Catalyst 9300 DNA Advantage Builder")
        number = f"SO-{secrets.token_hex(4).upper()}"
        order = make_order(tenant.account, [(license, 10)], va=va, number=number)
        tenant.remember(number)
        tenant.cache[key] = (license, order)
    return tenant.cache[key]


@builds("license_id")
def license_id(tenant, va):
    return _held_license(tenant, va)[0].pk


@builds("order_id")
def order_id(tenant, va):
    return _held_license(tenant, va)[1].pk


@builds("instance_id")
def instance_id(tenant, va):
    key = ("licensing.instance", va.pk)
    if key not in tenant.cache:
        license, _ = _held_license(tenant, va)
        serial = f"FDO{secrets.token_hex(4).upper()}"
        hostname = f"edge-{secrets.token_hex(3)}.{tenant.account.domain}"
        tenant.cache[key] = register(va, {license: 1}, serial=serial, hostname=hostname, pid="C9300-24T")
        tenant.remember(serial, hostname)
    return tenant.cache[key].pk


@builds("token_id")
def token_id(tenant, va):
    key = ("licensing.token", va.pk)
    if key not in tenant.cache:
        description = f"Branch rollout {secrets.token_hex(3)}"
        tenant.cache[key] = token_for(va, description=description)
        tenant.remember(description, tenant.cache[key].token)
    return tenant.cache[key].pk


# The workflow pages (hand-overs, PAKs, reservations) keep their builders beside their tests.
try:
    import tests.licensing.workflows.builders  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - until those pages exist
    if exc.name != "tests.licensing.workflows.builders":
        raise
