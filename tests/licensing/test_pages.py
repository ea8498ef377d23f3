"""The licensing pages as people meet them: licenses (roll-up, VA, subtree), a license's detail,
product instances, registration tokens, orders, the account-home panel and the VA tree counts."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from licensing.models import InstanceDeadline, Pak, PakLine, ProductInstance
from licensing.services import expire_term_lots
from smartaccounts.tree import build_tree
from tests.factories import default_va, make_account
from tests.isolation import build_tenant, response_text

from .helpers import deposit, make_license, make_sku, register, token_for

pytestmark = pytest.mark.django_db


def rows_of_csv(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv") and response.streaming
    return list(csv.DictReader(io.StringIO(response_text(response).lstrip("\ufeff"))))


@pytest.fixture
def tenant():
    t = build_tenant()
    t.nw = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    t.dna = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300", license_type="term")
    t.flex = make_license("Collaboration Flex Plan Named User", family="Collaboration", license_type="subscription")
    deposit(t.va_a, t.nw, 10)
    deposit(t.va_a_child, t.nw, 5)
    deposit(t.va_b, t.nw, 20)
    deposit(t.va_a_child, t.dna, 8, end=timezone.localdate() + dt.timedelta(days=45))
    deposit(t.va_b, t.flex, 50)
    register(t.va_a_child, {t.nw: 7, t.dna: 2}, hostname="sw-lab-01")
    return t


def license_table(client, url, **params) -> dict[str, list[str]]:
    """{license name: [purchased, in use, balance]} from the licenses page."""
    import re

    html = client.get(url, params).content.decode()
    rows = {}
    for match in re.finditer(r'<tr data-license="([^"]+)">(.*?)</tr>', html, re.S):
        cells = dict(re.findall(r'data-col="([\w-]+)"[^>]*>\s*(?:<strong[^>]*>)?(-?\d+)', match.group(2)))
        rows[match.group(1)] = [cells["purchased"], cells["in-use"], cells["balance"]]
    return rows


def test_the_account_page_adds_up_every_va(client, tenant):
    client.force_login(tenant.viewer)
    rows = license_table(client, reverse("licenses", args=[tenant.account.pk]))
    assert rows["Catalyst 9300 Network Advantage"] == ["35", "7", "28"]
    assert rows["Catalyst 9300 DNA Advantage"] == ["8", "2", "6"]
    assert rows["Collaboration Flex Plan Named User"] == ["50", "0", "50"]


def test_a_va_scoped_user_sees_the_roll_up_of_their_vas_only(client, tenant):
    client.force_login(tenant.va_viewer)  # Viewer on va_a: va_a and va_a_child
    rows = license_table(client, reverse("licenses", args=[tenant.account.pk]))
    assert rows["Catalyst 9300 Network Advantage"] == ["15", "7", "8"]
    assert "Collaboration Flex Plan Named User" not in rows


def test_a_va_page_shows_the_va_and_optionally_its_subtree(client, tenant):
    client.force_login(tenant.viewer)
    url = reverse("va_licenses", args=[tenant.account.pk, tenant.va_a.pk])
    assert license_table(client, url) == {"Catalyst 9300 Network Advantage": ["10", "0", "10"]}
    with_subtree = license_table(client, url, subtree="1")
    assert with_subtree["Catalyst 9300 Network Advantage"] == ["15", "7", "8"]
    assert with_subtree["Catalyst 9300 DNA Advantage"] == ["8", "2", "6"]


def test_the_va_picker_jumps_to_the_va_page(client, tenant):
    client.force_login(tenant.viewer)
    response = client.get(reverse("licenses", args=[tenant.account.pk]), {"va": tenant.va_b.pk, "alert": "any"})
    assert response.status_code == 302
    assert response["Location"] == reverse("va_licenses", args=[tenant.account.pk, tenant.va_b.pk]) + "?alert=any"


def test_licenses_are_sorted_filtered_and_searched(client, tenant):
    client.force_login(tenant.viewer)
    url = reverse("licenses", args=[tenant.account.pk])
    by_purchased = list(license_table(client, url, sort="purchased", dir="desc"))
    assert by_purchased == [
        "Collaboration Flex Plan Named User",
        "Catalyst 9300 Network Advantage",
        "Catalyst 9300 DNA Advantage",
    ]
    assert list(license_table(client, url, type="term")) == ["Catalyst 9300 DNA Advantage"]
    assert list(license_table(client, url, family="Collaboration")) == ["Collaboration Flex Plan Named User"]
    assert list(license_table(client, url, q="network adv")) == ["Catalyst 9300 Network Advantage"]
    assert list(license_table(client, url, q=tenant.flex.tag[:30])) == ["Collaboration Flex Plan Named User"]
    assert list(license_table(client, url, alert="expiring")) == ["Catalyst 9300 DNA Advantage"]


def test_insufficient_shows_where_the_balance_is_below_zero(client, tenant):
    register(tenant.va_a, {tenant.nw: 12})  # va_a holds 10
    client.force_login(tenant.viewer)
    account_page = client.get(reverse("licenses", args=[tenant.account.pk])).content.decode()
    assert "Short in 2 VAs" in account_page  # the roll-up is positive; va_a and va_a_child are not
    va_page = client.get(reverse("va_licenses", args=[tenant.account.pk, tenant.va_a.pk])).content.decode()
    assert "Insufficient (-2)" in va_page
    only = license_table(client, reverse("licenses", args=[tenant.account.pk]), alert="insufficient")
    assert list(only) == ["Catalyst 9300 Network Advantage"]


def test_the_licenses_csv_export_streams_the_filtered_rows(client, tenant):
    client.force_login(tenant.viewer)
    response = client.get(reverse("licenses_csv", args=[tenant.account.pk]), {"family": "Catalyst 9300"})
    rows = rows_of_csv(response)
    assert [r["License"] for r in rows] == ["Catalyst 9300 DNA Advantage", "Catalyst 9300 Network Advantage"]
    dna = rows[0]
    assert (dna["Purchased"], dna["In use"], dna["Balance"], dna["Entitlement tag"]) == ("8", "2", "6", tenant.dna.tag)
    assert "Expiring ≤60 days: 8" in dna["Alerts"]


def test_a_csv_cell_never_runs_as_a_spreadsheet_formula(client, account):
    lic = make_license("=HYPERLINK(1)")
    deposit(default_va(account), lic, 1)
    client.force_login(account.created_by)
    rows = rows_of_csv(client.get(reverse("licenses_csv", args=[account.pk])))
    assert rows[0]["License"] == "'=HYPERLINK(1)"


def test_the_license_detail_shows_lots_with_sources_instances_and_entries(client, tenant):
    pak = Pak.objects.create(number="PAK-3107-5566", owner=tenant.account)
    pak_line = PakLine.objects.create(pak=pak, sku=make_sku(tenant.nw), quantity=3)
    from django.db import transaction

    from licensing import ledger

    with transaction.atomic():  # a lot converted from a PAK (the PAK workflow makes these)
        key = (tenant.account.pk, tenant.va_a_child.pk, tenant.nw.pk)
        balance = ledger.lock_balances([key])[key[1:]]
        ledger.add_to_va(
            balance=balance, quantity=3, kind="conversion", movement=ledger.new_movement(), pak_line=pak_line
        )
    client.force_login(tenant.viewer)
    page = client.get(reverse("license_detail", args=[tenant.account.pk, tenant.nw.pk])).content.decode()
    order_line = tenant.va_a_child.license_lots.filter(license=tenant.nw, order_line__isnull=False).get().order_line
    assert f'Order <a href="{reverse("order_detail", args=[tenant.account.pk, order_line.order_id])}">' in page
    assert f"{order_line.order.number}</a>, line 1, SKU {order_line.sku.code}" in page
    assert "PAK PAK-3107-5566" in page
    assert "sw-lab-01" in page and "license-chart" in page and "chart.umd.min.js" in page
    assert "Deposit" in page and "PAK conversion" in page
    assert 'data-testid="detail-purchased">38<' in page


def test_a_license_the_scope_never_held_is_a_404(client, tenant):
    other = make_license("Never held here")
    client.force_login(tenant.viewer)
    assert client.get(reverse("license_detail", args=[tenant.account.pk, other.pk])).status_code == 404
    client.force_login(tenant.va_viewer)
    assert client.get(reverse("license_detail", args=[tenant.account.pk, tenant.flex.pk])).status_code == 404


# --- Product instances -------------------------------------------------------------------------------------


@pytest.fixture
def fleet(tenant):
    register(tenant.va_a, {tenant.nw: 1}, hostname="core-01", pid="C9500-32C", serial="FDO2001A0AA",
             product_family="Catalyst 9500")  # fmt: skip
    register(tenant.va_b, {tenant.flex: 1}, hostname="phone-17", pid="CP-8865-K9", serial="PUC1717",
             product_family="Collaboration")  # fmt: skip
    reserved = register(tenant.va_b, hostname="air-gapped-01", pid="C9300-24T", serial="FOC88RES")
    ProductInstance.objects.filter(pk=reserved.pk).update(status="reserved")
    InstanceDeadline.objects.filter(pk=reserved.pk).update(reporting_status="overdue")
    return tenant


def instance_names(client, url, **params) -> list[str]:
    import re

    html = client.get(url, params).content.decode()
    table = (
        html.split('data-testid="instances-table"', 1)[-1].split("</table>", 1)[0] if "instances-table" in html else ""
    )
    return re.findall(r'/instances/\d+/">([^<]+)</a>', table)


def test_the_instances_page_searches_by_name_pid_and_serial(client, fleet):
    client.force_login(fleet.viewer)
    url = reverse("instances", args=[fleet.account.pk])
    assert instance_names(client, url) == ["air-gapped-01", "core-01", "phone-17", "sw-lab-01"]
    assert instance_names(client, url, q="phone") == ["phone-17"]
    assert instance_names(client, url, q="C9500") == ["core-01"]
    assert instance_names(client, url, q="fdo2001") == ["core-01"]
    assert instance_names(client, url, q="fdo2001a0aa") == ["core-01"]  # a full serial number, exactly


def test_the_instances_page_filters_status_family_reporting_and_license(client, fleet):
    client.force_login(fleet.viewer)
    url = reverse("instances", args=[fleet.account.pk])
    assert instance_names(client, url, status="reserved") == ["air-gapped-01"]
    assert instance_names(client, url, family="Collaboration") == ["phone-17"]
    assert instance_names(client, url, reporting="overdue") == ["air-gapped-01"]
    assert instance_names(client, url, license=fleet.flex.pk) == ["phone-17"]
    page = client.get(url).content.decode()
    assert '<span class="badge badge-warn">Reserved</span>' in page


def test_a_va_instances_page_lists_that_va_only(client, fleet):
    client.force_login(fleet.viewer)
    url = reverse("va_instances", args=[fleet.account.pk, fleet.va_a.pk])
    assert instance_names(client, url) == ["core-01"]
    assert instance_names(client, url, subtree="1") == ["core-01", "sw-lab-01"]


def test_instances_page_through_keyset_cursors(client, account):
    va = default_va(account)
    token = token_for(va)
    for n in range(7):
        register(va, hostname=f"sw-{n:02d}", token=token)
    client.force_login(account.created_by)
    from licensing.views import InstancesView

    url = reverse("instances", args=[account.pk])
    InstancesView.page_size = 3
    try:
        seen, params = [], {}
        while True:
            response = client.get(url, params)
            page = response.context["page"]
            seen.append([i.hostname for i in page.rows])
            if not page.next_cursor:
                break
            params = {"after": page.next_cursor}
        assert seen == [["sw-00", "sw-01", "sw-02"], ["sw-03", "sw-04", "sw-05"], ["sw-06"]]
        previous = client.get(url, {"before": response.context["page"].previous_cursor}).context["page"]
        assert [i.hostname for i in previous.rows] == ["sw-03", "sw-04", "sw-05"]
        assert client.get(url, {"after": "garbage!"}).status_code == 400  # a damaged link: start again
    finally:
        InstancesView.page_size = 50


def test_the_instances_csv_streams_every_matching_instance(client, fleet):
    client.force_login(fleet.viewer)
    rows = rows_of_csv(client.get(reverse("instances_csv", args=[fleet.account.pk]), {"q": "core"}))
    assert len(rows) == 1
    assert (rows[0]["Name"], rows[0]["PID"], rows[0]["Serial number"]) == ("core-01", "C9500-32C", "FDO2001A0AA")
    assert rows[0]["Virtual Account"] == fleet.va_a.name


def test_the_instance_detail_shows_usage_and_removes_the_instance(client, fleet):
    instance = ProductInstance.objects.get(hostname="sw-lab-01")
    client.force_login(fleet.user)
    page = client.get(reverse("instance_detail", args=[fleet.account.pk, instance.pk])).content.decode()
    assert "Catalyst 9300 Network Advantage" in page and "Remove product instance" in page
    assert instance.trust_code not in page
    response = client.post(reverse("instance_remove", args=[fleet.account.pk, instance.pk]), follow=True)
    assert "the licenses it used are free again" in response.content.decode()
    assert ProductInstance.objects.get(pk=instance.pk).status == "removed"
    client.force_login(fleet.viewer)
    page = client.get(reverse("instance_detail", args=[fleet.account.pk, instance.pk])).content.decode()
    assert "Remove product instance" not in page


# --- Registration tokens ---------------------------------------------------------------------------------


def test_a_user_creates_a_token_and_sees_it_with_a_copy_button(client, tenant):
    client.force_login(tenant.user)
    url = reverse("va_tokens", args=[tenant.account.pk, tenant.va_a.pk])
    response = client.post(
        url, {"description": "Floor 3 switches", "expires_after_days": 60, "max_uses": 10, "export_controlled": "on"}
    )
    token = tenant.va_a.registration_tokens.get()
    assert response.status_code == 302 and response["Location"].endswith(f"?created={token.pk}")
    page = client.get(response["Location"]).content.decode()
    assert f'value="{token.token}"' in page and f'data-copy="#token-{token.pk}"' in page
    assert "Floor 3 switches" in page and "0 / 10" in page and "Export-controlled allowed" in page
    assert token.expires_at.strftime("%Y-%m-%d") in page


def test_token_form_errors_show_on_the_form(client, tenant):
    client.force_login(tenant.user)
    url = reverse("va_tokens", args=[tenant.account.pk, tenant.va_a.pk])
    page = client.post(url, {"expires_after_days": 400}).content.decode()
    assert "Ensure this value is less than or equal to 365" in page
    assert not tenant.va_a.registration_tokens.exists()


def test_viewers_see_tokens_but_not_their_secret(client, tenant):
    token = token_for(tenant.va_a, description="Campus rollout")
    client.force_login(tenant.viewer)
    page = client.get(reverse("va_tokens", args=[tenant.account.pk, tenant.va_a.pk])).content.decode()
    assert "Campus rollout" in page and token.token not in page and "New token" not in page


def test_a_user_revokes_a_token(client, tenant):
    token = token_for(tenant.va_a, description="Old")
    client.force_login(tenant.user)
    url = reverse("token_revoke", args=[tenant.account.pk, tenant.va_a.pk, token.pk])
    page = client.post(url, follow=True).content.decode()
    assert "Token Old revoked." in page and "Revoked" in page
    token.refresh_from_db()
    assert token.is_revoked


def test_a_token_of_another_va_is_a_404_under_this_va(client, tenant):
    token = token_for(tenant.va_b)
    client.force_login(tenant.user)
    url = reverse("token_revoke", args=[tenant.account.pk, tenant.va_a.pk, token.pk])
    assert client.post(url).status_code == 404


# --- Orders, partner holding accounts, the home panel, the tree --------------------------------------------


def test_orders_show_where_their_licenses_went(client, tenant):
    client.force_login(tenant.viewer)
    page = client.get(reverse("orders", args=[tenant.account.pk])).content.decode()
    order = tenant.va_b.orders.order_by("created_at").first()
    assert order.number in page
    detail = client.get(reverse("order_detail", args=[tenant.account.pk, order.pk])).content.decode()
    assert f"into {tenant.va_b.name}" in detail and tenant.nw.name in detail
    client.force_login(tenant.va_viewer)
    assert order.number not in client.get(reverse("orders", args=[tenant.account.pk])).content.decode()


def test_a_partner_holding_account_has_licenses_but_no_devices_tokens_or_compliance(client):
    partner = make_account(name="Northwind Holding", domain="northwind.example.com", kind="partner_holding")
    lic = make_license("Catalyst 9300 Network Advantage")
    deposit(default_va(partner), lic, 12)
    client.force_login(partner.created_by)
    assert client.get(reverse("licenses", args=[partner.pk])).status_code == 200
    va = default_va(partner)
    for url in (
        reverse("instances", args=[partner.pk]),
        reverse("va_instances", args=[partner.pk, va.pk]),
        reverse("va_tokens", args=[partner.pk, va.pk]),
        reverse("compliance", args=[partner.pk]),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(reverse("va_tokens", args=[partner.pk, va.pk]), {"expires_after_days": 5}).status_code == 404
    home = client.get(reverse("account_home", args=[partner.pk])).content.decode()
    assert reverse("instances", args=[partner.pk]) not in home
    assert reverse("licenses", args=[partner.pk]) in home


def test_the_account_home_shows_the_license_panel(client, tenant):
    register(tenant.va_a, {tenant.nw: 11})
    client.force_login(tenant.viewer)
    page = client.get(reverse("account_home", args=[tenant.account.pk])).content.decode()
    panel = page.split('data-testid="license-panel"', 1)[1].split("</section>", 1)[0]
    assert '"stat-value">3</span><span class="stat-label">Licenses held or used' in panel
    # va_a uses 11 of 10, va_a_child 7 of 5: one license, short by 3 units in two VAs
    assert _stat(panel, "stat-shortages") == "1 license Shortages · 3 units short"
    assert _stat(panel, "stat-expiring") == "1 license Expiring within 90 days · 8 units"
    assert '"stat-value">2</span><span class="stat-label">Product instances' in panel


def _stat(page: str, testid: str) -> str:
    """The visible text of one stat: its value and its label."""
    import re

    block = page.split(f'data-testid="{testid}"', 1)[1].split("</a>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", block.split(">", 1)[1]).split())


@pytest.mark.parametrize("who", ["admin", "va_viewer"])
def test_shortages_and_expiries_read_the_same_on_every_page(client, tenant, who):
    """One label, one unit, one number: the account home, the licenses page and compliance agree."""
    register(tenant.va_a, {tenant.nw: 11})
    deposit(tenant.va_b, tenant.dna, 4, end=timezone.localdate() + dt.timedelta(days=80))
    client.force_login(getattr(tenant, who))
    pk = tenant.account.pk
    pages = [reverse(name, args=[pk]) for name in ("account_home", "licenses", "compliance")]
    if who == "admin":  # the whole account: both VAs' expiring licenses
        shortages, expiring = "1 license Shortages · 3 units short", "1 license Expiring within 90 days · 12 units"
    else:  # va_a and its child only
        shortages, expiring = "1 license Shortages · 3 units short", "1 license Expiring within 90 days · 8 units"
    for url in pages:
        page = client.get(url).content.decode()
        assert _stat(page, "stat-shortages") == shortages, url
        assert _stat(page, "stat-expiring") == expiring, url
    # The shortage count is the number of licenses the licenses page lists under its alert filter.
    listed = client.get(reverse("licenses", args=[pk]), {"alert": "insufficient"}).content.decode()
    assert listed.count("<tr data-license=") == 1 and tenant.nw.name in listed


def test_the_va_tree_counts_licenses_and_devices_per_va(tenant):
    rows = {row.va.pk: row for row in build_tree(tenant.account, tenant.account.virtual_accounts.all())}
    assert rows[tenant.va_a.pk].counts["licenses"] == 10
    assert rows[tenant.va_a.pk].totals["licenses"] == 10 + 5 + 8
    assert rows[tenant.va_a_child.pk].counts["devices"] == 1
    assert rows[tenant.va_b.pk].counts["licenses"] == 70


def test_expired_lots_show_on_the_license_detail(client, account):
    term = make_license("Secure Firewall FPR2130 URL Filtering", license_type="term")
    deposit(default_va(account), term, 4, end=timezone.localdate() - dt.timedelta(days=5))
    expire_term_lots()
    client.force_login(account.created_by)
    page = client.get(reverse("license_detail", args=[account.pk, term.pk])).content.decode()
    assert "4 expired" in page and "Expired " in page
