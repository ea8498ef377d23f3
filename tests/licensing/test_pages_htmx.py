"""List pages answer htmx with their results alone and everything else with the whole page."""

from __future__ import annotations

import pytest
from django.core.paginator import Paginator
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.urls import reverse

from smartaccounts.pagination import KeysetPage
from tests.isolation import build_tenant

from .helpers import deposit, make_license, register

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true", "HX-Target": "list-results"}
LIST_PAGES = ["orders", "instances", "pak_list", "reservation_list", "hand_overs_incoming", "policy_alerts",
              "policy_reporting", "account_events"]  # fmt: skip


@pytest.fixture
def tenant():
    t = build_tenant()
    nw = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    deposit(t.va_a, nw, 10)
    register(t.va_a, {nw: 2}, hostname="sw-htmx-01")
    return t


@pytest.mark.parametrize("url_name", LIST_PAGES)
def test_htmx_gets_the_results_and_a_browser_the_page(client, tenant, url_name):
    client.force_login(tenant.admin)
    url = reverse(url_name, args=[tenant.account.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and 'id="list-results"' in html
    if url_name != "hand_overs_incoming":  # a page without filters, and one page of history here
        # The filter form targets the results; without JavaScript it is a plain GET form.
        assert 'hx-target="#list-results"' in html
    fragment = client.get(url, headers=HTMX)
    text = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in text and 'id="list-results"' in text
    assert {"HX-Request", "HX-Target"} <= {v.strip() for v in fragment["Vary"].split(",")}
    # htmx restoring history after a cache miss asks for the whole page.
    restored = client.get(url, headers={**HTMX, "HX-History-Restore-Request": "true"})
    assert "<html" in restored.content.decode()


def _pager(page, query: str) -> str:
    request = RequestFactory().get("/list/?" + query)
    return render_to_string("includes/pagination.html", {"page": page, "htmx_results": "list-results"}, request=request)


def test_the_one_pager_writes_cursor_links_that_keep_the_filters():
    page = KeysetPage(rows=[1], next_cursor="NEXT", previous_cursor="PREV", is_first=False)
    html = _pager(page, "q=sw&after=OLD")
    assert 'href="?q=sw&amp;after=NEXT"' in html and 'hx-get="?q=sw&amp;after=NEXT"' in html
    assert 'href="?q=sw&amp;before=PREV"' in html  # the other cursor is dropped
    assert 'href="?q=sw"' in html  # the first page
    assert 'hx-push-url="true"' in html
    assert _pager(KeysetPage(rows=[1], next_cursor=None, previous_cursor=None, is_first=True), "q=sw").strip() == ""


def test_the_one_pager_writes_numbered_links_that_keep_the_filters():
    page = Paginator(list(range(120)), 50).get_page(2)
    html = _pager(page, "status=active&page=2")
    assert 'href="?status=active&amp;page=3"' in html and 'href="?status=active&amp;page=1"' in html
    assert "Page 2 of 3" in html
