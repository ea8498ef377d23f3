"""The policy pages: what they show, to whom, with how many queries."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from policy.deadlines import evaluate_reporting_deadlines
from policy.models import UsageUpload
from policy.services import ack_is_authentic, ingest_usage_report
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import T0, TRUST, make_instance, make_license, report

pytestmark = pytest.mark.django_db
D = timedelta(days=1)


def url(name, account, **kwargs):
    return reverse(name, kwargs={"account_id": account.pk, **kwargs})


@pytest.fixture
def lic(db):
    return make_license(name="Catalyst 9300 DNA Advantage")


@pytest.fixture
def admin_client(client, account):
    client.force_login(account.created_by)
    return client


def estate(va, lic, n, *, first_use=T0):
    return [make_instance(va, usage={lic: 1}, first_use_at=first_use - (i * 7) * D) for i in range(n)]


def test_the_account_home_shows_reporting_counts_and_the_policy_in_plain_words(admin_client, account, lic):
    va = default_va(account)
    estate(va, lic, 3)
    make_instance(va, first_use_at=T0)
    evaluate_reporting_deadlines(now=T0 + 85 * D)
    page = admin_client.get(url("account_home", account)).content.decode()
    assert 'data-testid="reporting-panel"' in page
    base = url("policy_reporting", account)
    for status in ("ok", "due_soon", "overdue", "not_required"):
        assert f'href="{base}?status={status}"' in page
    assert (
        "Devices using unenforced perpetual licenses and unenforced subscription licenses report within 90 days of "
        "first use and of any software upgrade or feature change, then once every 365 days; each report must be "
        "acknowledged." in page
    )
    assert "Devices using enforced licenses and export-controlled licenses need no usage reports" in page


def test_the_panel_is_not_shown_in_a_partner_holding_account(client):
    partner = make_account(kind="partner_holding", domain="partner.example.net")
    client.force_login(partner.created_by)
    assert 'data-testid="reporting-panel"' not in client.get(url("account_home", partner)).content.decode()
    assert client.get(url("policy_reporting", partner)).status_code == 404


def test_the_reporting_page_filters_by_status_with_a_constant_number_of_queries(
    admin_client, account, lic, django_assert_max_num_queries
):
    va = default_va(account)
    estate(va, lic, 3)
    evaluate_reporting_deadlines(now=T0 + 85 * D)
    with django_assert_max_num_queries(20) as small:
        admin_client.get(url("policy_reporting", account), {"status": "overdue"})
    estate(va, lic, 40, first_use=T0 - 100 * D)
    evaluate_reporting_deadlines(now=T0 + 85 * D)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = admin_client.get(url("policy_reporting", account), {"status": "overdue"})
    page = response.content.decode()
    assert page.count('<a href="/accounts/') >= 40 and "Overdue" in page


def test_the_alerts_page_shows_only_alerts_of_vas_the_user_can_see(client, account, lic, django_assert_max_num_queries):
    mine, hidden = make_va(account, "Warehouse"), make_va(account, "Head office")
    user = grant(make_user("floor@acme.example.com"), "viewer", va=mine)
    make_instance(mine, usage={lic: 1}, first_use_at=T0, hostname="wh-switch-1")
    make_instance(hidden, usage={lic: 1}, first_use_at=T0, hostname="ho-router-secret")
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    client.force_login(user)
    with django_assert_max_num_queries(20) as small:
        page = client.get(url("policy_alerts", account)).content.decode()
    assert "wh-switch-1" in page and "ho-router-secret" not in page and "Head office" not in page
    assert "Critical" in page and "Act</a>" in page
    for i in range(30):
        make_instance(mine, usage={lic: 1}, first_use_at=T0, hostname=f"wh-extra-{i}")
    evaluate_reporting_deadlines(now=T0 + 100 * D)
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = client.get(url("policy_alerts", account), {"kind": "overdue", "severity": "critical"}).content.decode()
    assert page.count("Usage report overdue") == 31
    resolved = client.get(url("policy_alerts", account), {"state": "resolved"}).content.decode()
    assert 'data-testid="no-alerts"' in resolved


def test_the_instance_reporting_page_shows_policy_deadline_history_acks_and_chart(
    admin_client, account, lic, django_assert_max_num_queries, monkeypatch
):
    va = default_va(account)
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0, hostname="core-1")
    now = timezone.now()
    acks = [
        ingest_usage_report(
            payload=report(device, generated_at=now - (12 - i) * D, usage={lic: 1 + i}), source="device"
        )
        for i in range(2)
    ]
    page_url = url("policy_instance_reporting", account, instance_id=device.pk)
    with django_assert_max_num_queries(25) as small:
        page = admin_client.get(page_url).content.decode()
    assert 'data-testid="next-deadline"' in page and (now - 11 * D + 365 * D).strftime("%Y-%m-%d") in page
    assert "Default</strong> policy, version 1" in page
    assert "every 365 days" in page and 'id="usage-chart"' in page and "chart.umd.min.js" in page
    assert page.count("ack.json") == 2
    for i in range(2, 12):
        ingest_usage_report(
            payload=report(device, generated_at=now - (12 - i) * D, usage={lic: 1 + i}), source="device"
        )
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = admin_client.get(page_url).content.decode()
    assert page.count("ack.json") == 12
    series = json.loads(page.split('<script id="usage-series" type="application/json">')[1].split("</script>")[0])
    assert [p["y"] for p in series["Catalyst 9300 DNA Advantage"]] == list(range(1, 13))

    response = admin_client.get(url("policy_report_ack", account, report_id=acks[0].report.pk))
    assert response["Content-Disposition"].startswith('attachment; filename="ack-')
    assert json.loads(response.content) == acks[0].document and ack_is_authentic(json.loads(response.content))


def test_a_new_trust_code_is_shown_once_and_the_old_one_stops_working(admin_client, account, lic):
    device = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    response = admin_client.post(url("policy_trust_code", account, instance_id=device.pk))
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    device.refresh_from_db()
    assert device.trust_code != TRUST and device.trust_code in response.content.decode()
    page = admin_client.get(url("policy_instance_reporting", account, instance_id=device.pk)).content.decode()
    assert device.trust_code not in page and "Re-issue trust code" in page
    from policy.formats import Refusal

    with pytest.raises(Refusal, match="signature does not match"):
        ingest_usage_report(
            payload=report(device, generated_at=timezone.now(), usage={lic: 1}, trust_code=TRUST), source="device"
        )
    ingest_usage_report(payload=report(device, generated_at=timezone.now(), usage={lic: 1}), source="device")
    assert admin_client.get(url("policy_trust_code", account, instance_id=device.pk)).status_code == 405


def test_a_viewer_sees_no_upload_or_trust_code_buttons(client, account, lic):
    viewer = grant(make_user("look@acme.example.com"), "viewer", account=account)
    device = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    client.force_login(viewer)
    page = client.get(url("policy_instance_reporting", account, instance_id=device.pk)).content.decode()
    assert "Upload usage file" not in page and "trust code</button>" not in page


def test_upload_a_usage_file_see_the_results_and_download_the_acks(admin_client, account, lic):
    va = make_va(account, "Remote sites")
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    now = timezone.now()
    documents = [
        report(device, generated_at=now, usage={lic: 3}),
        report(None, generated_at=now, usage={lic: 1}, pid="IR1101-K9", serial_number="FCW2345X0YZ", hostname="rtu-7"),
        report(None, generated_at=now, usage={lic: 1}, pid="IR1101-K9", serial_number="FCW0000", trust_code="f" * 64),
    ]
    upload = SimpleUploadedFile("site-usage.json", json.dumps(documents).encode(), content_type="application/json")
    response = admin_client.post(url("policy_usage_upload", account), {"virtual_account": va.pk, "file": upload})
    record = UsageUpload.objects.get()
    assert response.status_code == 302 and response["Location"] == url(
        "policy_upload_result", account, upload_id=record.pk
    )
    page = admin_client.get(response["Location"]).content.decode()
    assert 'data-testid="accepted-count">2<' in page and 'data-testid="refused-count">1<' in page
    assert "PID:IR1101-K9 SN:FCW2345X0YZ" in page and "its signature cannot be checked" in page
    acks = json.loads(admin_client.get(url("policy_upload_acks", account, upload_id=record.pk)).content)["acks"]
    assert [a["udi"]["serial_number"] for a in acks] == [device.serial_number, "FCW2345X0YZ"]
    assert all(ack_is_authentic(a) for a in acks)
    assert "site-usage.json" in admin_client.get(url("policy_usage_upload", account)).content.decode()


def test_an_upload_that_is_not_json_shows_the_error_on_the_form(admin_client, account):
    bad = SimpleUploadedFile("usage.json", b"\x00\x01 not json", content_type="application/json")
    response = admin_client.post(
        url("policy_usage_upload", account), {"virtual_account": default_va(account).pk, "file": bad}
    )
    assert response.status_code == 200
    assert "neither JSON nor JSON Lines" in response.content.decode()
    assert not UsageUpload.objects.exists()


def test_the_instance_page_links_to_its_reporting_page(admin_client, account, lic):
    device = make_instance(default_va(account), usage={lic: 1}, first_use_at=T0)
    page = admin_client.get(url("instance_detail", account, instance_id=device.pk)).content.decode()
    assert f'href="{url("policy_instance_reporting", account, instance_id=device.pk)}"' in page


def test_the_va_tree_counts_overdue_reports_per_va(admin_client, account, lic):
    va = make_va(account, "Depot")
    make_instance(va, usage={lic: 1}, first_use_at=T0)
    make_instance(va, usage={lic: 1}, first_use_at=timezone.now())
    evaluate_reporting_deadlines()
    from smartaccounts.selectors import live_virtual_accounts
    from smartaccounts.tree import build_tree

    rows = {row.va.pk: row for row in build_tree(account, list(live_virtual_accounts().filter(smart_account=account)))}
    assert rows[va.pk].counts["reports_overdue"] == 1
    assert "Reports overdue" in admin_client.get(url("virtual_accounts", account)).content.decode()


def test_an_upload_shows_a_va_scoped_user_nothing_of_devices_in_vas_they_cannot_see(client, account, lic):
    seen, unseen = make_va(account, "Plant"), make_va(account, "Executive suite")
    viewer = grant(make_user("plant@acme.example.com"), "viewer", va=seen)
    hidden = make_instance(unseen, usage={lic: 1}, first_use_at=T0, serial_number="EXEC0001")
    from policy.services import upload_usage_file

    documents = [
        report(hidden, generated_at=timezone.now(), usage={lic: 1}),
        report(None, generated_at=timezone.now(), usage={lic: 1}, pid="IR1101-K9", serial_number="PLANT0001"),
    ]
    upload = upload_usage_file(
        actor=account.created_by, virtual_account=seen, file_name="mixed.json", content=json.dumps(documents).encode()
    )
    assert upload.accepted_count == 2
    client.force_login(viewer)
    page = client.get(url("policy_upload_result", account, upload_id=upload.pk)).content.decode()
    assert "PLANT0001" in page and "EXEC0001" not in page and "another Virtual Account" in page
    acks = json.loads(client.get(url("policy_upload_acks", account, upload_id=upload.pk)).content)["acks"]
    assert [a["udi"]["serial_number"] for a in acks] == ["PLANT0001"]
