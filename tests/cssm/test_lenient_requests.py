"""Cisco's API answers JSON whatever a script's Accept header says, and reads a body with a UTF-8 byte order
mark: neither is a reason to refuse a script that only changed its host."""

from __future__ import annotations

import json

import pytest

from .helpers import BASE, client_for, ok_json

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "accept", ["text/plain", "text/html", "application/xml", "application/hal+json", "text/html,application/xhtml+xml"]
)
def test_any_accept_header_gets_json(estate, accept):
    client = client_for(estate.admin)
    response = client.get(BASE + "v2/accounts", HTTP_ACCEPT=accept)
    assert ok_json(response, "accounts")["accounts"][0]["accountDomain"] == estate.account.domain
    body = json.dumps({"virtualAccounts": [estate.va1.name]})
    licenses = client.generic(
        "POST", BASE + f"v1/accounts/{estate.account.domain}/licenses", body, "application/json", HTTP_ACCEPT=accept
    )
    assert ok_json(licenses, "licenses")["totalRecords"] >= 1


def test_errors_are_json_whatever_the_accept_header(estate):
    client = client_for(estate.viewer)
    response = client.generic(
        "POST", BASE + f"v1/accounts/{estate.account.domain}/virtual-accounts", '{"name": "X"}', "application/json",
        HTTP_ACCEPT="text/html",
    )  # fmt: skip
    assert response.status_code == 403 and response["Content-Type"] == "application/json"
    assert response.json()["status"] == "ERROR"


def test_a_body_with_a_byte_order_mark_is_read(estate):
    client = client_for(estate.admin)
    body = "\ufeff" + json.dumps({"virtualAccounts": [estate.va1.name]})
    response = client.generic(
        "POST", BASE + f"v1/accounts/{estate.account.domain}/licenses", body.encode(), "application/json"
    )
    document = ok_json(response, "licenses")
    assert {row["virtualAccount"] for row in document["licenses"]} == {estate.va1.name}


@pytest.mark.parametrize("value", [str(2**64), "9" * 40, "١٢"])
def test_numbers_past_a_bigint_or_in_other_scripts_are_refused_not_a_500(estate, value):
    client = client_for(estate.admin)
    # A limit/offset past the largest bigint would overflow the query's OFFSET.
    body = json.dumps({"virtualAccounts": [], "limit": 10, "offset": value})
    response = client.generic("POST", BASE + f"v1/accounts/{estate.account.domain}/devices", body, "application/json")
    assert response.status_code == 400 and response.json()["status"] == "ERROR"
    # The SLUP headers name ids: one past a bigint is no account of anyone's.
    response = client.generic(
        "POST", BASE + "v3/licenses/summary", json.dumps({"data": {"tags": []}}), "application/json",
        HTTP_X_CSW_SMART_ACCOUNT_ID=value, HTTP_X_CSW_VIRTUAL_ACCOUNT_ID=str(estate.va1.pk),
    )  # fmt: skip
    assert response.status_code == 404
