from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_api_docs_page_lists_the_endpoints_from_this_host_only(page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.startswith("/api/v1/accounts/") for p in paths), paths
    assert page.locator(".info .title").inner_text().startswith("Smart Accounts API")
    own = urlsplit(live_server.url).netloc
    elsewhere = [url for url in requested if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != own]
    assert not elsewhere, f"the docs page requested other hosts: {elsewhere}"
    assert any(url.endswith("/api/schema/") or "/api/schema/?" in url for url in requested), requested


def test_the_portal_links_to_the_api_docs(page):
    page.goto("/login/")
    page.click("footer a:has-text('API')")
    page.wait_for_url("**/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
