"""The alerts page, newest first, paged by key: older and newer pages without counting every alert."""

import re
from datetime import timedelta

import pytest
from django.urls import reverse

from policy.models import Alert
from tests.factories import default_va, grant, make_user, make_va

from .helpers import T0, make_instance

pytestmark = pytest.mark.django_db


def open_alerts(account, va, n, *, start=T0, kind=Alert.Kind.OVERDUE):
    """`n` open alerts in `va`, one a minute; two share each opening time (ties are broken by id)."""
    alerts = []
    for i in range(n):
        device = make_instance(va, hostname=f"dev-{va.name}-{i:03d}")
        alerts.append(
            Alert.objects.create(
                smart_account=account,
                virtual_account=va,
                product_instance=device,
                kind=kind,
                severity="critical",
                message=f"Usage report overdue: {device.hostname}",
                opened_at=start + timedelta(minutes=i // 2),
            )
        )
    return alerts


def shown(client, account, **params) -> tuple[list[str], object]:
    response = client.get(reverse("policy_alerts", args=[account.pk]), params)
    assert response.status_code == 200
    names = re.findall(r"Usage report overdue: (dev-[\w.-]+)", response.content.decode())
    return names, response.context["page"]


def test_alerts_are_paged_newest_first_by_key_forwards_and_back(client, account, monkeypatch):
    va = default_va(account)
    alerts = open_alerts(account, va, 7)
    newest_first = [a.message.split(": ")[1] for a in sorted(alerts, key=lambda a: (a.opened_at, a.pk), reverse=True)]
    monkeypatch.setattr("policy.views.PAGE_SIZE", 3)
    client.force_login(account.created_by)

    first, page = shown(client, account)
    assert first == newest_first[:3] and page.is_first and page.previous_cursor is None
    second, page = shown(client, account, after=page.next_cursor)
    third, page = shown(client, account, after=page.next_cursor)
    assert second + third == newest_first[3:] and page.next_cursor is None
    back, page = shown(client, account, before=page.previous_cursor)
    assert back == second and not page.is_first
    back, page = shown(client, account, before=page.previous_cursor)
    assert back == first and page.is_first
    damaged = client.get(reverse("policy_alerts", args=[account.pk]), {"after": "not-a-cursor"})
    assert damaged.status_code == 400 and "Start again from the first page" in damaged.content.decode()


def test_a_va_scoped_reader_pages_through_the_alerts_of_their_vas_only(client, account, monkeypatch):
    mine, hidden = make_va(account, "Warehouse"), make_va(account, "Head office")
    open_alerts(account, mine, 4)
    open_alerts(account, hidden, 4, start=T0 + timedelta(hours=1))  # newer, and not theirs
    monkeypatch.setattr("policy.views.PAGE_SIZE", 3)
    client.force_login(grant(make_user("floor@acme.example.com"), "viewer", va=mine))
    first, page = shown(client, account)
    rest, _ = shown(client, account, after=page.next_cursor)
    assert len(first) == 3 and len(rest) == 1
    assert all("Warehouse" in name for name in first + rest)


def test_the_alerts_page_reads_a_fixed_number_of_queries_however_many_alerts(
    client, account, django_assert_max_num_queries
):
    va = default_va(account)
    open_alerts(account, va, 3)
    client.force_login(account.created_by)
    url = reverse("policy_alerts", args=[account.pk])
    client.get(url)
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    open_alerts(account, va, 120, start=T0 + timedelta(days=1))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert "Older" in client.get(url).content.decode()
