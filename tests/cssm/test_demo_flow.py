"""A script written for Cisco's API, run against the portal's own demo data (the issue's "Done when")."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from tests.api.helpers import bearer

from .helpers import call, ok_json

pytestmark = pytest.mark.django_db
DOMAIN = "acme.example.com"


def test_a_cisco_script_runs_on_the_demo_data():
    call_command("seed_demo", stdout=io.StringIO())
    # The script's credentials, as a provisioning script makes them; its token from the OAuth2 endpoint with
    # the fields in the query string and an empty body (catalyst9k).
    secret = "S3cretS3cretS3cretS3cretS3cret"
    call_command("create_api_client", "--account", DOMAIN, "--name", "Ansible", "--role", "admin",
                 "--client-id", "ansible-demo", "--client-secret", secret, stdout=io.StringIO())  # fmt: skip
    answer = APIClient().post(
        f"/as/token.oauth2?grant_type=client_credentials&client_id=ansible-demo&client_secret={secret}"
    )
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    client = APIClient(headers=bearer(answer.json()["access_token"]))

    accounts = ok_json(call(client, "GET", "//services/api/smart-accounts-and-licensing/v2/accounts"))["accounts"]
    assert DOMAIN in [a["accountDomain"] for a in accounts]
    vas = ok_json(call(client, "GET", f"v1/accounts/{DOMAIN}/customer/virtual-accounts", raw="null"))
    names = [va["name"] for va in vas["virtualAccounts"]]
    assert {"Engineering", "Data Center", "Finance"} <= set(names)

    licenses = ok_json(call(client, "POST", f"v1/accounts/{DOMAIN}/licenses", {"virtualAccounts": []}))["licenses"]
    assert licenses and all(row["licenseDetails"] is not None for row in licenses)
    source_row = next(row for row in licenses if row["available"] >= 2 and row["licenseDetails"])
    source = source_row["virtualAccount"]
    target = next(name for name in names if name != source)

    # A registration token in the target VA: create, list, revoke.
    tokens = f"v1/accounts/{DOMAIN}/virtual-accounts/{target}/tokens"
    made = ok_json(call(client, "POST", tokens, {"description": "script", "expiresAfterDays": 30,
                                                  "exportControlled": "Not Allowed"}))  # fmt: skip
    token = made["tokenInfo"]["token"]
    assert token in [t["token"] for t in ok_json(call(client, "GET", tokens))["tokens"]]
    revoked = ok_json(call(client, "POST", tokens + "/revoke", {"tokens": [token]}))
    assert revoked["tokens"][0]["status"] == "SUCCESS"

    # Move a device of the source VA to the target VA, then check the target lists it.
    devices = ok_json(call(client, "GET", f"v1/accounts/{DOMAIN}/virtual-accounts/{source}/devices"))["devices"]
    device = next((d for d in devices if d["status"] != "Reserved"), None)
    if device is None:  # the chosen VA has no devices: take one from any VA
        listed = ok_json(call(client, "POST", f"v1/accounts/{DOMAIN}/devices", {"virtualAccounts": []}))
        device = next(d for d in listed["devices"] if d["status"] != "Reserved")
    home = device["virtualAccount"]
    goal = target if target != home else source
    moved = ok_json(call(client, "POST", f"v1/accounts/{DOMAIN}/virtual-accounts/{home}/devices/transfer",
                         {"productInstances": [{"sudi": device["sudi"], "productTagName": "",
                                                "targetVirtualAccount": goal}]}))  # fmt: skip
    assert moved["status"] == "SUCCESS"
    after = ok_json(call(client, "GET", f"v1/accounts/{DOMAIN}/virtual-accounts/{goal}/devices", query="limit=1000"))
    assert device["sudi"]["udiSerialNumber"] in [d["sudi"]["udiSerialNumber"] for d in after["devices"]]

    # Move licenses between the VAs; the target's licenses show them.
    line = {"license": source_row["license"], "licenseType": source_row["licenseDetails"][0]["licenseType"].upper(),
            "quantity": "2", "targetVirtualAccount": target}  # fmt: skip
    answer = ok_json(call(client, "POST", f"v1/accounts/{DOMAIN}/virtual-accounts/{source}/licenses/transfer",
                          {"licenses": [line]}))  # fmt: skip
    assert answer["status"] == "SUCCESS"
    rows = ok_json(call(client, "POST", f"v1/accounts/{DOMAIN}/licenses", {"virtualAccounts": [target]}))["licenses"]
    assert any(row["license"] == source_row["license"] and row["quantity"] >= 2 for row in rows)
