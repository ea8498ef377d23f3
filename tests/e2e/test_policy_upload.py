"""A User uploads an offline usage file, reads the per-report results, takes the ACK file and finds the
device's next reporting deadline."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from policy.services import ack_is_authentic
from tests.factories import PASSWORD, grant, make_account, make_user, make_va
from tests.policy.helpers import ensure_policy_seed_rows, make_license, report

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_upload_an_offline_usage_file_see_results_download_acks_and_the_next_deadline(page, tmp_path):
    ensure_policy_seed_rows()
    account = make_account(name="Northwind Utilities", domain="northwind.example.com")
    va = make_va(account, "Substations")
    user = grant(make_user("field@northwind.example.com"), "user", va=va)
    lic = make_license(name="IR1101 Network Essentials")
    generated = timezone.now() - timedelta(days=2)
    documents = [
        report(None, generated_at=generated, usage={lic: 1}, pid="IR1101-K9", serial_number="FCW2519A001",
               hostname="rtu-north-1"),
        report(None, generated_at=generated, usage={lic: 1}, pid="IR1101-K9", serial_number="FCW2519A002",
               trust_code="9" * 64),  # signed, but the portal has no trust code for it: refused
    ]  # fmt: skip
    usage_file = tmp_path / "substation-usage.json"
    usage_file.write_text(json.dumps({"reports": documents}))

    page.goto("/login/")
    page.fill("input[name=username]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"/accounts/{account.pk}/reporting/")
    page.click("text=Upload usage file")
    page.select_option("select[name=virtual_account]", str(va.pk))
    page.set_input_files("input[name=file]", str(usage_file))
    page.click("button:has-text('Upload')")

    page.wait_for_selector("[data-testid=upload-results]")
    assert page.inner_text("[data-testid=accepted-count]") == "1"
    assert page.inner_text("[data-testid=refused-count]") == "1"
    rows = page.locator("[data-testid=upload-results] tbody tr")
    assert "Accepted" in rows.nth(0).inner_text()
    assert "Refused" in rows.nth(1).inner_text() and "signature cannot be checked" in rows.nth(1).inner_text()

    with page.expect_download() as download:
        page.click("[data-testid=download-acks]")
    acks = json.loads(download.value.path().read_text())["acks"]
    assert len(acks) == 1 and acks[0]["udi"]["serial_number"] == "FCW2519A001"
    assert ack_is_authentic(acks[0], page.request.get("/signing-key.pem").text())

    page.click("text=PID:IR1101-K9 SN:FCW2519A001")
    expected = (generated + timedelta(days=365)).strftime("%Y-%m-%d")
    assert expected in page.inner_text("[data-testid=next-deadline]")
    assert "rtu-north-1" in page.inner_text("h1")
    assert page.locator("[data-testid=report-history] tbody tr").count() == 1
