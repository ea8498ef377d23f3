"""Usage reports, ACKs and alerts of an account in the native API: scoped like the pages, uploads through the
offline upload service, keyset pages for alerts."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from licensing.models import ProductInstance
from policy.models import Alert, UsageReport, UsageUpload
from policy.services import ack_is_authentic, ingest_usage_report
from smartaccounts.models import Event
from tests.api.helpers import account_url as url
from tests.api.helpers import assert_error
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import make_instance, make_license, report

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world():
    account = make_account(name="Acme Devices", domain="acme-usage-api.example.com")
    lab = make_va(account, "Lab")
    plant = make_va(account, "Plant")
    lab_user = grant(make_user("lab@acme-usage-api.example.com"), "user", va=lab)
    viewer = grant(make_user("viewer@acme-usage-api.example.com"), "viewer", account=account)
    license = make_license()
    lab_device = make_instance(lab, usage={license: 1}, hostname="lab-sw-1")
    plant_device = make_instance(plant, usage={license: 1}, hostname="plant-sw-1")
    other = make_account(name="Initech", domain="initech-usage-api.example.com")
    return {
        "account": account,
        "admin": account.created_by,
        "lab": lab,
        "plant": plant,
        "lab_user": lab_user,
        "viewer": viewer,
        "license": license,
        "lab_device": lab_device,
        "plant_device": plant_device,
        "other": other,
    }


def ingest(w, instance, *, at=None):
    document = report(instance, generated_at=at or timezone.now(), usage={w["license"]: 1})
    ack = ingest_usage_report(
        payload=document, source="upload", actor=w["admin"], virtual_account=instance.virtual_account
    )
    return ack.report


def count_queries(api, path, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path, params or {}).status_code == 200
    return len(queries)


# --- Usage reports --------------------------------------------------------------------------------------


def test_reports_are_listed_newest_first_within_the_callers_vas(api, world):
    w = world
    now = timezone.now()
    older = ingest(w, w["lab_device"], at=now - timedelta(hours=2))
    newer = ingest(w, w["lab_device"], at=now - timedelta(hours=1))
    in_plant = ingest(w, w["plant_device"], at=now - timedelta(minutes=30))
    path = url("api_usage_report_list", w["account"])
    api.force_login(w["viewer"])
    body = api.get(path).json()
    assert [row["id"] for row in body["results"]] == [in_plant.pk, newer.pk, older.pk]
    row = body["results"][1]
    assert row["report_id"] == str(newer.report_id) and row["source"] == "upload"
    assert row["product_instance"]["hostname"] == "lab-sw-1"
    assert row["product_instance"]["virtual_account"] == {"id": w["lab"].pk, "name": "Lab"}
    assert row["ack"]["ack_id"] and row["uploaded_by"] == w["admin"].email
    assert [r["id"] for r in api.get(path, {"virtual_account": w["plant"].pk}).json()["results"]] == [in_plant.pk]
    assert [r["id"] for r in api.get(path, {"instance": w["lab_device"].pk}).json()["results"]] == [newer.pk, older.pk]
    since = (now - timedelta(minutes=90)).isoformat()
    assert [r["id"] for r in api.get(path, {"generated_after": since}).json()["results"]] == [in_plant.pk, newer.pk]
    assert [r["id"] for r in api.get(path, {"generated_before": since}).json()["results"]] == [older.pk]
    api.force_login(w["lab_user"])
    assert [r["id"] for r in api.get(path).json()["results"]] == [newer.pk, older.pk]
    assert_error(api.get(path, {"virtual_account": w["plant"].pk}), 400, "invalid")
    assert_error(api.get(path, {"instance": w["plant_device"].pk}), 400, "invalid")
    assert_error(api.get(path, {"generated_after": "yesterday"}), 400, "invalid")


def test_reports_are_ordered_by_generation_time_not_by_arrival(api, world):
    w = world
    now = timezone.now()
    newer = ingest(w, w["lab_device"], at=now - timedelta(hours=1))
    older = ingest(w, w["plant_device"], at=now - timedelta(hours=2))  # arrives later, generated earlier
    api.force_login(w["admin"])
    body = api.get(url("api_usage_report_list", w["account"]), {"page_size": 1}).json()
    assert [r["id"] for r in body["results"]] == [newer.pk]
    assert [r["id"] for r in api.get(body["next"]).json()["results"]] == [older.pk]


def test_the_report_list_pages_with_a_cursor(api, world):
    w = world
    now = timezone.now()
    made = [ingest(w, w["lab_device"], at=now - timedelta(minutes=10 - i)) for i in range(3)]
    api.force_login(w["admin"])
    body = api.get(url("api_usage_report_list", w["account"]), {"page_size": 2}).json()
    assert [r["id"] for r in body["results"]] == [made[2].pk, made[1].pk] and body["next"]
    rest = api.get(body["next"]).json()
    assert [r["id"] for r in rest["results"]] == [made[0].pk] and rest["next"] is None


def test_one_report_with_its_payload_and_its_signed_ack(api, world):
    w = world
    made = ingest(w, w["lab_device"])
    api.force_login(w["lab_user"])
    body = api.get(url("api_usage_report", w["account"], report_id=made.pk)).json()
    assert body["id"] == made.pk and body["payload"]["report_id"] == str(made.report_id)
    ack = api.get(url("api_usage_report_ack", w["account"], report_id=made.pk)).json()
    assert ack["ack_id"] == str(made.acknowledgement.ack_id) and ack_is_authentic(ack)


def test_reports_out_of_reach_are_404(api, world):
    w = world
    in_plant = ingest(w, w["plant_device"])
    api.force_login(w["lab_user"])
    assert_error(api.get(url("api_usage_report", w["account"], report_id=in_plant.pk)), 404)
    assert_error(api.get(url("api_usage_report_ack", w["account"], report_id=in_plant.pk)), 404)
    api.force_login(w["other"].created_by)
    assert_error(api.get(url("api_usage_report_list", w["account"])), 404)
    assert_error(api.get(url("api_usage_report", w["other"], report_id=in_plant.pk)), 404)
    assert_error(api.get(url("api_usage_report_ack", w["other"], report_id=in_plant.pk)), 404)


def test_the_report_list_costs_the_same_queries_for_one_or_many_reports(api, world):
    w = world
    ingest(w, w["lab_device"], at=timezone.now() - timedelta(hours=3))
    api.force_login(w["lab_user"])
    path = url("api_usage_report_list", w["account"])
    one = count_queries(api, path)
    for i in range(5):
        ingest(w, w["lab_device"], at=timezone.now() - timedelta(minutes=50 - i))
    ingest(w, make_instance(w["lab"], usage={w["license"]: 1}))
    assert count_queries(api, path) == one
    assert len(api.get(path).json()["results"]) == 7


# --- Uploading ------------------------------------------------------------------------------------------


def test_uploading_reports_answers_each_result_and_the_acks(api, world):
    w = world
    known = report(w["lab_device"], generated_at=timezone.now(), usage={w["license"]: 1})
    unseen = report(
        None, generated_at=timezone.now(), usage={w["license"]: 2}, pid="ISR4451-X", serial_number="OFFAPI0001"
    )
    broken = {"report_id": str(uuid.uuid4()), "udi": {"pid": "X"}}
    api.force_login(w["lab_user"])
    response = api.post(
        url("api_usage_report_list", w["account"]),
        {"virtual_account_id": w["lab"].pk, "reports": [known, unseen, broken], "file_name": "site-a.json"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["accepted_count"] == 2 and body["refused_count"] == 1
    assert [row["status"] for row in body["results"]] == ["accepted", "accepted", "refused"]
    assert body["results"][2]["code"] and body["results"][2]["detail"]
    assert len(body["acks"]) == 2 and all(ack_is_authentic(ack) for ack in body["acks"])
    upload = UsageUpload.objects.get(pk=body["upload_id"])
    assert upload.file_name == "site-a.json" and upload.actor == w["lab_user"]
    created = ProductInstance.objects.get(serial_number="OFFAPI0001")
    assert created.virtual_account == w["lab"]
    assert UsageReport.objects.filter(source="upload", product_instance=created).exists()
    assert Event.objects.filter(action="usage.uploaded", smart_account=w["account"]).exists()
    # The same file again: each report already received, with its ACK.
    again = api.post(
        url("api_usage_report_list", w["account"]),
        {"virtual_account_id": w["lab"].pk, "reports": [known]},
        format="json",
    ).json()
    assert again["results"][0]["status"] == "already received" and len(again["acks"]) == 1


def test_uploading_into_a_va_out_of_reach_is_404_and_as_a_viewer_403(api, world):
    w = world
    document = report(w["lab_device"], generated_at=timezone.now(), usage={w["license"]: 1})
    path = url("api_usage_report_list", w["account"])
    api.force_login(w["lab_user"])
    for va in (w["plant"], default_va(w["other"])):
        assert_error(api.post(path, {"virtual_account_id": va.pk, "reports": [document]}, format="json"), 404)
    api.force_login(w["viewer"])
    assert_error(api.post(path, {"virtual_account_id": w["lab"].pk, "reports": [document]}, format="json"), 403)
    assert not UsageUpload.objects.exists() and not UsageReport.objects.exists()


@pytest.mark.parametrize(
    "body, field",
    [({"reports": []}, "reports"), ({"reports": "x"}, "reports"), ({"virtual_account_id": None}, "virtual_account_id")],
)
def test_a_malformed_upload_is_a_400_and_nothing_is_written(api, world, body, field):
    w = world
    api.force_login(w["admin"])
    document = report(w["lab_device"], generated_at=timezone.now(), usage={w["license"]: 1})
    full = {"virtual_account_id": w["lab"].pk, "reports": [document], **body}
    response = api.post(url("api_usage_report_list", w["account"]), full, format="json")
    assert_error(response, 400, "invalid")
    assert field in response.json()["fields"]
    assert not UsageUpload.objects.exists()


# --- Alerts ---------------------------------------------------------------------------------------------


def open_alert(account, instance, *, kind=Alert.Kind.OVERDUE, minutes=0, resolved=False):
    return Alert.objects.create(
        smart_account=account,
        virtual_account=instance.virtual_account,
        product_instance=instance,
        kind=kind,
        severity="critical" if kind == Alert.Kind.OVERDUE else "warning",
        message=f"{kind}: {instance.hostname}",
        opened_at=timezone.now() - timedelta(minutes=100 - minutes),
        resolved_at=timezone.now() if resolved else None,
    )


def test_alerts_are_filtered_like_the_alerts_page(api, world):
    w = world
    lab_overdue = open_alert(w["account"], w["lab_device"], minutes=1)
    plant_soon = open_alert(w["account"], w["plant_device"], kind=Alert.Kind.DUE_SOON, minutes=2)
    closed = open_alert(w["account"], w["plant_device"], kind=Alert.Kind.OVERDUE, minutes=3, resolved=True)
    path = url("api_alerts", w["account"])
    api.force_login(w["viewer"])
    assert [a["id"] for a in api.get(path).json()["results"]] == [plant_soon.pk, lab_overdue.pk]
    assert [a["id"] for a in api.get(path, {"state": "resolved"}).json()["results"]] == [closed.pk]
    assert len(api.get(path, {"state": "all"}).json()["results"]) == 3
    assert [a["id"] for a in api.get(path, {"kind": "due_soon"}).json()["results"]] == [plant_soon.pk]
    assert [a["id"] for a in api.get(path, {"severity": "critical"}).json()["results"]] == [lab_overdue.pk]
    assert [a["id"] for a in api.get(path, {"virtual_account": w["lab"].pk}).json()["results"]] == [lab_overdue.pk]
    row = api.get(path, {"kind": "overdue"}).json()["results"][0]
    assert row["product_instance"] == {"id": w["lab_device"].pk, "udi": w["lab_device"].udi}
    api.force_login(w["lab_user"])
    assert [a["id"] for a in api.get(path).json()["results"]] == [lab_overdue.pk]
    assert_error(api.get(path, {"virtual_account": w["plant"].pk}), 400, "invalid")
    assert_error(api.get(path, {"state": "closed"}), 400, "invalid")
    assert_error(api.get(path, {"after": "not-a-cursor"}), 400, "invalid")
    api.force_login(w["other"].created_by)
    assert_error(api.get(path), 404)


def test_alerts_page_by_key_forwards_and_back(api, world):
    w = world
    alerts = [open_alert(w["account"], make_instance(w["lab"]), minutes=i) for i in range(5)]
    newest_first = [a.pk for a in reversed(alerts)]
    api.force_login(w["admin"])
    first = api.get(url("api_alerts", w["account"]), {"page_size": 2}).json()
    assert [a["id"] for a in first["results"]] == newest_first[:2] and first["previous"] is None
    second = api.get(first["next"]).json()
    third = api.get(second["next"]).json()
    assert [a["id"] for a in second["results"] + third["results"]] == newest_first[2:] and third["next"] is None
    back = api.get(third["previous"]).json()
    assert [a["id"] for a in back["results"]] == newest_first[2:4]


def test_the_alert_list_costs_the_same_queries_for_one_or_many_alerts(api, world):
    w = world
    open_alert(w["account"], w["lab_device"])
    path = url("api_alerts", w["account"])
    for user in (w["admin"], w["lab_user"]):
        api.force_login(user)
        one = count_queries(api, path)
        for i in range(4):
            open_alert(w["account"], make_instance(w["lab"]), minutes=i + 1)
        assert count_queries(api, path) == one


def test_partner_holding_accounts_have_no_usage_endpoints(api, world):
    from tests.licensing.workflows.helpers import make_partner

    partner = make_partner("Usage Partner Holding")
    api.force_login(partner.created_by)
    for name in ("api_usage_report_list", "api_alerts"):
        assert_error(api.get(url(name, partner)), 404, "not_found")
