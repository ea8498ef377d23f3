"""Every admin list answers a staff member with search and a filter, in a number of queries that does not
grow with its rows, and names the Smart Account of rows that belong to one."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import make_staff
from tests.isolation import build_tenant, load_builders

pytestmark = pytest.mark.django_db

APPS = ("smartaccounts", "licensing", "policy")
# What each tenant gets beyond its accounts, VAs and people: a row in most admin lists.
KWARGS = ("license_id", "order_id", "instance_id", "token_id", "hand_over_id", "pak_id", "reservation_id",
          "report_id", "upload_id", "invitation_id", "request_id")  # fmt: skip


def _ours():
    return sorted(
        ((model, model_admin) for model, model_admin in admin.site._registry.items()
         if model._meta.app_label in APPS),
        key=lambda item: item[0]._meta.label,
    )  # fmt: skip


def _populate(count: int) -> None:
    builders = load_builders()
    for _ in range(count):
        tenant = build_tenant()
        for kwarg in KWARGS:
            builders[kwarg](tenant, tenant.va_a_child)


def _account_field(model) -> str | None:
    names = {f.name for f in model._meta.get_fields()}
    for name in ("smart_account", "owner", "partner_account"):
        if name in names:
            return name
    if "virtual_account" in names:
        return "virtual_account__smart_account"
    if "product_instance" in names:
        return "product_instance__smart_account"
    return None


def _queries(client, url: str, data: dict | None = None) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, data or {})
    assert response.status_code == 200, (url, data, response.status_code)
    return len(queries), response.content.decode()


def _first_filter(page: str) -> str | None:
    """The query string of the first choice of the filter sidebar that is not "All"."""
    sidebar = page.split('id="changelist-filter"', 1)
    if len(sidebar) < 2:
        return None
    for href in re.findall(r'href="(\?[^"]+)"', sidebar[1]):
        href = unescape(href)
        if "=" in href and "_facets" not in href:
            return href[1:]
    return None


def test_every_list_shows_the_account_and_has_search_and_filters():
    problems = []
    for model, model_admin in _ours():
        if model._meta.label in {"smartaccounts.User"}:
            continue
        if not model_admin.search_fields:
            problems.append(f"{model._meta.label}: no search")
        if not model_admin.list_filter and model._meta.label != "policy.WorkerHeartbeat":
            problems.append(f"{model._meta.label}: no filter")
        account = _account_field(model)
        if account and model._meta.label != "smartaccounts.SmartAccount":
            shown = " ".join(str(c) for c in model_admin.list_display)
            if "account" not in shown and "owner" not in shown:
                problems.append(f"{model._meta.label}: no account column")
    assert problems == [], "\n".join(problems)


def test_every_changelist_answers_with_search_and_a_filter_in_queries_that_do_not_grow(client):
    staff = make_staff(None, is_superuser=True)
    client.force_login(staff)
    _populate(1)
    urls = {model._meta.label: reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            for model, _ in _ours()}  # fmt: skip
    few = {label: _queries(client, url)[0] for label, url in urls.items()}
    _populate(3)
    filtered = []
    for label, url in urls.items():
        count, page = _queries(client, url)
        assert count <= few[label], f"{label}: {few[label]} queries with few rows, {count} with more"
        model_admin = next(a for m, a in _ours() if m._meta.label == label)
        if model_admin.search_fields:
            _queries(client, url, {"q": "a"})
        query = _first_filter(page)
        if query:
            filtered.append(label)
            _queries(client, f"{url}?{query}")
            _queries(client, f"{url}?{query}&q=a")
    assert {"smartaccounts.VirtualAccount", "licensing.ProductInstance", "licensing.Order"} <= set(filtered)
