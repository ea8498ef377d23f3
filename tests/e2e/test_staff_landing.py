import pytest

from licensing.services import import_orders  # noqa: F401  (the licensing app registers its staff queues)
from smartaccounts.models import SmartAccount
from smartaccounts.services import create_smart_account
from tests.factories import PASSWORD, make_account, make_staff, make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_without_a_role_land_on_the_admin_link_and_the_pending_approvals(page):
    make_staff("operator@operator.example.net", is_superuser=True)
    partner = make_user("lead@northwind-partners.example.com")
    pending = create_smart_account(
        creator=partner,
        name="Northwind Partners Holding",
        domain="northwind-partners.example.com",
        kind=SmartAccount.Kind.PARTNER_HOLDING,
    )
    assert pending.status == SmartAccount.Status.PENDING
    make_account(name="Approved Corp")  # active: not listed
    page.goto("/")
    page.fill("input[name=username]", "operator@operator.example.net")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    landing = page.locator("[data-testid=staff-landing]")
    assert landing.is_visible()
    assert "You are not in any Smart Account yet" not in page.content()
    row = landing.locator("[data-testid=awaiting-approval] tbody tr")
    assert row.count() == 1 and "Northwind Partners Holding" in row.inner_text()
    assert "Partner Holding" in row.inner_text()
    assert "Orders on Smart Account hold" in landing.inner_text()
    admin_link = landing.locator("[data-testid=admin-link]")
    assert admin_link.is_visible()
    row.locator("a:has-text('Review')").click()
    page.wait_for_url("**/admin/smartaccounts/smartaccount/*/change/")
    page.go_back()
    admin_link.click()
    page.wait_for_url("**/admin/")


def test_people_without_staff_status_see_no_operator_section(page):
    make_user("someone@acme.example.com")
    page.goto("/")
    page.fill("input[name=username]", "someone@acme.example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("[data-testid=staff-landing]").count() == 0
    assert "You are not in any Smart Account yet" in page.content()
