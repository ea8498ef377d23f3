"""The account home hands the header the counts it has just made: the tab badges stay right, uncounted twice."""

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
    counts = [s for s in sql if "COUNT(*)" in s and "smartaccounts_accessrequest" in s]
    # Up to five are listed and counted by the list; more are counted once, for the tile and the badge.
    assert len(counts) == (1 if waiting >= 5 else 0)


def test_the_account_home_stays_within_fifteen_queries(client, account):
    for i in range(7):
        services.request_access(requester=make_user(f"q{i}@acme.example.com"), smart_account=account)
    assert len(home(client, account)[1]) <= 15
