"""URL-argument builders of the smartaccounts pages (see tests/isolation.py)."""

from tests.isolation import builds


@builds("account_id")
def account_id(tenant, va):
    return tenant.account.pk


@builds("va_id")
def va_id(tenant, va):
    return va.pk
