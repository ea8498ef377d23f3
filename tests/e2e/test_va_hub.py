"""Browser journeys through a Virtual Account's hub, the token page's commands, and the pages' widths
(Playwright driving Debian's Chromium, see tests/browser.py)."""

import io
import json
import re
import shlex
import subprocess

import pytest
from django.core.management import call_command

from licensing.models import ProductInstance
from smartaccounts.demo import DEMO_PASSWORD
from tests.browser import PHONE, SMALL_DESKTOP, has_sideways_scroll, open_tab, tab_state
from tests.conftest import which
from tests.factories import PASSWORD, make_account, make_va
from tests.licensing.helpers import deposit, make_license, register

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VA_TABS = ["General", "Licenses", "Product Instances", "Registration Tokens", "Reservations", "Reporting", "Event Log"]


TAB_LINKS = "els => els.map(e => [e.firstChild.textContent.trim(), e.getAttribute('href')])"


def log_in(page, email, password=PASSWORD):
    page.goto("/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))


def row_cell(page, license_name, column):
    return page.locator(f'tr[data-license="{license_name}"] td[data-col="{column}"]').inner_text().strip()


def test_from_the_tree_to_a_va_through_each_tab_and_transfers_started_there(page):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    engineering = make_va(account, "Engineering")
    campus = make_va(account, "Campus", parent=engineering)
    lab = make_va(account, "Lab")
    lic = make_license("Catalyst 9300 DNA Advantage")
    deposit(campus, lic, 10)
    deposit(engineering, lic, 2)
    device = register(campus, {lic: 1}, serial="FOC2412X0AB", hostname="closet-sw-01")
    log_in(page, account.created_by.email)

    page.goto(f"/accounts/{account.pk}/")
    open_tab(page, "Virtual Accounts")
    page.click("[data-testid=va-tree] a:text-is('Campus')")
    page.wait_for_selector("h1:has-text('Campus')")
    crumbs = page.inner_text("[data-testid=va-breadcrumbs]")
    assert crumbs == "Acme Networks › Virtual Accounts › Engineering › Campus"
    assert page.locator("nav.subnav a[aria-current]").inner_text() == "Virtual Accounts"

    bar = "[data-testid=va-tabs] ul.tabs"
    assert page.eval_on_selector_all(f"{bar} a", "els => els.map(e => e.textContent.trim())") == VA_TABS
    expected = {
        "General": "h1:has-text('Campus')",
        "Licenses": f'tr[data-license="{lic.name}"]',
        "Product Instances": "[data-testid=instances-table] >> text=closet-sw-01",
        "Registration Tokens": "[data-testid=token-usage]",
        "Reservations": "h1:has-text('License reservations')",
        "Reporting": "text=closet-sw-01",
        "Event Log": "h1:has-text('Event log of Campus')",
    }
    for label in VA_TABS:
        open_tab(page, label, bar=bar)
        assert page.locator(f"{bar} a[aria-current]").inner_text() == label
        assert page.inner_text("[data-testid=va-breadcrumbs]").startswith(
            "Acme Networks › Virtual Accounts › Engineering › Campus"
        )
        assert page.locator(expected[label]).first.is_visible(), label
        assert f"/virtual-accounts/{campus.pk}/" in page.url

    # The Licenses tab is Campus's own licenses; "Include sub-accounts" on Engineering adds Campus's.
    open_tab(page, "Licenses", bar=bar)
    assert row_cell(page, lic.name, "purchased") == "10"
    page.goto(f"/accounts/{account.pk}/virtual-accounts/{engineering.pk}/licenses/")
    assert row_cell(page, lic.name, "purchased") == "2"
    page.check("input[name=subtree]")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**subtree=on**")
    assert row_cell(page, lic.name, "purchased") == "12"

    # A license transfer started from Campus's Licenses tab.
    page.goto(f"/accounts/{account.pk}/virtual-accounts/{campus.pk}/")
    open_tab(page, "Licenses", bar=bar)
    page.click(f"[data-testid=transfer-{lic.pk}]")
    assert page.locator(f"{bar} a[aria-current]").inner_text() == "Licenses"
    page.select_option("select[name=target]", label="Lab")
    page.fill("input[name=quantity]", "4")
    page.click("button:has-text('Transfer')")
    page.wait_for_url(f"**/virtual-accounts/{campus.pk}/licenses/{lic.pk}/")
    assert "Transferred 4 × Catalyst 9300 DNA Advantage from Campus to Lab." in page.inner_text(".messages")
    assert page.inner_text("[data-testid=detail-balance]") == "5"  # 10 − 4 − the one the device uses

    # A product instance transfer started from Campus's Product Instances tab.
    open_tab(page, "Product Instances", bar=bar)
    page.check(f"input[name=instances][value='{device.pk}']")
    page.select_option("#transfer-target", label="Lab")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('Transfer selected')")
    page.wait_for_selector("text=Moved 1 product instance to Lab.")
    assert f"/virtual-accounts/{campus.pk}/instances/" in page.url
    assert ProductInstance.objects.get(pk=device.pk).virtual_account_id == lab.pk
    page.goto(f"/accounts/{account.pk}/virtual-accounts/{lab.pk}/instances/")
    assert "closet-sw-01" in page.inner_text("[data-testid=instances-table]")


def test_the_token_page_shows_the_device_commands_with_the_token_and_copies_them(page, live_server):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    campus = make_va(account, "Campus")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    log_in(page, account.created_by.email)

    page.goto(f"/accounts/{account.pk}/virtual-accounts/{campus.pk}/tokens/")
    assert page.inner_text("[data-testid=cmd-trust]") == "license smart trust idtoken <token> all"
    page.fill("input[name=description]", "Closet switches")
    page.fill("input[name=expires_after_days]", "30")
    page.click("button:has-text('Create token')")
    page.wait_for_url(re.compile(r".*/tokens/\?created=\d+$"))
    token = page.input_value("[data-testid=new-token] input[readonly]")

    assert page.inner_text("[data-testid=cmd-trust]") == f"license smart trust idtoken {token} all"
    assert page.inner_text("[data-testid=cmd-register]") == f"license smart register idtoken {token}"
    curl = page.inner_text("[data-testid=cmd-curl]")
    assert f"'{live_server.url}/api/v1/devices/register/'" in curl and f'"token": "{token}"' in curl

    page.click("button[data-copy='#cmd-trust']")
    page.wait_for_selector("button[data-copy='#cmd-trust']:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == f"license smart trust idtoken {token} all"
    page.click("button[data-copy='#cmd-curl']")
    page.wait_for_selector("button[data-copy='#cmd-curl']:has-text('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == curl

    # The command works as shown: the device is registered into Campus.
    if which("curl"):
        answer = subprocess.run(["bash", "-c", copied], capture_output=True, text=True, timeout=30)
        body = json.loads(answer.stdout)
    else:  # the same request, from the command's parts
        parts = shlex.split(copied.replace("\\\n", " "))
        body = page.request.post(parts[parts.index("-X") + 2], data=json.loads(parts[parts.index("-d") + 1])).json()
    assert body["virtual_account"] == "Campus" and body["serial_number"] == "FOC2412X0AB", body
    assert ProductInstance.objects.filter(virtual_account=campus, serial_number="FOC2412X0AB").exists()


def test_every_demo_logins_main_pages_fit_1280_and_390_pixels_with_the_current_tab_in_view(page):
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    logins = re.findall(r"^\s{2}(\S+@\S+)\s{2,}", out.getvalue(), flags=re.M)
    assert "alice.admin@acme.example.com" in logins
    problems = []
    checked = 0
    for email in logins:
        page.context.clear_cookies()
        page.set_viewport_size(SMALL_DESKTOP)
        log_in(page, email, DEMO_PASSWORD)
        accounts = [
            href
            for href in page.eval_on_selector_all("main a[href]", "els => els.map(e => e.getAttribute('href'))")
            if re.fullmatch(r"/accounts/\d+/", href or "")
        ]
        if not accounts:
            continue
        page.goto(accounts[0])
        # A tab's label is its first text (a badge may follow).
        tabs = dict(page.eval_on_selector_all("nav.subnav ul.tabs a", TAB_LINKS))
        pages = {"Overview": accounts[0]}
        pages.update({k: tabs[k] for k in ("Licenses", "Product Instances", "Users") if k in tabs})
        for viewport in (SMALL_DESKTOP, PHONE):
            page.set_viewport_size(viewport)
            for label, href in pages.items():
                page.goto(href)
                page.wait_for_load_state("networkidle")
                where = f"{email} {label} at {viewport['width']} px"
                if has_sideways_scroll(page):
                    width = page.evaluate("document.documentElement.scrollWidth")
                    problems.append(f"{where}: the page is {width} px wide")
                state = tab_state(page)
                if state["current"].split(" ")[0] != label.split(" ")[0]:
                    problems.append(f"{where}: the current tab is {state['current']!r}")
                if state["currentInMore"] or not state["currentOnScreen"]:
                    problems.append(f"{where}: the current tab is not in view ({state})")
                if state["rows"] != 1:
                    problems.append(f"{where}: the tab bar takes {state['rows']} rows")
                if not state["barFits"] or state["lastRight"] > viewport["width"]:
                    problems.append(f"{where}: the tab bar is wider than the window ({state})")
                checked += 1
    assert not problems, "\n".join(problems)
    assert checked >= 40
