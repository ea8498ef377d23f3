"""With the demo data: a script holding an API client's token reserves licenses and completes the SLUP
report/poll flow, finding its ids as the gve-sw scripts do (v2/accounts/search)."""

from __future__ import annotations

import base64
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import F
from django.utils import timezone

from licensing import reservation_codes
from licensing.models import LicenseBalance, ProductInstance
from policy.services import ack_is_authentic
from smartaccounts.models import SmartAccount
from tests.policy.helpers import report

from .helpers import call, ok_json
from .test_slup import accepted, postman_parse, slup
from .tokens import token_client

pytestmark = pytest.mark.django_db


def test_demo_reserve_and_slup_report_poll():
    call_command("seed_demo", stdout=StringIO())
    acme = SmartAccount.objects.get(domain="acme.example.com")
    client = token_client(acme, "user")

    # SLR: one license of a VA that has some available.
    free = (
        LicenseBalance.objects.filter(smart_account=acme, purchased__gt=F("in_use") + F("reserved"))
        .select_related("license", "virtual_account")
        .order_by("pk")
        .first()
    )
    request_code = reservation_codes.make_request_code(pid="C9300-24T", serial_number="DEMO0001")
    body = {"reservationRequests": [{"reservationCode": request_code, "reservationType": "SPECIFIC",
                                     "licenses": [{"entitlementTag": free.license.tag, "quantity": "1"}]}]}  # fmt: skip
    path = f"v2/accounts/{acme.domain}/virtual-accounts/{free.virtual_account.name}/reserve-licenses"
    doc = ok_json(call(client, "POST", path, body), "status", "authorizationCodes")
    assert doc["status"] == "SUCCESS", doc
    reservation_codes.verify_authorization(doc["authorizationCodes"][0]["authorizationCode"])

    # SLUP: the ids from v2/accounts/search, then reportusage → poll → acknowledgement.
    search = ok_json(call(client, "GET", "v2/accounts/search"), "accounts")
    assert search["status"] == "COMPLETE"
    (account,) = [a for a in search["accounts"] if a["domain"] == acme.domain]
    instance = (
        ProductInstance.objects.filter(smart_account=acme, status="active")
        .exclude(trust_code="")
        .order_by("pk")
        .first()
    )
    (va,) = [v for v in account["virtual_accounts"] if v["name"] == instance.virtual_account.name]
    ids = {"account": account["account_id"], "va": va["virtual_account_id"]}
    usage = {row.license: row.count for row in instance.usage.select_related("license")}
    document = report(instance, generated_at=timezone.now(), usage=usage)
    sudi = {"udi_pid": instance.pid, "udi_serial_number": instance.serial_number}
    body = {"data": {"timestamp": 1656010025453, "nonce": "demo1234", "reports": [
        {"sudi": sudi, "usage": [{"payload": json.dumps(document),
                                  "signature": {"sudi": sudi, "signing_type": "builtin", "key": "", "value": ""}}]}
    ]}}  # fmt: skip
    response = slup(client, "v2/devices/reportusage", body, **ids)
    poll_id = int(postman_parse(accepted(response, "acknowledgements") and response.content.decode())["poll_id"])
    poll = slup(client, "v2/accounts/poll", {"data": {"timestamp": "1", "nonce": "x", "poll_id": poll_id,
                                                      "action": "acknowledgements"}}, **ids)  # fmt: skip
    assert poll.status_code == 200 and poll.json()["status"] == "COMPLETE"
    ack = poll.json()["data"]["acknowledgements"][0]
    assert ack_is_authentic(json.loads(base64.b64decode(ack["smart_license"])))
