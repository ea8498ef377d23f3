"""The Cisco-compatible paths with OAuth2 Bearer tokens, as scripts call them: a client's role and scope bound
what it sees and does, a password-grant token acts as the person under the client's role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from licensing.models import RegistrationToken
from smartaccounts.services.api_clients import revoke_api_client
from tests.api.helpers import bearer, get_token, make_api_client
from tests.factories import PASSWORD

from .helpers import call, error_json, ok_json

pytestmark = pytest.mark.django_db
TOKENS = "v1/accounts/acme.example.com/virtual-accounts/VA1/tokens"


def _client(account, role, va=None, **fields) -> tuple[APIClient, object]:
    api_client, secret = make_api_client(account, role, va)
    return APIClient(headers=bearer(get_token(APIClient(), api_client.client_id, secret, **fields))), api_client


def test_client_credentials_clients_by_role(estate):
    admin, _ = _client(estate.account, "admin")
    doc = ok_json(call(admin, "GET", "//services/api/smart-accounts-and-licensing/v2/accounts", raw="null"))
    assert [(a["accountDomain"], a["roles"]) for a in doc["accounts"]] == [
        ("acme.example.com", [{"role": "Smart Account Administrator"}])
    ]
    viewer, _ = _client(estate.account, "viewer")
    assert ok_json(call(viewer, "POST", "v1/accounts/acme.example.com/licenses", {"virtualAccounts": []}))["licenses"]
    error_json(call(viewer, "POST", TOKENS, {"description": "no"}), 403)
    user, _ = _client(estate.account, "user")
    made = ok_json(call(user, "POST", TOKENS, {"description": "yes", "expiresAfterDays": "30"}))
    assert RegistrationToken.objects.filter(token=made["tokenInfo"]["token"]).exists()
    error_json(call(user, "GET", "v1/accounts/globex.example.org/virtual-accounts"), 404)


def test_a_va_scoped_client_sees_its_va_only(estate):
    client, _ = _client(estate.account, "user", estate.va1)
    doc = ok_json(call(client, "GET", "v2/accounts"))
    assert doc["accounts"][0]["roles"] == [{"role": "Virtual Account User", "virtualAccount": "VA1"}]
    vas = ok_json(call(client, "GET", "v1/accounts/acme.example.com/customer/virtual-accounts"))
    assert [va["name"] for va in vas["virtualAccounts"]] == ["VA1"]
    rows = ok_json(call(client, "POST", "v1/accounts/acme.example.com/licenses", {"virtualAccounts": []}))
    assert {row["virtualAccount"] for row in rows["licenses"]} == {"VA1"}
    error_json(call(client, "GET", "v1/accounts/acme.example.com/virtual-accounts/Lab%2002/devices"), 404)
    line = {"license": "C9300 Network Advantage", "quantity": 1, "targetVirtualAccount": "Lab 02"}
    error_json(
        call(
            client, "POST", "v1/accounts/acme.example.com/virtual-accounts/VA1/licenses/transfer", {"licenses": [line]}
        ),
        404,
    )


def test_a_password_grant_acts_as_the_person_under_the_clients_role(estate):
    client, _ = _client(estate.account, "viewer", grant_type="password", username=estate.admin.email, password=PASSWORD)
    doc = ok_json(call(client, "GET", "v2/accounts"))
    assert doc["accounts"][0]["roles"] == [{"role": "Smart Account Viewer"}]
    error_json(call(client, "POST", TOKENS, {}), 403)
    error_json(call(client, "POST", "v1/accounts/acme.example.com/virtual-accounts", {"name": "Nope"}), 403)


def test_a_revoked_client_is_refused_in_the_envelope(estate):
    client, api_client = _client(estate.account, "admin")
    ok_json(call(client, "GET", "v2/accounts/search"))
    revoke_api_client(actor=estate.admin, api_client=api_client)
    response = call(client, "GET", "v2/accounts/search")
    assert response.status_code == 401
    assert response.json()["status"] == "ERROR"


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_the_json_body_is_read_whatever_the_content_type_says(estate, content_type):
    client, _ = _client(estate.account, "viewer")
    response = client.generic(
        "POST",
        "/services/api/smart-accounts-and-licensing/v1/accounts/acme.example.com/licenses",
        '{"virtualAccounts": ["Lab 02"]}',
        content_type=content_type,
    )
    assert response.status_code == 200, response.content
    assert response.json()["licenses"] == []  # Lab 02 holds nothing: the body was read (VA1 holds two)
