"""Hostile values in the bodies of the hand-over, PAK, reservation and usage upload endpoints: NUL and other control
characters, lone surrogates, numbers far past 64 bits, wrong types. None is a 500; a refusal is in the one error
shape (on PostgreSQL this also proves no NUL reaches the database)."""

import json

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from licensing.models import HandOver, Reservation
from licensing.services import transfer_to_customer
from tests.factories import default_va, make_account

from .helpers import deposit, enable_reservations, make_license, make_order, make_pak, make_partner, make_sku

pytestmark = pytest.mark.django_db

HOSTILE = ["a\x00b", "\ud800", "\x07", 2**70, -(2**70), 1.5, True, None, [], {}, {"": None}, "9" * 40, "²"]


@pytest.fixture
def world():
    partner = make_partner("Hostile Partner Holding")
    customer = enable_reservations(make_account(name="Hostile Customer", domain="hostile-api.example.com"))
    va = default_va(customer)
    license = make_license("Hostile License")
    sku = make_sku(license, "L-HOSTILE")
    line = make_order(partner, [(sku, 5)]).lines.get()
    hand_over = transfer_to_customer(actor=partner.created_by, order_lines={line: 1}, customer_account=customer)
    pak = make_pak(customer, [(sku, 3)])
    deposit(va, license, 5)
    return {
        "partner": partner,
        "customer": customer,
        "va": va,
        "license": license,
        "line": line,
        "hand_over": hand_over,
        "pak": pak,
    }


def bodies(w):
    """(actor account, URL name, URL kwargs, a valid body): each field of the body is replaced in turn."""
    customer, partner = w["customer"], w["partner"]
    return [
        (
            partner,
            "api_hand_overs",
            {},
            {"customer_domain": customer.domain, "order_lines": {str(w["line"].pk): 1}},
        ),
        (customer, "api_hand_over_accept", {"hand_over_id": w["hand_over"].pk}, {"virtual_account_id": w["va"].pk}),
        (customer, "api_hand_over_decline", {"hand_over_id": w["hand_over"].pk}, {"reason": "no"}),
        (customer, "api_paks", {}, {"number": w["pak"].number}),
        (
            customer,
            "api_pak_convert",
            {"pak_id": w["pak"].pk},
            {"virtual_account_id": w["va"].pk, "lines": {"L-HOSTILE": 1}},
        ),
        (
            customer,
            "api_reservations",
            {},
            {
                "virtual_account_id": w["va"].pk,
                "request_code": "x",
                "reservation_type": "specific",
                "licenses": [{"license_id": w["license"].pk, "quantity": 1}],
                "product_family": "x",
            },
        ),
        (customer, "api_usage_report_list", {}, {"virtual_account_id": w["va"].pk, "reports": [{}], "file_name": "x"}),
    ]


def test_no_hostile_value_makes_an_endpoint_fail(world):
    w = world
    api = APIClient()
    checked = 0
    for account, name, kwargs, valid in bodies(w):
        api.force_login(account.created_by)
        path = reverse(name, kwargs={"account_id": account.pk, **kwargs})
        for field in valid:
            for value in HOSTILE:
                plain, nested = {**valid, field: value}, _nested(valid, field, value)
                for body in (plain, nested) if nested != plain else (plain,):
                    # As JSON text with escapes (a lone surrogate arrives as \\ud800, as any client sends it).
                    response = api.post(path, json.dumps(body), content_type="application/json")
                    assert response.status_code < 500, (name, field, repr(value), response.status_code)
                    if response.status_code >= 400:
                        assert set(response.json()) == {"code", "detail", "fields"}, (name, field, repr(value))
                    checked += 1
    assert checked > 100, checked
    # No hostile value became a reservation or a hand-over (the request code is never a valid one here). A PAK
    # conversion may happen: `"lines": null` converts everything left, a valid request.
    assert not Reservation.objects.exists()
    assert HandOver.objects.count() == 1


def _nested(valid: dict, field: str, value) -> dict:
    """The hostile value one level down, where the field holds a list or an object."""
    if field == "licenses":
        return {**valid, field: [{"license_id": value, "quantity": 1}]}
    if field == "lines":
        return {**valid, field: {"L-HOSTILE": value}}
    if field == "order_lines":
        return {**valid, field: {str(value): 1}}
    if field == "reports":
        return {**valid, field: [value]}
    return {**valid, field: value}
