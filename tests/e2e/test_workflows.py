"""Browser journeys: a partner hands two order lines over and the customer's Admin accepts them; a user
reserves licenses for a simulated device, downloads the authorization code and releases it with the
device's return code."""

import io

import pytest
from django.core.management import call_command

from licensing.models import HandOver, Reservation
from tests.factories import PASSWORD, grant, make_account, make_user, make_va
from tests.licensing.workflows.helpers import (
    assert_ledger_consistent,
    balance,
    deposit,
    enable_reservations,
    held,
    make_license,
    make_order,
    make_partner,
    make_sku,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(page, email):
    page.context.clear_cookies()
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def open_account(page, name):
    page.click("summary:has-text('Choose a Smart Account')")
    page.click(f".menu-list a:has-text('{name}')")
    page.wait_for_selector(f"h1:has-text('{name}')")


def simulate(*args) -> str:
    out = io.StringIO()
    call_command("simulate_device", *args, stdout=out)
    return out.getvalue().strip()


def test_a_partner_hands_two_order_lines_over_and_the_customer_admin_accepts_them(page):
    partner = make_partner("Northwind Partners Holding", domain="holding.northwind.example.com")
    customer = make_account(name="Globex Manufacturing", domain="globex-mfg.example.com")
    campus = make_va(customer, "Campus Network")
    dna = make_license("Catalyst 9300 DNA Advantage", license_type="term")
    network = make_license("Catalyst 9300 Network Advantage")
    order = make_order(partner, [(make_sku(dna, "C9300-DNA-A-48-3Y", term_months=36), 10),
                                 (make_sku(network, "C9300-NW-A-48"), 8)], number="SO-4242")  # fmt: skip
    line_1, line_2 = order.lines.order_by("line_number")

    log_in(page, partner.created_by.email)
    open_account(page, "Northwind Partners Holding")
    page.click(".tabs a:has-text('Held orders')")
    page.click("a.btn-primary:has-text('Transfer to customer')")
    page.fill(f"input[name=qty_{line_1.pk}]", "6")
    page.fill(f"input[name=qty_{line_2.pk}]", "8")
    page.fill("input[name=customer_domain]", "globex-mfg.example.com")
    page.click("button:has-text('Continue')")
    assert page.locator("[data-testid=customer-name]").inner_text() == "Globex Manufacturing"
    page.click("button:has-text('Hand over to Globex Manufacturing')")
    page.wait_for_selector("text=Waiting for Globex Manufacturing to accept")
    hand_over = HandOver.objects.get()
    assert held(partner, line_1) == 4 and held(partner, line_2) == 0

    log_in(page, customer.created_by.email)
    open_account(page, "Globex Manufacturing")
    page.click(".tabs a:has-text('Incoming licenses')")
    page.click("a:has-text('Review')")
    page.wait_for_selector("h1:has-text('Licenses from Northwind Partners Holding')")
    assert page.locator("text=SO-4242").count() >= 2
    page.select_option("select[name=virtual_account]", label="Campus Network")
    page.click("button:has-text('Accept into this Virtual Account')")
    page.wait_for_selector("text=Accepted 14 licenses from Northwind Partners Holding into Campus Network.")
    hand_over.refresh_from_db()
    assert hand_over.status == HandOver.Status.ACCEPTED
    assert balance(campus, dna).purchased == 6 and balance(campus, network).purchased == 8
    assert_ledger_consistent()


def test_a_user_reserves_for_a_simulated_device_downloads_the_code_and_releases_it(page, tmp_path):
    account = enable_reservations(make_account(name="Acme Networks", domain="acme.example.com"))
    plant = make_va(account, "Air-gapped plant")
    user = grant(make_user("operator@acme.example.com"), "user", account=account)
    dna = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300")
    deposit(plant, dna, 10)
    request_code = simulate("request", "--pid", "C9300-48P-4X", "--serial", "FOC2231X0AB")

    log_in(page, user.email)
    open_account(page, "Acme Networks")
    page.click(".tabs a:has-text('Reservations')")
    page.select_option("select[name=va]", label="Air-gapped plant")
    page.click("button:has-text('Reserve licenses…')")
    page.fill("textarea[name=request_code]", request_code)
    page.click("button:has-text('Continue')")
    page.wait_for_selector("text=PID:C9300-48P-4X SN:FOC2231X0AB")
    page.fill(f"input[name=qty_{dna.pk}]", "3")
    page.click("button:has-text('Review')")
    page.click("button:has-text('Reserve and get the authorization code')")
    page.wait_for_selector("text=Licenses reserved for PID:C9300-48P-4X SN:FOC2231X0AB")
    assert balance(plant, dna).reserved == 3

    with page.expect_download() as download:
        page.click("a:has-text('Download authorization code')")
    code_file = tmp_path / download.value.suggested_filename
    download.value.save_as(code_file)
    assert code_file.name == "authorization-C9300-48P-4X-FOC2231X0AB.json"
    installed = simulate("install", str(code_file), "--pid", "C9300-48P-4X", "--serial", "FOC2231X0AB")
    assert "3 × Catalyst 9300 DNA Advantage" in installed
    return_code = simulate("return", str(code_file))

    page.click("a:has-text('Release with return code')")
    page.fill("textarea[name=return_code]", return_code)
    page.click("button:has-text('Release')")
    page.wait_for_selector("text=Reservation released: its licenses are available again.")
    reservation = Reservation.objects.get()
    assert reservation.status == Reservation.Status.RELEASED and reservation.return_code == return_code
    assert balance(plant, dna).reserved == 0
    assert_ledger_consistent()
