"""The SLUP device flow (CSSM_API.md §G): authrequest, reportusage, poll, licenses summary, as the gve-sw
Postman collection sends them (doubled `/services/api` prefix, X-CSW headers)."""

from __future__ import annotations

import base64
import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from licensing import reservation_codes
from licensing.models import LicenseBalance, ProductInstance, Reservation
from licensing.services import authorization_signature
from policy.models import DevicePoll, UsageReport
from policy.services import ack_is_authentic, record_device_poll
from tests.licensing.helpers import deposit, make_license
from tests.policy.helpers import report

from .tokens import token_client

pytestmark = pytest.mark.django_db
DOUBLED = "/services/api/services/api/smart-accounts-and-licensing/"
AUTH_KEYS = (
    "product_instance_identifier",
    "sudi",
    "smart_license",
    "auth_status",
    "error_code",
    "status",
    "status_message",
)
ACCEPTED_KEYS = (
    "status", "message_code", "message", "timestamp", "nonce", "type", "poll_id", "poll_interval", "action",
)  # fmt: skip


def postman_parse(text: str) -> dict:
    """What the Postman collection's test script does before JSON.parse."""
    return json.loads(re.sub(r"[:| *](\d+)", r': "\1"', text))


def slup(client, path: str, body, *, account, va, raw: str | None = None):
    return client.generic(
        "POST",
        "/",
        raw if raw is not None else json.dumps(body),
        content_type="application/json",
        PATH_INFO=DOUBLED + path,
        HTTP_X_CSW_SMART_ACCOUNT_ID=str(account),
        HTTP_X_CSW_VIRTUAL_ACCOUNT_ID=str(va),
        HTTP_X_CSW_REQUESTING_SYSTEM=json.dumps({"udi_pid": "C8000V", "udi_serial_number": "ASDF1234"}),
    )


@pytest.fixture
def hsec(estate):
    estate.account.license_reservation_enabled = True
    estate.account.save(update_fields=["license_reservation_enabled"])
    lic = make_license("Router US Export Lic. for DNA", family="Catalyst 8000", enforcement="export_controlled")
    deposit(estate.va1, lic, 3)
    return lic


def headers(estate):
    return {"account": estate.account.pk, "va": estate.va1.pk}


def accepted(response, action: str) -> dict:
    assert response.status_code == 202, (response.status_code, response.content[:500])
    assert response["Content-Type"].split(";")[0] == "application/json"
    text = response.content.decode()
    assert '": ' not in text and ", " not in text  # compact
    doc = json.loads(text)
    assert all(k in doc for k in ACCEPTED_KEYS), doc
    assert doc["status"] == "OK_POLL" and doc["action"] == action and doc["message"] is None
    assert 0 < doc["poll_interval"] <= 300
    assert len(str(doc["poll_id"])) == 18
    rewritten = postman_parse(text)
    assert int(rewritten["poll_id"]) == doc["poll_id"]
    return doc


def poll(client, estate, poll_id, action: str, *, stamp=1656010025453) -> dict:
    body = {"data": {"timestamp": stamp, "nonce": "random1234", "poll_id": poll_id, "action": action}}
    response = slup(client, "v2/accounts/poll", body, **headers(estate))
    assert response.status_code == 200, response.content[:500]
    doc = response.json()
    assert doc["status"] == "COMPLETE" and doc["message"] == "", doc
    assert doc["type"] == action and doc["correlation_id"]
    return doc


def authrequest_body(hsec, serial="ASDF1234", count="1"):
    return {
        "data": {
            "timestamp": 1656010025453,
            "nonce": "random1234",
            "licenses": [
                {
                    "sudi": {"udi_pid": "C8000V", "udi_serial_number": serial},
                    "hostname": "R1",
                    "keys": [{"entitlement": hsec.tag, "count": count}],
                }
            ],
        }
    }


def test_authrequest_poll_complete_and_removal_with_the_return_code(estate, hsec):
    client = token_client(estate.account, "user")
    doc = accepted(slup(client, "v2/devices/authrequest", authrequest_body(hsec), **headers(estate)), "authorizations")
    assert doc["timestamp"] == 1656010025453 and doc["nonce"] == "random1234"

    done = poll(client, estate, doc["poll_id"], "authorizations", stamp="1656010025453")
    (auth,) = done["data"]["authorizations"]
    assert all(k in auth for k in AUTH_KEYS), auth
    assert auth["status"] == "SUCCESS" and auth["error_code"] is None and auth["status_message"] is None
    assert auth["sudi"] == {"udi_pid": "C8000V", "udi_serial_number": "ASDF1234"}
    code = base64.b64decode(auth["smart_license"]).decode("utf-8")
    payload = reservation_codes.verify_authorization(code)
    assert payload["udi"] == {"pid": "C8000V", "serial_number": "ASDF1234"}
    assert payload["licenses"] == [{"tag": hsec.tag, "name": hsec.name, "count": 1}]
    reservation = Reservation.objects.get(product_instance__serial_number="ASDF1234")
    assert auth["product_instance_identifier"] == str(reservation.product_instance_id)
    assert LicenseBalance.objects.get(virtual_account=estate.va1, license=hsec).reserved == 1
    # Polling again answers the same result (the poll id as a string this time).
    assert poll(client, estate, str(doc["poll_id"]), "authorizations")["data"] == done["data"]

    # A wrong return code: that device fails, nothing changes.
    body = {"data": {"timestamp": 1, "nonce": "n", "licenses": [
        {"sudi": {"udi_pid": "C8000V", "udi_serial_number": "ASDF1234"}, "keys": [], "remove_code": "dST8Mh-wrong"}
    ]}}  # fmt: skip
    doc = accepted(slup(client, "v2/devices/authrequest", body, **headers(estate)), "authorizations")
    (auth,) = poll(client, estate, doc["poll_id"], "authorizations")["data"]["authorizations"]
    assert auth["status"] == "FAILED" and auth["error_code"] and "return code" in auth["status_message"]
    assert Reservation.objects.get(pk=reservation.pk).status == "active"

    remove_code = reservation_codes.make_return_code(
        pid="C8000V", serial_number="ASDF1234", signature=authorization_signature(reservation)
    )
    body["data"]["licenses"][0]["remove_code"] = remove_code
    doc = accepted(slup(client, "v2/devices/authrequest", body, **headers(estate)), "authorizations")
    (auth,) = poll(client, estate, doc["poll_id"], "authorizations")["data"]["authorizations"]
    assert auth["status"] == "SUCCESS" and auth["error_code"] is None, auth
    assert auth["sudi"]["udi_pid"] == "C8000V" and auth["sudi"]["udi_serial_number"] == "ASDF1234"
    assert Reservation.objects.get(pk=reservation.pk).status == "released"
    assert LicenseBalance.objects.get(virtual_account=estate.va1, license=hsec).reserved == 0


def test_authrequest_device_failures_are_per_device(estate, hsec):
    client = token_client(estate.account, "user")
    body = authrequest_body(hsec)
    body["data"]["licenses"] += [
        {"sudi": {"udi_pid": "C8000V", "udi_serial_number": "TOOMANY1"},
         "keys": [{"entitlement": hsec.tag, "count": 9}]},
        {"sudi": {"udi_pid": "C8000V", "udi_serial_number": "PLAIN001"},
         "keys": [{"entitlement": estate.perpetual.tag, "count": 1}]},
        {"sudi": {"udi_pid": "C9300-48P", "udi_serial_number": "FOC1234X0AB"},
         "keys": [{"entitlement": hsec.tag, "count": 1}]},  # a connected device needs no reservation
    ]  # fmt: skip
    doc = accepted(slup(client, "v2/devices/authrequest", body, **headers(estate)), "authorizations")
    auths = poll(client, estate, doc["poll_id"], "authorizations")["data"]["authorizations"]
    assert [a["status"] for a in auths] == ["SUCCESS", "FAILED", "FAILED", "FAILED"]
    assert "available" in auths[1]["status_message"]
    assert auths[2]["error_code"] == "not_enforced"
    assert "connected" in auths[3]["status_message"]
    assert all(a["smart_license"] is None for a in auths[1:])
    assert Reservation.objects.count() == 1


@pytest.mark.parametrize(
    "raw",
    [
        "null",
        '{"data": {}}',
        '{"data": {"licenses": [{"sudi": {"udi_pid": "C8000V"}, "keys": [{"entitlement": "x", "count": 1}]}]}}',
        '{"data": {"licenses": [{"sudi": {"udi_pid": "C8000V", "udi_serial_number": "A1"}, "keys": []}]}}',
    ],
)
def test_authrequest_bad_input_writes_nothing(estate, hsec, raw):
    response = slup(token_client(estate.account, "user"), "v2/devices/authrequest", None, raw=raw, **headers(estate))
    assert response.status_code == 400
    doc = response.json()
    assert doc["status"] == "FAILED" and doc["message"] and "message_code" in doc
    assert not DevicePoll.objects.exists() and not Reservation.objects.exists()


def usage_body(payloads, sudi):
    return {
        "data": {
            "timestamp": "1656010025453",
            "nonce": "random1234",
            "reports": [
                {
                    "sudi": sudi,
                    "usage": [
                        {"payload": p, "signature": {"sudi": sudi, "signing_type": "builtin", "key": "", "value": s}}
                        for p, s in payloads
                    ],
                }
            ],
        }
    }


def device_sudi(estate):
    return {"udi_pid": estate.device.pid, "udi_serial_number": estate.device.serial_number}


def test_reportusage_poll_acknowledgement_and_duplicate_refused(estate):
    client = token_client(estate.account, "user")
    document = report(estate.device, generated_at=timezone.now(), usage={estate.perpetual: 3})
    body = usage_body([(json.dumps(document), "")], device_sudi(estate))
    doc = accepted(slup(client, "v2/devices/reportusage", body, **headers(estate)), "acknowledgements")
    done = poll(client, estate, doc["poll_id"], "acknowledgements")
    (ack,) = done["data"]["acknowledgements"]
    assert set(ack) >= {"sudi", "software_tag_identifier", "smart_license"}
    assert ack["sudi"] == device_sudi(estate)
    ack_document = json.loads(base64.b64decode(ack["smart_license"]).decode("utf-8"))
    assert ack_is_authentic(ack_document)
    assert UsageReport.objects.filter(report_id=document["report_id"]).exists()

    count = (UsageReport.objects.count(), DevicePoll.objects.count())
    response = slup(client, "v2/devices/reportusage", body, **headers(estate))
    assert response.json()["status"] == "FAILED" and "received before" in response.json()["message"]
    assert (UsageReport.objects.count(), DevicePoll.objects.count()) == count


def test_reportusage_takes_the_signature_beside_the_payload(estate):
    document = report(estate.device, generated_at=timezone.now(), usage={estate.perpetual: 1})
    signature = document.pop("signature")
    body = usage_body([(json.dumps(document), signature)], device_sudi(estate))
    accepted(
        slup(token_client(estate.account, "user"), "v2/devices/reportusage", body, **headers(estate)),
        "acknowledgements",
    )
    assert UsageReport.objects.filter(report_id=document["report_id"]).exists()


def test_reportusage_bad_reports_refuse_the_request_whole(estate):
    client = token_client(estate.account, "user")
    good = report(estate.device, generated_at=timezone.now(), usage={estate.perpetual: 1})
    unsigned = report(estate.device, generated_at=timezone.now(), usage={estate.perpetual: 1}, trust_code="")
    schema = {**report(estate.device, generated_at=timezone.now()), "measurements": "lots"}
    other_device = report(generated_at=timezone.now(), pid="C9300-48P", serial_number="NOPE0001", trust_code="x")
    for payloads in (
        [(json.dumps(good), ""), (json.dumps(unsigned), "")],
        [(json.dumps(good), ""), ("{not json", "")],
        [(json.dumps(schema), "")],
        [(json.dumps(good), ""), (json.dumps(other_device), "")],
    ):
        response = slup(client, "v2/devices/reportusage", usage_body(payloads, device_sudi(estate)), **headers(estate))
        doc = response.json()
        assert doc["status"] == "FAILED" and doc["message"], doc
        assert not UsageReport.objects.exists() and not DevicePoll.objects.exists()
    # A report of a device that is not in the headers' VA.
    body = usage_body([(json.dumps(other_device), "")], {"udi_pid": "C9300-48P", "udi_serial_number": "NOPE0001"})
    doc = slup(client, "v2/devices/reportusage", body, **headers(estate)).json()
    assert doc["status"] == "FAILED" and "not a product instance" in doc["message"]


def test_headers_name_the_tenant_404_and_role_403(estate, hsec):
    body = authrequest_body(hsec)
    user = token_client(estate.account, "user")
    for account, va in (
        (estate.other.pk, estate.other_va.pk),
        (estate.account.pk, estate.other_va.pk),
        (estate.other.pk, estate.va1.pk),
        ("abc", estate.va1.pk),
    ):
        response = slup(user, "v2/devices/authrequest", body, account=account, va=va)
        assert response.status_code == 404, (account, va, response.content)
        assert response.json()["status"] == "FAILED"
    response = slup(token_client(estate.account, "viewer"), "v2/devices/authrequest", body, **headers(estate))
    assert response.status_code == 403
    # A User of Lab 02 only: VA1 does not exist for them, on every SLUP path.
    lab_only = token_client(estate.account, "user", estate.va2)
    for path, payload in (
        ("v2/devices/authrequest", body),
        ("v2/devices/reportusage", {"data": {"reports": []}}),
        ("v2/accounts/poll", {"data": {"poll_id": 1}}),
        ("v3/licenses/summary", {"data": {"tags": []}}),
    ):
        assert slup(lab_only, path, payload, **headers(estate)).status_code == 404, path
    response = user.generic("POST", "/", json.dumps(body), content_type="application/json",
                            PATH_INFO=DOUBLED + "v2/devices/authrequest")  # fmt: skip
    assert response.status_code == 400 and "X-CSW-SMART-ACCOUNT-ID" in response.json()["message"]
    assert not Reservation.objects.exists() and not DevicePoll.objects.exists()

    # Another tenant's poll id is not found from this account.
    foreign = record_device_poll(
        actor=estate.other.created_by, virtual_account=estate.other_va, action="acknowledgements", result=[]
    )
    response = slup(user, "v2/accounts/poll", {"data": {"poll_id": foreign.poll_id}}, **headers(estate))
    assert response.status_code == 404 and response.json()["status"] == "FAILED"
    assert DevicePoll.objects.get(pk=foreign.pk).polled_at is None


def test_license_summary(estate, hsec):
    client = token_client(estate.account, "viewer")
    body = {"data": {"timestamp": 1656010025453, "nonce": "n1", "tags": []}}
    response = slup(client, "v3/licenses/summary", body, **headers(estate))
    assert response.status_code == 200
    doc = response.json()
    assert doc["status"] == "SUCCESS" and doc["out_standing_reports"] == 0
    rows = {row["tag"]: row for row in doc["summary"]}
    assert set(rows) == {estate.perpetual.tag, estate.term.tag, hsec.tag}
    keys = ("tag", "compliance_status", "display_name", "enforced", "export_restricted", "license_details",
            "prepaid_entitled", "prepaid_inuse", "prepaid_reserved")  # fmt: skip
    for row in doc["summary"]:
        assert all(k in row for k in keys), row
        for detail in row["license_details"]:
            assert set(detail) == {"billing_type", "quantity", "status", "license_type"}
    perpetual = rows[estate.perpetual.tag]
    assert perpetual["prepaid_entitled"] == 10 and perpetual["prepaid_inuse"] == 2
    assert perpetual["compliance_status"] == "In Compliance" and perpetual["enforced"] is False
    assert rows[hsec.tag]["export_restricted"] is True and rows[hsec.tag]["enforced"] is True
    body["data"]["tags"] = [hsec.tag]
    doc = slup(client, "v3/licenses/summary", body, **headers(estate)).json()
    assert [row["tag"] for row in doc["summary"]] == [hsec.tag]


def test_summary_counts_acknowledgements_not_yet_polled(estate):
    client = token_client(estate.account, "user")
    document = report(estate.device, generated_at=timezone.now(), usage={estate.perpetual: 2})
    doc = accepted(
        slup(client, "v2/devices/reportusage", usage_body([(json.dumps(document), "")], device_sudi(estate)),
             **headers(estate)),
        "acknowledgements",
    )  # fmt: skip
    summary = {"data": {"tags": []}}
    assert slup(client, "v3/licenses/summary", summary, **headers(estate)).json()["out_standing_reports"] == 1
    poll(client, estate, doc["poll_id"], "acknowledgements")
    assert slup(client, "v3/licenses/summary", summary, **headers(estate)).json()["out_standing_reports"] == 0
    assert ProductInstance.objects.get(pk=estate.device.pk).last_report_received_at is not None


def test_summary_queries_do_not_grow_with_the_rows(estate, hsec):
    client = token_client(estate.account, "viewer")
    body = {"data": {"tags": []}}

    def summary_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert slup(client, "v3/licenses/summary", body, **headers(estate)).status_code == 200
        return len(queries)

    few = summary_queries()
    for n in range(8):
        deposit(estate.va1, make_license(f"More {n}"), 2)
    assert summary_queries() <= few


def test_a_device_asking_again_gets_its_code_or_an_updated_reservation(estate, hsec):
    client = token_client(estate.account, "user")

    def ask(count) -> dict:
        body = authrequest_body(hsec, count=count)
        doc = accepted(slup(client, "v2/devices/authrequest", body, **headers(estate)), "authorizations")
        (auth,) = poll(client, estate, doc["poll_id"], "authorizations")["data"]["authorizations"]
        assert auth["status"] == "SUCCESS", auth
        return reservation_codes.verify_authorization(base64.b64decode(auth["smart_license"]).decode())

    first = ask("1")
    assert ask(1) == first  # the same code again, nothing written
    assert Reservation.objects.count() == 1
    assert LicenseBalance.objects.get(virtual_account=estate.va1, license=hsec).reserved == 1
    updated = ask("2")
    assert updated["sequence"] == first["sequence"] + 1 and updated["licenses"][0]["count"] == 2
    assert Reservation.objects.count() == 1
    assert LicenseBalance.objects.get(virtual_account=estate.va1, license=hsec).reserved == 2
