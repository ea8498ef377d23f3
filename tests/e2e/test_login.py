import pytest

from tests.factories import PASSWORD, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_log_in_see_home_and_log_out(page):
    make_user("browser@acme.example.com")
    page.goto("/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "browser@acme.example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("h1").inner_text() == "Your Smart Accounts"
    page.click("summary:has-text('browser@acme.example.com')")
    page.click("button:has-text('Log out')")
    page.wait_for_url("**/login/")
    page.goto("/")
    assert "/login/" in page.url
