"""The cross-tenant sweep: every URL of the project, filled with another tenant's ids.

A signed-in Admin of one tenant requests each URL (GET, then POST with no data) with the
other tenant's ids. Account-scoped URLs must answer 404, and no response may contain the
other tenant's account name, VA names or any other string its builders marked secret.
"""

import pytest

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
            if "account_id" in route.kwargs:
                assert response.status_code == 404, (
                    f"{method.upper()} {route.name} ({url}) answered {response.status_code}"
                )
            checked += 1
    assert checked >= 4
