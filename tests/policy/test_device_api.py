"""The device endpoints: usage reports (one or a batch) and change notices, authenticated by the HMAC."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from policy import signing
from policy.models import Change, UsageReport
from policy.services import ack_is_authentic
from tests.factories import default_va

from .helpers import T0, TRUST, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db
REPORTS = "/api/v1/usage/reports/"
NOTICES = "/api/v1/usage/change-notices/"


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def device(account, lic):
    return make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)


def test_the_urls_are_the_documented_ones():
    assert reverse("api_usage_reports") == REPORTS and reverse("api_change_notices") == NOTICES
    assert reverse("signing_key") == "/signing-key.pem"


def test_a_device_posts_a_signed_report_and_gets_its_ack(client, device, lic):
    body = report(device, generated_at=timezone.now(), usage={lic: 2})
    response = post(client, REPORTS, body)
    assert response.status_code == 200
    ack = response.json()
    assert ack["acknowledged_report_ids"] == [body["report_id"]]
    assert ack_is_authentic(ack, client.get("/signing-key.pem").content.decode())
    again = post(client, REPORTS, body)
    assert again.status_code == 200 and again.json() == ack  # a replay: the same ACK


def test_refusals_answer_with_a_code_and_a_reason(client, device, lic):
    unsigned = report(device, generated_at=timezone.now(), usage={lic: 2})
    del unsigned["signature"]
    response = post(client, REPORTS, unsigned)
    assert response.status_code == 401
    assert response.json()["code"] == "signature_missing" and "not signed" in response.json()["detail"]
    bad = report(device, generated_at=timezone.now(), usage={lic: 2})
    bad["measurements"][0]["count"] = "two"
    response = post(client, REPORTS, bad)
    assert response.status_code == 400 and "$.measurements[0].count" in response.json()["detail"]
    response = client.post(REPORTS, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert client.get(REPORTS).status_code == 405


def test_an_instance_without_trust_code_cannot_use_the_online_endpoint(client, account, lic):
    plain = make_instance(default_va(account), usage={lic: 1})
    response = post(client, REPORTS, report(plain, generated_at=timezone.now(), usage={lic: 1}, trust_code=TRUST))
    assert response.status_code == 403 and response.json()["code"] == "no_trust_code"


def test_a_batch_is_answered_report_by_report(client, account, device, lic):
    other = make_instance(default_va(account), usage={lic: 1}, trust_code="d" * 64, first_use_at=T0)
    now = timezone.now()
    good = report(device, generated_at=now, usage={lic: 2})
    forged = report(other, generated_at=now, usage={lic: 9}, trust_code=TRUST)  # another device's key
    response = post(client, REPORTS, {"reports": [good, forged, good]})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["accepted", "refused", "already received"]
    assert results[1]["code"] == "signature_invalid" and results[0]["ack"] == results[2]["ack"]
    assert UsageReport.objects.count() == 1


def test_a_device_endpoint_never_accepts_a_report_for_another_accounts_instance(client, account, other_account, lic):
    mine = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    theirs = make_instance(default_va(other_account), usage={lic: 1}, trust_code="e" * 64, first_use_at=T0)
    # The other account's device names my UDI, signed with its own trust code; and unsigned.
    signed_by_them = report(mine, generated_at=timezone.now(), usage={lic: 0}, trust_code=theirs.trust_code)
    assert post(client, REPORTS, signed_by_them).status_code == 401
    unsigned = {k: v for k, v in signed_by_them.items() if k != "signature"}
    assert post(client, REPORTS, unsigned).status_code == 401
    assert post(client, NOTICES, notice(mine, changes=[upgrade(timezone.now())], generated_at=timezone.now(),
                                        trust_code=theirs.trust_code)).status_code == 401  # fmt: skip
    assert not UsageReport.objects.filter(product_instance=mine).exists()
    assert not Change.objects.filter(product_instance=mine).exists()


def test_a_change_notice_records_a_pending_change_and_moves_the_deadline(client, device, lic):
    now = timezone.now()
    post(client, REPORTS, report(device, generated_at=now - timedelta(days=30), usage={lic: 1}))
    body = notice(device, changes=[upgrade(now - timedelta(days=2))], generated_at=now)
    response = post(client, NOTICES, body)
    assert response.status_code == 201
    answer = response.json()
    assert answer["recorded"] == 1 and answer["notice_id"] == body["notice_id"]
    device.refresh_from_db()
    assert device.pending_change_at == now - timedelta(days=2)
    assert device.next_due_at == device.pending_change_at + timedelta(days=90)
    again = post(client, NOTICES, body)
    assert again.status_code == 200 and again.json()["recorded"] == 0  # the same change is recorded once
    assert Change.objects.filter(product_instance=device, source="notice").count() == 1


def test_a_change_notice_is_refused_for_a_change_the_last_report_covers(client, device, lic):
    now = timezone.now()
    post(client, REPORTS, report(device, generated_at=now, usage={lic: 1}))
    response = post(client, NOTICES, notice(device, changes=[upgrade(now - timedelta(days=1))], generated_at=now))
    assert response.status_code == 409 and response.json()["code"] == "already_reported"


def test_the_public_key_and_the_schema_are_published(client):
    response = client.get("/signing-key.pem")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == signing.public_key_pem()
    schema = client.get(reverse("policy_report_schema"))
    assert schema.status_code == 200 and json.loads(schema.content)["title"] == "Usage report"
