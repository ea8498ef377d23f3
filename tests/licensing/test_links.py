"""Every link a reader is shown leads to a page that reader may open.

A crawl from the account home, as each kind of reader of a customer and of a partner holding
account: every same-site link on every page reached is followed and must answer (200 or a redirect),
never 404 or 403. The data has what makes links go wrong: licenses a partner handed over (their lots
name the partner's order), licenses transferred between VAs (the lot's order was deposited in another
VA than the one the reader sees), a partner's own deposited orders (partners have no orders pages),
a converted PAK and a reservation.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

import pytest
from django.urls import reverse

from licensing.services import accept_hand_over, convert_pak, reserve_licenses, transfer_licenses, transfer_to_customer
from smartaccounts import services
from smartaccounts.services import set_license_reservation
from tests.factories import default_va, grant, make_account, make_user
from tests.isolation import build_tenant

from .helpers import deposit, make_license, make_order, register
from .workflows.helpers import make_pak, make_partner, make_sku, request_code

pytestmark = pytest.mark.django_db

MAX_PAGES = 400  # a guard against a crawl that never ends; the data here has far fewer pages
SKIPPED_PREFIXES = ("/static/", "/admin/", "/logout", "/api/")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def links_of(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    out = []
    for href in parser.hrefs:
        href = urldefrag(href)[0]
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not href.startswith("/") or href.startswith(SKIPPED_PREFIXES):
            continue
        out.append(href)
    return out


def broken_links(client, user, start: str) -> list[str]:
    """Crawl from `start` as `user`; return 'link (status) on page' for each link that does not answer."""
    client.force_login(user)
    seen, queue, broken = {start: "(start)"}, [start], []
    while queue:
        assert len(seen) < MAX_PAGES, "the crawl did not end"
        url = queue.pop(0)
        response = client.get(url)
        if response.status_code not in (200, 302):
            broken.append(f"{url} ({response.status_code}) linked from {seen[url]}")
            continue
        if response.status_code != 200 or not response["Content-Type"].startswith("text/html"):
            continue
        if not urlsplit(url).path.startswith("/accounts/"):
            continue  # links out of the accounts (home, profile) are checked, not followed
        for href in links_of(response.content.decode()):
            if href not in seen:
                seen[href] = url
                queue.append(href)
    return broken


@pytest.fixture
def world():
    customer = build_tenant("Customer")
    nw = make_license("Catalyst 9300 Network Advantage")
    dna = make_license("Catalyst 9300 DNA Advantage")
    # An order deposited in va_b, part of it transferred into va_a_child (a VA-scoped reader sees that lot).
    deposit(customer.va_b, nw, 10)
    transfer_licenses(actor=customer.admin, source=customer.va_b, target=customer.va_a_child, license=nw, quantity=4)
    deposit(customer.va_a, dna, 5)
    register(customer.va_a_child, {nw: 1, dna: 1}, hostname="sw-lab-01")
    # A PAK converted into va_a, and a reservation in va_a_child.
    pak = make_pak(customer.account, [(make_sku(nw), 3)])
    convert_pak(actor=customer.admin, pak=pak, virtual_account=customer.va_a)
    staff = make_user("ops@operator.example.net", is_staff=True, is_superuser=True)
    set_license_reservation(actor=staff, smart_account=customer.account, enabled=True)
    reserve_licenses(
        actor=customer.admin,
        virtual_account=customer.va_a_child,
        request_code=request_code(),
        reservation_type="specific",
        licenses={nw: 1},
    )
    # A partner's deposited order, some of it handed over to the customer and accepted.
    partner = make_partner("Northwind Partners Holding")
    partner_order = make_order(partner, [(dna, 6)])
    hand_over = transfer_to_customer(
        actor=partner.created_by, order_lines={partner_order.lines.get(): 2}, customer_account=customer.account
    )
    accept_hand_over(actor=customer.admin, hand_over=hand_over, virtual_account=customer.va_a)
    customer.va_admin = grant(make_user(f"va-admin@{customer.account.domain}"), "admin", va=customer.va_a)
    grant(make_user(f"lab-viewer@{customer.account.domain}"), "viewer", va=customer.va_a_child)
    services.invite_user(
        actor=customer.admin, email=f"invitee@{customer.account.domain}", role="viewer", virtual_account=customer.va_b
    )
    partner_viewer = grant(make_user(f"viewer@{partner.domain}"), "viewer", account=partner)
    partner_va_viewer = grant(make_user(f"va-viewer@{partner.domain}"), "viewer", va=default_va(partner))
    return {
        "customer": customer,
        "partner": partner,
        "partner_readers": [partner.created_by, partner_viewer, partner_va_viewer],
    }


def test_every_link_a_customer_reader_sees_opens(client, world):
    customer = world["customer"]
    start = reverse("account_home", args=[customer.account.pk])
    readers = ("admin", "va_admin", "va_user", "va_viewer")
    broken = {who: broken_links(client, getattr(customer, who), start) for who in readers}
    assert broken == dict.fromkeys(broken, [])


def test_every_link_a_partner_reader_sees_opens(client, world):
    start = reverse("account_home", args=[world["partner"].pk])
    broken = {user.email: broken_links(client, user, start) for user in world["partner_readers"]}
    assert broken == dict.fromkeys(broken, [])


def test_every_link_a_limited_use_owner_sees_opens(client):
    limited = make_account(kind="limited_use")
    nw = make_license("Catalyst 9300 Network Advantage")
    deposit(default_va(limited), nw, 4)
    register(default_va(limited), {nw: 1}, hostname="shop-switch")
    start = reverse("account_home", args=[limited.pk])
    assert broken_links(client, limited.created_by, start) == []


def test_a_lot_names_its_order_as_a_link_only_where_the_reader_may_open_it(client, world):
    partner, customer = world["partner"], world["customer"]
    order = partner.orders.get()
    license = order.lines.get().sku.license
    order_url = reverse("order_detail", args=[partner.pk, order.pk])
    client.force_login(partner.created_by)
    page = client.get(reverse("license_detail", args=[partner.pk, license.pk])).content.decode()
    assert order.number in page and f'href="{order_url}"' not in page and "/orders/" not in page
    # The customer's lot from the hand-over names the partner's order, which the customer cannot open.
    client.force_login(customer.admin)
    page = client.get(reverse("license_detail", args=[customer.account.pk, license.pk])).content.decode()
    assert order.number in page and f"/orders/{order.pk}/" not in page
    own = customer.account.orders.get(virtual_account=customer.va_a)
    assert f'href="{reverse("order_detail", args=[customer.account.pk, own.pk])}"' in page
