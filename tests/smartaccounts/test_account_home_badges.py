"""The tab badges are read with the account (one query for the account, its roles and the badges): they stay
right, and the account home's tile shows the same count without counting again."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from smartaccounts import services
from tests.factories import make_user

pytestmark = pytest.mark.django_db

BADGE = '<span class="badge badge-warn" title="Waiting for an Admin">{}</span>'


def home(client, account) -> tuple[str, list[str]]:
    client.force_login(account.created_by)
    url = reverse("account_home", args=[account.pk])
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        page = client.get(url).content.decode()
    return page, [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("waiting", [0, 3, 7])
def test_the_users_tab_badge_shows_the_pending_access_requests(client, account, waiting):
    for i in range(waiting):
        services.request_access(requester=make_user(f"p{i}@acme.example.com"), smart_account=account)
    page, sql = home(client, account)
    assert (BADGE.format(waiting) in page) == bool(waiting)
    assert f'<span class="stat-value">{waiting}</span><span class="stat-label">Pending access requests' in page
    # Counted once, in the query that reads the account: not again for the tile or the badge.
    counts = [s for s in sql if "COUNT(" in s and "smartaccounts_accessrequest" in s]
    assert len(counts) == 1 and "smartaccounts_smartaccountuserobjectpermission" in counts[0]


def test_the_account_home_stays_within_twelve_queries_however_many_wait(client, account):
    for i in range(7):
        services.request_access(requester=make_user(f"q{i}@acme.example.com"), smart_account=account)
    few = len(home(client, account)[1])
    for i in range(7, 20):
        services.request_access(requester=make_user(f"q{i}@acme.example.com"), smart_account=account)
    assert len(home(client, account)[1]) == few <= 12
