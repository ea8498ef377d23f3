"""URL kwargs of the Cisco-compatible paths for the tenant sweeps (tests/isolation.py): the account by its
domain, a VA by its name."""

from __future__ import annotations

from tests.isolation import builds


@builds("domain")
def domain(tenant, va):
    return tenant.account.domain


@builds("va_name")
def va_name(tenant, va):
    return va.name


@builds("account_type")
def account_type(tenant, va):
    return "customer"
