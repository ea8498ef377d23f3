"""List pages answer in a number of queries that does not grow with the rows (10 vs 200)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from smartaccounts import services
from smartaccounts.models import VirtualAccount
from tests.factories import grant, make_account, make_user

pytestmark = pytest.mark.django_db

TREE_PAGE_BUDGET = 15  # the 2,000-VA tree must render within this


def grow_tree(account, n):
    """`n` VAs in three levels: a few top-level ones, children under them, grandchildren under those."""
    admin = account.created_by
    made = []
    for i in range(n):
        parent = made[(i - 1) // 3] if i else None
        made.append(
            services.create_virtual_account(
                actor=admin, smart_account=account, name=f"VA {i:04d}", parent=None if i % 7 == 0 else parent
            )
        )
    return made


def count_queries(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        assert response.status_code == 200
    return len(queries)


def tree_page_queries(client, n) -> int:
    account = make_account(domain=f"tree{n}.example.com")
    vas = grow_tree(account, n)
    for va in vas[:: max(1, n // 10)]:
        grant(make_user(f"m{va.pk}@tree{n}.example.com"), "viewer", va=va)
    client.force_login(account.created_by)
    url = reverse("virtual_accounts", args=[account.pk])
    client.get(url)  # warm caches that are not per-request (content types, permissions)
    queries = count_queries(client, url)
    assert VirtualAccount.objects.filter(smart_account=account).count() == n + 1
    return queries


def test_tree_page_queries_do_not_grow_with_the_tree(client):
    small, big = tree_page_queries(client, 10), tree_page_queries(client, 200)
    assert small == big
    assert big <= TREE_PAGE_BUDGET


def test_tree_page_for_a_va_scoped_user_stays_within_the_budget(client):
    account = make_account(domain="scoped.example.com")
    vas = grow_tree(account, 40)
    viewer = grant(make_user("v@scoped.example.com"), "viewer", va=vas[1])
    client.force_login(viewer)
    assert count_queries(client, reverse("virtual_accounts", args=[account.pk])) <= TREE_PAGE_BUDGET


def users_page_queries(client, n) -> int:
    account = make_account(domain=f"people{n}.example.com")
    vas = grow_tree(account, 5)
    for i in range(n):
        person = make_user(f"p{i}@people{n}.example.com")
        if i % 2:
            grant(person, "user", account=account)
        else:
            grant(person, "viewer", va=vas[i % 5])
    for i in range(3):
        services.invite_user(
            actor=account.created_by, email=f"inv{i}@people{n}.example.com", role="viewer", smart_account=account
        )
    client.force_login(account.created_by)
    url = reverse("account_users", args=[account.pk])
    client.get(url)
    return count_queries(client, url)


def test_users_page_queries_do_not_grow_with_the_members(client):
    assert users_page_queries(client, 10) == users_page_queries(client, 200)


def events_page_queries(client, n) -> int:
    account = make_account(domain=f"events{n}.example.com")
    for i in range(n):
        services.record_event(actor=account.created_by, smart_account=account, action="test.row", message=f"row {i}")
    client.force_login(account.created_by)
    url = reverse("account_events", args=[account.pk])
    client.get(url)
    return count_queries(client, url)


def test_event_log_queries_do_not_grow_with_the_events(client):
    assert events_page_queries(client, 10) == events_page_queries(client, 200)


def home_queries(client, n) -> int:
    account = make_account(domain=f"home{n}.example.com")
    grow_tree(account, n)
    for i in range(n):
        services.request_access(requester=make_user(f"r{i}@home{n}.example.com"), smart_account=account)
    client.force_login(account.created_by)
    url = reverse("account_home", args=[account.pk])
    client.get(url)
    return count_queries(client, url)


def test_account_home_queries_do_not_grow(client):
    assert home_queries(client, 10) == home_queries(client, 60)


def va_page_queries(client, n) -> int:
    account = make_account(domain=f"vapage{n}.example.com")
    vas = grow_tree(account, n)
    client.force_login(account.created_by)
    url = reverse("virtual_account", args=[account.pk, vas[0].pk])
    client.get(url)
    return count_queries(client, url)


def test_va_page_queries_do_not_grow_with_its_subtree(client):
    assert va_page_queries(client, 10) == va_page_queries(client, 100)
