"""Browser journeys through the licensing pages (Playwright driving Chromium)."""

import re

import pytest

from tests.browser import open_tab
from tests.factories import PASSWORD, make_account, make_va
from tests.licensing.helpers import deposit, make_license

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email):
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def row_cell(page, license_name, column):
    return page.locator(f'tr[data-license="{license_name}"] td[data-col="{column}"]').inner_text().strip()


def test_transfer_five_licenses_between_vas_and_see_both_balances_change(page):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    campus, lab = make_va(account, "Campus"), make_va(account, "Lab")
    lic = make_license("Catalyst 9300 DNA Advantage")
    deposit(campus, lic, 12)
    deposit(lab, lic, 3)
    log_in(page, account.created_by.email)

    page.goto(f"/accounts/{account.pk}/")
    open_tab(page, "Licenses")
    assert row_cell(page, lic.name, "purchased") == "15"
    page.select_option("[data-testid=va-picker]", label="Campus")
    page.wait_for_url(f"**/virtual-accounts/{campus.pk}/licenses/")
    assert row_cell(page, lic.name, "balance") == "12"

    page.click(f"[data-testid=transfer-{lic.pk}]")
    page.select_option("select[name=target]", label="Lab")
    page.fill("input[name=quantity]", "5")
    page.click("button:has-text('Transfer')")
    page.wait_for_url(f"**/virtual-accounts/{campus.pk}/licenses/{lic.pk}/")
    assert "Transferred 5 × Catalyst 9300 DNA Advantage from Campus to Lab." in page.inner_text(".messages")
    assert page.inner_text("[data-testid=detail-balance]") == "7"

    open_tab(page, "Licenses", bar=".va-tabs")  # back to Campus's licenses, its tab
    assert row_cell(page, lic.name, "balance") == "7"
    page.select_option("[data-testid=va-picker]", label="Lab")
    page.wait_for_url(f"**/virtual-accounts/{lab.pk}/licenses/")
    assert row_cell(page, lic.name, "purchased") == "8"
    assert row_cell(page, lic.name, "balance") == "8"


def test_register_a_device_through_the_device_endpoint_and_find_it_in_the_list(page, live_server):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    campus = make_va(account, "Campus")
    lic = make_license("Catalyst 9300 Network Advantage")
    deposit(campus, lic, 10)
    log_in(page, account.created_by.email)

    page.goto(f"/accounts/{account.pk}/virtual-accounts/{campus.pk}/tokens/")
    page.fill("input[name=description]", "Closet switches")
    page.fill("input[name=expires_after_days]", "30")
    page.click("button:has-text('Create token')")
    page.wait_for_url(re.compile(r".*/tokens/\?created=\d+$"))
    token = page.input_value("[data-testid=new-token] input[readonly]")
    assert len(token) > 40

    answer = page.request.post(
        f"{live_server.url}/api/v1/devices/register/",
        data={
            "token": token,
            "pid": "C9300-48P",
            "serial_number": "FOC2412X0AB",
            "hostname": "closet-sw-01",
            "software_version": "17.9.4",
            "usage": {lic.tag: 1},
        },
    )
    assert answer.status == 201, answer.text()
    body = answer.json()
    assert body["virtual_account"] == "Campus" and len(body["trust_code"]) == 64

    page.click(".va-tabs >> text=Product Instances")
    page.fill("input[name=q]", "FOC2412X0AB")
    page.click("button:has-text('Search')")
    table = page.locator("[data-testid=instances-table]")
    assert "closet-sw-01" in table.inner_text()
    page.click("a:has-text('closet-sw-01')")
    assert "Catalyst 9300 Network Advantage" in page.inner_text("[data-testid=usage]")
    page.goto(f"/accounts/{account.pk}/virtual-accounts/{campus.pk}/tokens/")
    assert "1" in page.locator("[data-testid=tokens-table] td.num").first.inner_text()
