"""Registration tokens on the Cisco-compatible paths (CSSM_API.md §2 "Registration tokens")."""

from __future__ import annotations

import pytest

from licensing.models import RegistrationToken

from .helpers import call, client_for, error_json, has_keys, ok_json

pytestmark = pytest.mark.django_db
TOKENS = "v1/accounts/acme.example.com/virtual-accounts/VA1/tokens"
INFO_KEYS = ("token", "description", "expirationDate", "exportControlled", "virtualAccount", "status")


@pytest.mark.parametrize(
    ("body", "days", "export"),
    [
        ({"description": "ci", "expiresAfterDays": 30, "exportControlled": "Not Allowed"}, 30, False),
        ({"description": "abhaskar", "expiresAfterDays": 5, "exportControlled": "Allowed"}, 5, True),
        ({"description": "float", "expiresAfterDays": 7.0, "exportControlled": "Allowed"}, 7, True),
        ({"description": "string", "expiresAfterDays": "10", "exportControlled": "Not Allowed"}, 10, False),
        # catalyst9k adds limit/offset to the create body
        ({"description": "c9k", "expiresAfterDays": 30, "exportControlled": "Not Allowed", "limit": 50, "offset": 0},
         30, False),
        ({}, 30, False),
    ],
)  # fmt: skip
def test_create_token_answers_200_with_token_info(estate, body, days, export):
    client = client_for(estate.user)
    doc = ok_json(call(client, "POST", TOKENS, body), "status", "statusMessage", "tokenInfo")
    assert doc["status"] == "SUCCESS"
    has_keys(doc["tokenInfo"], INFO_KEYS)
    token = RegistrationToken.objects.get(token=doc["tokenInfo"]["token"])
    assert token.virtual_account == estate.va1 and token.export_controlled_allowed is export
    assert round((token.expires_at - token.created_at).total_seconds() / 86400) == days
    assert doc["tokenInfo"]["exportControlled"] == ("Allowed" if export else "Not Allowed")


def test_list_tokens_shows_usable_tokens_newest_first(estate):
    client = client_for(estate.user)
    # The estate's registered device made one token already.
    existing = ok_json(call(client, "GET", TOKENS, raw="null"), "tokens")["tokens"]
    made = [ok_json(call(client, "POST", TOKENS, {"description": f"t{n}"}))["tokenInfo"]["token"] for n in range(2)]
    doc = ok_json(call(client_for(estate.viewer), "GET", TOKENS + "/"), "status", "tokens", "totalRecords")
    assert [t["token"] for t in doc["tokens"]][:2] == made[::-1]
    assert len(doc["tokens"]) == len(existing) + 2
    for item in doc["tokens"]:
        has_keys(item, INFO_KEYS)
    # Another VA lists none of them.
    other = ok_json(call(client, "GET", "v1/accounts/acme.example.com/virtual-accounts/Lab%2002/tokens"))
    assert other["tokens"] == [] and other["totalRecords"] == 0


def test_revoke_token(estate):
    client = client_for(estate.user)
    token = ok_json(call(client, "POST", TOKENS, {"description": "to revoke"}))["tokenInfo"]["token"]
    doc = ok_json(call(client, "POST", TOKENS + "/revoke", {"tokens": [token]}), "status", "tokens")
    assert doc["tokens"] == [{"token": token, "status": "SUCCESS", "statusMessage": "Revoked."}]
    assert RegistrationToken.objects.get(token=token).is_revoked
    assert token not in [t["token"] for t in ok_json(call(client, "GET", TOKENS))["tokens"]]
    # Again: refused, with the envelope.
    error_json(call(client, "POST", TOKENS + "/revoke", {"tokens": [token]}), 400)


def test_revoke_is_all_or_nothing(estate):
    client = client_for(estate.user)
    token = ok_json(call(client, "POST", TOKENS, {}))["tokenInfo"]["token"]
    doc = error_json(call(client, "POST", TOKENS + "/revoke", {"tokens": [token, "no-such-token"]}), 400)
    assert "nothing was revoked" in doc["statusMessage"]
    assert not RegistrationToken.objects.get(token=token).is_revoked
    for raw in ("null", '{"tokens": []}', '{"tokens": [1]}'):
        error_json(call(client, "POST", TOKENS + "/revoke", raw=raw), 400)


def test_token_errors_rights_and_tenants(estate):
    count = RegistrationToken.objects.count()
    user = client_for(estate.user)
    for body in (
        {"expiresAfterDays": 0},
        {"expiresAfterDays": 400},
        {"expiresAfterDays": "soon"},
        {"expiresAfterDays": 1.5},
        {"exportControlled": "maybe"},
        {"description": 5},
    ):
        doc = error_json(call(user, "POST", TOKENS, body), 400)
        assert "expires_after_days" not in doc["statusMessage"]
    error_json(call(client_for(estate.viewer), "POST", TOKENS, {"description": "viewer"}), 403)
    token = ok_json(call(user, "POST", TOKENS, {}))["tokenInfo"]["token"]
    error_json(call(client_for(estate.viewer), "POST", TOKENS + "/revoke", {"tokens": [token]}), 403)
    error_json(call(user, "GET", "v1/accounts/globex.example.org/virtual-accounts/Secret%20VA/tokens"), 404)
    error_json(call(user, "POST", "v1/accounts/acme.example.com/virtual-accounts/Secret%20VA/tokens", {}), 404)
    error_json(call(user, "POST", "v1/accounts/acme.example.com/virtual-accounts/Nope/tokens/revoke",
                    {"tokens": [token]}), 404)  # fmt: skip
    assert RegistrationToken.objects.count() == count + 1
