"""Every list page of the portal, fuzzed: no query string a signed-in Admin can type gets a 500.

The pages are enumerated from the URLconf (every named URL that takes only an account and perhaps a
Virtual Account and answers GET), on the demo data (`seed_demo`: a customer, a Limited Use and two
Partner Holding accounts with orders, devices, alerts, PAKs and hand-overs), each page requested by an
Admin of every demo account whose kind it serves. The parameters are the ones the views read and the
ones the page itself links to or puts in its forms; the values are any text (NUL and other control
characters included), numbers far past 64 bits, Unicode digits such as '²', edge dates, and page
cursors built from hostile JSON (nested, NUL, lone surrogates, out-of-range numbers and times).

How a bad value may be answered (smartaccounts.params): a page (the bad filter ignored, or a message
saying so), a redirect, 400 only for a page cursor, 404 only for `branch` (it addresses a VA).
On PostgreSQL (`.ci/run`) this also proves no NUL reaches the database, which refuses it in text.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count
from django.urls import reverse
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from config.celery import app as celery_app
from smartaccounts.models import Role, SmartAccount, SmartAccountUserObjectPermission
from tests.isolation import all_routes, response_text

pytestmark = pytest.mark.django_db

LIST_KWARGS = {"account_id", "va_id"}
# Every name a view or filter form reads from a query string (grep request.GET and the filter forms).
READ_BY_VIEWS = ("q", "page", "status", "family", "reporting", "license", "va", "subtree", "after", "before",
                 "branch", "expand", "created", "state", "kind", "severity", "action", "user", "since", "until",
                 "type", "alert", "sort", "dir", "next",
                 # The JSON API's lists (/api/v1/accounts/<id>/...).
                 "cursor", "page_size", "direction", "virtual_account", "instance", "generated_after",
                 "generated_before", "search")  # fmt: skip


def _list_routes():
    routes = []
    for route in all_routes():
        kwargs = set(route.kwargs)
        if "account_id" not in kwargs or not kwargs <= LIST_KWARGS:
            continue
        view_class = getattr(route_callback(route.name), "view_class", None)
        if view_class is not None and ("get" not in view_class.http_method_names or not hasattr(view_class, "get")):
            continue
        routes.append(route.name)
    return sorted(set(routes))


def route_callback(name: str):
    from django.urls import get_resolver

    for pattern_name, callback in _callbacks(get_resolver()):
        if pattern_name == name:
            return callback
    raise LookupError(name)


def _callbacks(resolver):
    from django.urls import URLPattern, URLResolver

    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            if p.namespace != "admin":
                yield from _callbacks(p)
        elif isinstance(p, URLPattern) and p.name:
            yield p.name, p.callback


LIST_PAGES = _list_routes()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    """The demo data, seeded once for this module inside a transaction that is rolled back at its end (each
    test runs in a savepoint within it). {account kind: [(account, an Admin of it, a VA of it)]}."""
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", stdout=io.StringIO())
        celery_app.conf.task_always_eager = eager
        accounts = []
        for account in SmartAccount.objects.order_by("pk"):
            grant = (
                SmartAccountUserObjectPermission.objects.filter(
                    content_object=account, permission__codename=Role.ADMIN.codename
                )
                .select_related("user")
                .order_by("pk")
                .first()
            )
            if grant is None:
                continue
            # A VA with devices where there are some (its list pages then have rows to page through).
            va = (
                account.virtual_accounts.filter(deleted_at__isnull=True)
                .annotate(devices=Count("product_instances"))
                .order_by("-devices", "pk")
                .first()
            )
            accounts.append((account, grant.user, va))
        yield accounts
        transaction.set_rollback(True)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_of(value) -> str:
    return _b64(json.dumps(value).encode())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80) | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)
edge_times = st.sampled_from(
    ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "2026-01-01T00:00:00", "2026-02-30T00:00:00+00:00"]
)
aware_times = st.datetimes(
    min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC)
).map(dt.datetime.isoformat)
cursor_texts = st.one_of(
    json_values.map(_cursor_of),
    st.tuples(st.one_of(st.text(max_size=16), aware_times, edge_times), st.integers(-(2**70), 2**70)).map(
        lambda pair: _cursor_of(list(pair))
    ),
    st.integers(min_value=1, max_value=3000).map(lambda depth: _b64(b"[" * depth + b"]" * depth)),
    st.binary(max_size=40).map(_b64),
    st.sampled_from(['["\\u0000",1]', '["\\ud800",1]', '["x",1e999]', '["x",true]', '[["x"],1]']).map(
        lambda text: _b64(text.encode())
    ),
)
odd_numbers = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80).map(str),
    st.sampled_from(["²", "٣", "1²", "𝟗", " 7", "+7", "0", "-0", "1e309", "NaN", "0x10", "9" * 40]),
)
edge_dates = st.one_of(
    st.dates().map(dt.date.isoformat), st.sampled_from(["9999-12-31", "0001-01-01", "2026-02-30", "10000-01-01"])
)
any_text = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40)  # a URL cannot carry surrogates
values = st.one_of(any_text, odd_numbers, edge_dates, cursor_texts, st.sampled_from(["\x00", "a\x00b", "%00"]))


def _page_parameter_names(html: str) -> set[str]:
    """The names the page's own forms submit and its links carry."""
    names = set(re.findall(r'\bname="([\w-]{1,40})"', html)) | set(re.findall(r"[?&;]([\w-]{1,40})=", html))
    return names - {"csrfmiddlewaretoken"}


_pages: dict[str, list[tuple[str, object, set[str]]]] = {}


def _targets(client, demo, url_name: str) -> list[tuple[str, object, set[str]]]:
    """(URL, Admin, parameter names) for each demo account whose kind the page serves (it answers 200, or
    302 for a picker that leads on to another page)."""
    if url_name not in _pages:
        found = []
        for account, admin, va in demo:
            kwargs = {"account_id": account.pk}
            if "va_id" in url_kwargs(url_name):
                kwargs["va_id"] = va.pk
            url = reverse(url_name, kwargs=kwargs)
            client.force_login(admin)
            response = client.get(url)
            if response.status_code in (200, 302):
                found.append((url, admin, set(READ_BY_VIEWS) | _page_parameter_names(response_text(response))))
        _pages[url_name] = found
    return _pages[url_name]


def url_kwargs(url_name: str) -> set[str]:
    return next(set(r.kwargs) for r in all_routes() if r.name == url_name)


def test_the_list_pages_are_found():
    """The sweep below covers the portal's list pages (a new one joins it by being in the URLconf)."""
    expected = {
        "orders", "pak_list", "partner_holdings", "hand_over_create", "instances", "va_instances",
        "policy_alerts", "policy_reporting", "virtual_accounts", "va_tokens", "account_events", "licenses",
    }  # fmt: skip
    assert expected <= set(LIST_PAGES)


@pytest.mark.parametrize("url_name", LIST_PAGES)
@settings(
    max_examples=12,  # x 35 pages, with the named values below: 2-4 s a page on SQLite
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
@example(data=None)  # the values the issue names, on every page (see `_named`), for the first account it serves
def test_no_query_string_makes_a_list_page_fail(client, demo, url_name, data):
    targets = _targets(client, demo, url_name)
    assert targets, f"{url_name}: no demo account's Admin gets this page"
    if data is None:
        url, admin, _names = targets[0]
        client.force_login(admin)
        for params in _named():
            _check(client, url, params)
        return
    url, admin, names = data.draw(st.sampled_from(targets), label="page")
    params = data.draw(st.dictionaries(st.sampled_from(sorted(names)), values, min_size=1, max_size=3), label="query")
    client.force_login(admin)
    _check(client, url, params)


def _named() -> list[dict[str, str]]:
    nested = _b64(b"[" * 5000 + b"]" * 5000)
    nul = _cursor_of(["\x00", 1])
    return [
        {"q": "a\x00b"},
        {"after": nested},
        {"before": nul},
        {"after": _cursor_of(["0001-01-01T00:00:00+01:00", 1])},
        {"after": _cursor_of(["x", 2**70])},
        {"branch": "²"},
        {"created": "²", "until": "9999-12-31"},
        {"va": "²"},
        {"va": str(2**64)},
        {"license": str(2**64)},
    ]


def _check(client, url: str, params: dict[str, str]) -> None:
    response = client.get(url, params)
    if getattr(response, "streaming", False):
        response_text(response)  # a CSV is read while it streams: read it all
    status = response.status_code
    if url.startswith("/api/"):
        # The JSON API refuses a bad value with a 400 (a damaged `cursor`: DRF's 404), in the one error shape.
        assert status in (200, 400, 404), f"{url} {params!r}: {status}"
        if status != 200:
            assert set(response.json()) == {"code", "detail", "fields"}, f"{url} {params!r}: {response.content!r}"
        if status == 404:
            assert "cursor" in params, f"{url} {params!r}: 404 for a query parameter"
        return
    assert status in (200, 302, 400, 404), f"{url} {params!r}: {status}"
    if status == 400:
        assert {"after", "before"} & params.keys(), f"{url} {params!r}: 400 without a page cursor"
        assert "Start again from the first page" in response_text(response)
    if status == 404:
        assert "branch" in params, f"{url} {params!r}: 404 for a query parameter"
