"""URL-argument builders of the Cisco-compatible paths (see tests/isolation.py): they name the account by
its domain and a Virtual Account by its name."""

from tests.isolation import builds


@builds("domain")
def domain(tenant, va):
    return tenant.account.domain


@builds("va_name")
def va_name(tenant, va):
    return va.name
