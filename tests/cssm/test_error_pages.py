"""Errors raised before any Cisco view runs (no route, a forged Host header) answer in Cisco's envelope as
JSON: Ansible's `uri` and the scripts parse only JSON answers."""

from __future__ import annotations

import pytest

from .helpers import BASE, call

pytestmark = pytest.mark.django_db


def _envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].split(";")[0] == "application/json"
    document = response.json()
    assert document["status"] == "ERROR" and document["errorCode"] == code, document
    assert document["statusMessage"]
    return document


@pytest.mark.parametrize(
    "path",
    [
        BASE + "v9/accounts",
        "//services/api/smart-accounts-and-licensing/v1/no-such-thing",
        "/services/api/services/api/smart-accounts-and-licensing/v1/accounts/acme.example.com/nothing",
        "/services/api/other-service/v1/x",
        "/v1/software/apis/no-such-api/v1/x",
    ],
)
def test_an_unknown_cisco_path_is_a_json_404_in_the_envelope(client, path):
    _envelope(call(client, "GET", path), 404, "not_found")


def test_a_forged_host_on_a_cisco_path_is_a_json_400_in_the_envelope(client):
    response = client.get(BASE + "v2/accounts", HTTP_HOST="swapi.cisco.com")
    _envelope(response, 400, "bad_request")


def test_pages_and_the_native_api_keep_their_own_error_answers(client):
    assert client.get("/no-such-page/")["Content-Type"].startswith("text/html")
    native = client.get("/api/v1/no-such-endpoint/")
    assert native.status_code == 404 and set(native.json()) == {"code", "detail", "fields"}
