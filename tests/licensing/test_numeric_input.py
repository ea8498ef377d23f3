"""Numbers people type into the portal's forms: past the bounds, a message on the form, never a 500.

A number such as 99999999999999999999 passes Python's int() but no database column holds it
(SQLite raises OverflowError, PostgreSQL "integer out of range"); every numeric field that reaches
a service or a query is bounded in the form, and the services bound it again.
"""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from licensing.services import TOKEN_MAX_USES, create_registration_token
from tests.isolation import build_tenant, response_text

from .helpers import deposit, make_license, register

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # past 64 bits


@pytest.fixture
def tenant():
    t = build_tenant()
    t.nw = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    deposit(t.va_a, t.nw, 10)
    deposit(t.va_b, t.nw, 5)
    register(t.va_b, {t.nw: 2}, hostname="sw-01")  # (its token is in va_b: va_a starts without tokens)
    return t


@pytest.mark.parametrize("max_uses", [HUGE, str(2**31), str(TOKEN_MAX_USES + 1)])
def test_create_token_refuses_more_uses_than_the_maximum_with_a_message(client, tenant, max_uses):
    client.force_login(tenant.user)
    url = reverse("va_tokens", args=[tenant.account.pk, tenant.va_a.pk])
    response = client.post(url, {"expires_after_days": 30, "max_uses": max_uses})
    assert response.status_code == 200
    assert f"Ensure this value is less than or equal to {TOKEN_MAX_USES}" in response.content.decode()
    assert not tenant.va_a.registration_tokens.exists()


def test_create_token_accepts_the_maximum_number_of_uses(client, tenant):
    client.force_login(tenant.user)
    url = reverse("va_tokens", args=[tenant.account.pk, tenant.va_a.pk])
    response = client.post(url, {"expires_after_days": 30, "max_uses": TOKEN_MAX_USES})
    assert response.status_code == 302
    assert tenant.va_a.registration_tokens.get().max_uses == TOKEN_MAX_USES


@pytest.mark.parametrize("max_uses", [10**20, 2**31, TOKEN_MAX_USES + 1])
def test_the_token_service_bounds_the_uses_too(tenant, max_uses):
    with pytest.raises(ValidationError) as raised:
        create_registration_token(actor=tenant.user, virtual_account=tenant.va_a, max_uses=max_uses)
    assert f"at most {TOKEN_MAX_USES:,}" in " ".join(raised.value.message_dict["max_uses"])
    assert not tenant.va_a.registration_tokens.exists()


def test_a_license_transfer_of_a_huge_quantity_is_refused_on_the_form(client, tenant):
    client.force_login(tenant.user)
    url = reverse("license_transfer", args=[tenant.account.pk, tenant.va_a.pk, tenant.nw.pk])
    response = client.post(url, {"target": tenant.va_b.pk, "quantity": HUGE})
    assert response.status_code == 200
    assert "available" in response.content.decode()


@pytest.mark.parametrize("name", ["instances", "instances_csv"])
def test_the_instance_list_ignores_a_license_filter_past_the_bounds(client, tenant, name):
    client.force_login(tenant.user)
    response = client.get(reverse(name, args=[tenant.account.pk]), {"license": HUGE})
    assert response.status_code == 200
    assert "sw-01" in response_text(response)  # the out-of-range filter is dropped, not an empty list
