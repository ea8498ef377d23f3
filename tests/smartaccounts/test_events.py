"""The event log: written by every service, never edited, shown per account and per VA, filtered, exported."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection, transaction
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from smartaccounts import services
from smartaccounts.models import Event
from tests.factories import grant, make_user, make_va

pytestmark = pytest.mark.django_db


def log_url(account, va=None, csv_=False):
    if va is None:
        return reverse("account_events_csv" if csv_ else "account_events", args=[account.pk])
    return reverse("va_events_csv" if csv_ else "va_events", args=[account.pk, va.pk])


def csv_rows(response):
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_events_cannot_be_updated_or_deleted(account):
    event = Event.objects.filter(smart_account=account).first()
    with pytest.raises(TypeError):
        event.save()
    with pytest.raises(TypeError):
        event.delete()
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).update(message="changed")
    with pytest.raises(TypeError):
        Event.objects.filter(pk=event.pk).delete()


def test_the_database_refuses_changes_to_events_on_postgresql(postgres, account):
    from django.db import DatabaseError

    event = Event.objects.filter(smart_account=account).first()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE smartaccounts_event SET message = 'x' WHERE id = %s", [event.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM smartaccounts_event WHERE id = %s", [event.pk])


def test_every_tree_and_role_change_writes_an_event(account):
    admin = account.created_by
    a = make_va(account, "A")
    b = make_va(account, "B")
    services.rename_virtual_account(actor=admin, virtual_account=a, name="Alpha")
    services.move_virtual_account(actor=admin, virtual_account=b, parent=a)
    services.move_virtual_account(actor=admin, virtual_account=b, parent=None)
    services.set_default_virtual_account(actor=admin, virtual_account=b)
    person = grant(make_user("p@acme.example.com"), "viewer", va=a)
    services.revoke_role(actor=admin, user=person, virtual_account=a)
    services.delete_virtual_account(actor=admin, virtual_account=a)
    actions = list(Event.objects.filter(smart_account=account).order_by("id").values_list("action", flat=True))
    assert actions == [
        "account.created",
        "va.created",
        "va.created",
        "va.renamed",
        "va.moved",
        "va.moved",
        "va.default_changed",
        "role.assigned",
        "role.revoked",
        "va.deleted",
    ]
    assert all(e.actor == admin for e in Event.objects.filter(smart_account=account))


def test_filters_by_action_group_user_and_dates(client, account):
    admin = account.created_by
    other_admin = grant(make_user("second@acme.example.com"), "admin", account=account)
    make_va(account, "Mine")
    services.create_virtual_account(actor=other_admin, smart_account=account, name="Theirs")
    ten_days_ago = timezone.now() - dt.timedelta(days=10)
    Event.objects.create(created_at=ten_days_ago, smart_account=account, action="va.updated", message="long ago")
    client.force_login(admin)

    def messages(**params):
        return [e.message for e in client.get(log_url(account), params).context["events"]]

    assert all("created the Virtual Account" in m for m in messages(action="va.created"))
    assert len(messages(action="va.created")) == 2
    assert len(messages(action="va.*")) == 3
    assert messages(user="second@") == [f"{other_admin.email} created the Virtual Account Theirs."]
    today = timezone.now().date()
    assert messages(since=str(today + dt.timedelta(days=1))) == []
    assert "long ago" not in messages(since=str(today - dt.timedelta(days=2)))
    assert messages(until=str(ten_days_ago.date())) == ["long ago"]
    assert messages(since=str(ten_days_ago.date()), until=str(ten_days_ago.date()), action="va.*") == ["long ago"]
    assert len(messages(until=str(today))) == Event.objects.filter(smart_account=account).count()


def test_the_log_is_paginated_by_key_newest_first(client, account):
    for i in range(60):
        services.record_event(actor=None, smart_account=account, action="test.bulk", message=f"bulk {i}")
    client.force_login(account.created_by)
    first = client.get(log_url(account))
    page = first.context["page"]
    assert len(page.rows) == 50 and page.is_first and page.next_cursor
    assert 'data-testid="next-page"' in first.content.decode()
    second = client.get(log_url(account), {"after": page.next_cursor}).context["page"]
    everything = list(Event.objects.filter(smart_account=account).order_by("-created_at", "-pk"))
    assert [e.pk for e in page.rows + second.rows] == [e.pk for e in everything]
    assert second.next_cursor is None and second.previous_cursor
    back = client.get(log_url(account), {"before": second.previous_cursor}).context["page"]
    assert [e.pk for e in back.rows] == [e.pk for e in page.rows] and back.is_first


def test_a_damaged_event_log_cursor_is_a_400(client, account):
    client.force_login(account.created_by)
    assert client.get(log_url(account), {"after": "not-a-cursor!"}).status_code == 400


def test_htmx_gets_the_event_logs_results_alone(client, account):
    client.force_login(account.created_by)
    response = client.get(log_url(account), headers={"HX-Request": "true", "HX-Target": "list-results"})
    html = response.content.decode()
    assert response.status_code == 200 and html.startswith('<div id="list-results">') and "<html" not in html
    assert 'data-testid="events"' in html and "HX-Request" in response["Vary"]
    assert "<html" in client.get(log_url(account)).content.decode()  # the same URL without htmx: the page


def test_csv_export_streams_the_filtered_set(client, account):
    make_va(account, "Lab")
    for i in range(3):
        services.record_event(actor=None, smart_account=account, action="test.csv", message=f"row, with comma {i}")
    client.force_login(account.created_by)
    response = client.get(log_url(account, csv_=True), {"action": "test.csv"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = csv_rows(response)
    assert [r["message"] for r in rows] == [f"row, with comma {i}" for i in (2, 1, 0)]
    assert rows[0]["user"] == "system" and rows[0]["action"] == "test.csv"
    everything = csv_rows(client.get(log_url(account, csv_=True)))
    assert len(everything) == Event.objects.filter(smart_account=account).count()


def test_a_va_log_shows_its_subtree_and_nothing_else(client, account):
    eng = make_va(account, "Engineering")
    lab = make_va(account, "Lab", parent=eng)
    make_va(account, "Finance")
    services.rename_virtual_account(actor=account.created_by, virtual_account=lab, name="Lab 1")
    client.force_login(account.created_by)
    names = {e.virtual_account_name for e in client.get(log_url(account, eng)).context["events"]}
    assert names == {"Engineering", "Lab", "Lab 1"}
    rows = csv_rows(client.get(log_url(account, eng, csv_=True)))
    assert {r["virtual_account"] for r in rows} == {"Engineering", "Lab", "Lab 1"}


def test_va_scoped_people_see_only_the_events_of_vas_they_can_view(client, account):
    eng = make_va(account, "Engineering")
    make_va(account, "Finance")
    viewer = grant(make_user("e@acme.example.com"), "viewer", va=eng)
    client.force_login(viewer)
    page = client.get(log_url(account))
    assert {e.virtual_account_name for e in page.context["events"]} == {"Engineering"}
    assert "Finance" not in page.content.decode()
    rows = csv_rows(client.get(log_url(account, csv_=True)))
    assert {r["virtual_account"] for r in rows} == {"Engineering"}
    home = client.get(reverse("account_home", args=[account.pk])).content.decode()
    assert "Finance" not in home


def test_a_date_range_from_after_to_is_a_form_error(client, account):
    client.force_login(account.created_by)
    response = client.get(log_url(account), {"since": "2026-03-10", "until": "2026-03-01"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "To (2026-03-01) is before From (2026-03-10): choose a later To date." in page
    # The list is not narrowed by a range that cannot hold anything: the events still show.
    assert len(response.context["events"]) == Event.objects.filter(smart_account=account).count() > 0
    same_day = client.get(log_url(account), {"since": "2026-03-01", "until": "2026-03-01"}).content.decode()
    assert "is before From" not in same_day
