"""The Cisco clients' quirky requests over a real socket, through a WSGI server (Django's threaded server,
as `runserver` uses): the paths are not normalised by any test client on the way.

`http.client` sends the request line as written: `//services/api/...`, the doubled `/services/api` prefix
and a percent-encoded VA name reach the server byte for byte, as Ansible, requests and curl send them.
"""

from __future__ import annotations

import base64
import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.api.helpers import make_api_client

pytestmark = pytest.mark.django_db(transaction=True)

CISCO = "/services/api/smart-accounts-and-licensing/"


def send(server_url: str, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """One raw request; returns (status, content type, parsed JSON)."""
    parts = urlsplit(server_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body or b"")))
        connection.endheaders(body)
        response = connection.getresponse()
        content = response.read()
        content_type = (response.getheader("Content-Type") or "").split(";")[0]
        assert content_type == "application/json", (response.status, content[:300])
        return response.status, json.loads(content)
    finally:
        connection.close()


def test_cisco_clients_quirks_over_http(live_server, estate):
    api_client, secret = make_api_client(estate.account, "admin")
    client_id = api_client.application.client_id
    url = live_server.url

    # catalyst9k: credentials in the query string, an empty body and no Content-Type.
    status, answer = send(url, "POST", f"/as/token.oauth2?grant_type=client_credentials&client_id={client_id}"
                                       f"&client_secret={secret}")  # fmt: skip
    assert status == 200, answer
    assert answer["token_type"] == "Bearer" and answer["expires_in"] > 0 and answer["access_token"]
    # CiscoSE: HTTP Basic, only the grant in the body (and a base URL ending in "/").
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    status, basic_answer = send(url, "POST", "//oauth2/default/v1/token", b"grant_type=client_credentials",
                                {"Authorization": f"Basic {basic}",
                                 "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8"})  # fmt: skip
    assert status == 200 and basic_answer["access_token"], basic_answer
    auth = {"Authorization": f"{answer['token_type']} {answer['access_token']}"}
    json_auth = {**auth, "Content-Type": "application/json"}

    # abhaskar / mCSSMapi: `//services/api/...`; the gve-sw Postman collection: the doubled prefix.
    status, accounts = send(url, "GET", "//services/api/smart-accounts-and-licensing/v2/accounts", b"null", json_auth)
    assert status == 200 and accounts["status"] == "SUCCESS", accounts
    (account,) = accounts["accounts"]
    assert {"accountName", "accountDomain", "accountStatus", "accountType", "roles"} <= set(account)
    assert account["accountDomain"] == "acme.example.com"
    status, search = send(url, "GET", f"/services/api{CISCO}v2/accounts/search", None, auth)
    assert status == 200 and search["status"] == "COMPLETE", search
    assert {va["name"] for va in search["accounts"][0]["virtual_accounts"]} >= {"VA1", "Lab 02"}

    domain = account["accountDomain"]
    every_va = json.dumps({"virtualAccounts": [], "limit": 50, "offset": 0}).encode()
    status, licenses = send(url, "POST", f"/{CISCO}v1/accounts/{domain}/licenses", every_va, json_auth)
    assert status == 200 and licenses["totalRecords"] >= 1, licenses
    row = licenses["licenses"][0]
    keys = {"license", "quantity", "inUse", "available", "reserved", "status", "virtualAccount", "licenseDetails"}
    assert keys <= set(row)

    # Ansible `uri`: a percent-encoded VA name, the literal body `null` on a GET, with the `//` prefix.
    status, devices = send(url, "GET", f"/{CISCO}v1/accounts/{domain}/virtual-accounts/VA1/devices", b"null", json_auth)
    assert status == 200 and devices["totalRecords"] == 1, devices
    assert devices["devices"][0]["sudi"]["udiSerialNumber"] == estate.device.serial_number
    assert "productTagName" in devices["devices"][0]
    status, created = send(url, "POST", f"/services/api{CISCO}v1/accounts/{domain}/virtual-accounts/Lab%2002/tokens",
                           b'{"description":"c9k","expiresAfterDays":"30","exportControlled":"Not Allowed",'
                           b'"limit":50,"offset":0}', json_auth)  # fmt: skip
    assert status == 200 and created["status"] == "SUCCESS" and created["tokenInfo"]["token"], created

    # A path no Cisco operation has still answers JSON in the envelope.
    status, missing = send(url, "GET", f"//services/api{CISCO}v9/nothing", None, auth)
    assert status == 404 and missing["status"] == "ERROR", missing
