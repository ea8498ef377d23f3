"""The permission matrix over every licensing URL (see tests/isolation.py): GET and each write method."""

import pytest

from tests.isolation import Case, build_tenant, check_permission_matrix

pytestmark = pytest.mark.django_db


def transfer_data(tenant, va):
    return {"target": tenant.va_a.pk if va != tenant.va_a else tenant.va_a_child.pk, "quantity": 1}


def instances_transfer_data(tenant, va):
    from tests.licensing.builders import instance_id

    return {"instances": [instance_id(tenant, va)], "target": tenant.va_a.pk}


CASES = [
    # Licenses
    Case("licenses"),
    Case("licenses_csv"),
    Case("license_detail"),
    Case("va_licenses", va_bound=True),
    Case("va_licenses_csv", va_bound=True),
    Case("va_license_detail", va_bound=True),
    Case("license_transfer", action="operate", va_bound=True),
    Case("license_transfer", method="post", action="operate", va_bound=True, data=transfer_data),
    # Product instances
    Case("instances"),
    Case("instances_csv"),
    Case("instances_transfer", method="post", action="operate", data=instances_transfer_data),
    Case("instance_detail", va_bound=True),
    Case("instance_remove", method="post", action="operate", va_bound=True),
    Case("va_instances", va_bound=True),
    Case("va_instances_csv", va_bound=True),
    # Registration tokens
    Case("va_tokens", va_bound=True),
    Case("va_tokens", method="post", action="operate", va_bound=True, data={"expires_after_days": 30}),
    Case("token_revoke", method="post", action="operate", va_bound=True),
    # Compliance and orders
    Case("compliance"),
    Case("compliance", method="post", action="operate"),
    Case("orders"),
    Case("order_detail", va_bound=True),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_permission_matrix(client, case):
    check_permission_matrix(client, case, build_tenant())


def test_every_licensing_url_has_a_case():
    from tests.isolation import all_routes

    workflow_names = {r.name for r in all_routes() if r.pattern.startswith("api/")}
    mine = {
        r.name
        for r in all_routes()
        if r.name in {c.url_name for c in CASES}
        or r.name
        in {
            "licenses",
            "licenses_csv",
            "license_detail",
            "va_licenses",
            "va_licenses_csv",
            "va_license_detail",
            "license_transfer",
            "instances",
            "instances_csv",
            "instances_transfer",
            "instance_detail",
            "instance_remove",
            "va_instances",
            "va_instances_csv",
            "va_tokens",
            "token_revoke",
            "compliance",
            "orders",
            "order_detail",
        }  # fmt: skip
    }
    assert mine == {c.url_name for c in CASES}
    assert "api_device_register" in workflow_names
