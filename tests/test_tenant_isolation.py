"""The cross-tenant sweep: every URL of the project, filled with another tenant's ids.

A signed-in Admin of one tenant requests each URL (GET, then POST with no data) with the
other tenant's ids. Account-scoped URLs must answer 404, and no response may contain the
other tenant's account name, VA names or any other string its builders marked secret.
"""

import pytest
from django.urls import reverse

from tests.isolation import all_routes, build_tenant, response_text

pytestmark = pytest.mark.django_db

# URLs that are not about a tenant, or answer something other than a page for a signed-in user.
NOT_TENANT_SCOPED = {
    "login",
    "logout",
    "logout_and_continue",  # logs the signed-in user out, like "logout"
    "password_change",
    "password_change_done",
    "password_reset",
    "password_reset_done",
    "password_reset_confirm",
    "password_reset_complete",
    "healthz",
}


def test_every_url_hides_another_tenant(client):
    mine = build_tenant("Mine")
    theirs = build_tenant("Theirs")
    client.force_login(mine.admin)
    checked = 0
    for route in all_routes():
        if route.name in NOT_TENANT_SCOPED:
            continue
        url = theirs.url(route.name, va=theirs.va_a_child)
        for method in ("get", "post"):
            response = getattr(client, method)(url)
            text = response_text(response)
            for secret in theirs.secret_names:
                assert secret not in text, f"{method.upper()} {route.name} ({url}) shows {secret!r} of another tenant"
            if {"account_id", "domain"} & set(route.kwargs):  # the Cisco-compatible paths name it by domain
                assert response.status_code == 404, (
                    f"{method.upper()} {route.name} ({url}) answered {response.status_code}"
                )
            checked += 1
    assert checked >= 4


# Ids of people-related objects: with one's own account in the URL, another tenant's must still be a 404.
PEOPLE_IDS = {"member_id", "invitation_id", "request_id"}


def test_own_account_urls_with_another_tenants_ids_hide_them(client):
    """The Admin's own account in the URL, every other id another tenant's (a member, an invitation, a
    license, a device…): no response shows the other tenant's names, none fails, and the people pages answer 404."""
    mine = build_tenant("Mine")
    theirs = build_tenant("Theirs")
    client.force_login(mine.admin)
    checked = 0
    for route in all_routes():
        own = "account_id" if "account_id" in route.kwargs else "domain" if "domain" in route.kwargs else None
        if route.name in NOT_TENANT_SCOPED or own is None:
            continue
        if not set(route.kwargs) - {"account_id", "va_id", "domain", "account_type"}:
            continue  # nothing of theirs to put in the URL
        kwargs = {
            **theirs.kwargs_for(route.name, va=theirs.va_a_child),
            own: mine.account.pk if own == "account_id" else mine.account.domain,
        }
        if "va_id" in kwargs:
            kwargs["va_id"] = mine.va_a_child.pk
        url = reverse(route.name, kwargs=kwargs)
        for method in ("get", "post"):
            # Followed: a refusal shown as a message on the next page must not name anything either.
            response = getattr(client, method)(url, follow=True)
            text = response_text(response)
            for secret in theirs.secret_names:
                assert secret not in text, f"{method.upper()} {route.name} ({url}) shows {secret!r} of another tenant"
            assert response.status_code < 500, f"{method.upper()} {route.name} ({url}) answered {response.status_code}"
            if PEOPLE_IDS & set(route.kwargs) and response.status_code != 405:
                assert response.status_code == 404, (
                    f"{method.upper()} {route.name} ({url}) answered {response.status_code}"
                )
            checked += 1
    assert checked >= 10
