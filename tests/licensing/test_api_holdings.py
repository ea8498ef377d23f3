"""The native API's licenses, lots and license transfers (`licensing/api/holdings.py`)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from licensing.models import LedgerEntry
from tests.api.helpers import assert_error
from tests.factories import grant, make_user, make_va
from tests.isolation import build_tenant

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world():
    """A tenant with 10 of a license in va_a (2 in use), 4 in va_b, 3 in va_a_child, and another tenant."""
    tenant = build_tenant()
    lic = make_license("Catalyst 9300 DNA Essentials")
    deposit(tenant.va_a, lic, 10)
    deposit(tenant.va_b, lic, 4)
    deposit(tenant.va_a_child, lic, 3)
    register(tenant.va_a, {lic: 2}, hostname="sw-core-1")
    tenant.cache["lic"] = lic
    return tenant


def url(tenant, name, **kwargs):
    return reverse(name, kwargs={"account_id": tenant.account.pk, **kwargs})


def row_of(response, lic):
    rows = [r for r in response.json()["results"] if r["id"] == lic.pk]
    assert len(rows) == 1, response.json()
    return rows[0]


# --- Licenses ---------------------------------------------------------------------------------------------


def test_account_roll_up_sums_every_va(api, world):
    api.force_login(world.viewer)
    response = api.get(url(world, "api_licenses"))
    assert response.status_code == 200
    row = row_of(response, world.cache["lic"])
    assert (row["purchased"], row["in_use"], row["reserved"], row["balance"]) == (17, 2, 0, 15)
    assert row["entitlement_tag"] == world.cache["lic"].tag
    assert row["license_type"] == "perpetual" and row["enforcement"] == "unenforced"
    assert row["alerts"]["insufficient"] is False and row["alerts"]["labels"] == []
    assert response.json()["count"] == len(response.json()["results"])


def test_one_va_with_and_without_sub_accounts(api, world):
    api.force_login(world.viewer)
    only = row_of(api.get(url(world, "api_licenses"), {"virtual_account": world.va_a.pk}), world.cache["lic"])
    assert (only["purchased"], only["in_use"], only["balance"]) == (10, 2, 8)
    both = api.get(url(world, "api_licenses"), {"virtual_account": world.va_a.pk, "include_subaccounts": "true"})
    assert row_of(both, world.cache["lic"])["purchased"] == 13


def test_a_va_scoped_user_rolls_up_their_vas_only(api, world):
    api.force_login(world.va_user)
    row = row_of(api.get(url(world, "api_licenses")), world.cache["lic"])
    assert row["purchased"] == 13  # va_a and its child, not va_b
    response = api.get(url(world, "api_licenses"), {"virtual_account": world.va_b.pk})
    assert_error(response, 400, field="virtual_account")  # a filter naming a VA out of reach: said the same for any id
    unknown = api.get(url(world, "api_licenses"), {"virtual_account": 2**62})
    assert unknown.json() == response.json()


def test_alerts_as_the_licenses_page_computes_them(api, world):
    today = timezone.localdate()
    short = make_license("Short license")
    deposit(world.va_b, short, 1)
    register(world.va_b, {short: 3})
    term = make_license("Term license", license_type="term")
    deposit(world.va_b, term, 5, end=today + dt.timedelta(days=20))
    deposit(world.va_b, term, 2, end=today + dt.timedelta(days=75))
    api.force_login(world.admin)
    response = api.get(url(world, "api_licenses"))
    alerts = row_of(response, short)["alerts"]
    assert alerts["insufficient"] is True and row_of(response, short)["balance"] == -2
    assert alerts["labels"] == ["Insufficient (-2)"]
    expiring = row_of(response, term)["alerts"]["expiring"]
    assert expiring == [
        {"within_days": 30, "quantity": 5, "first_end_date": (today + dt.timedelta(days=20)).isoformat()},
        {"within_days": 90, "quantity": 2, "first_end_date": None},
    ]
    insufficient = api.get(url(world, "api_licenses"), {"alert": "insufficient"}).json()["results"]
    assert [r["id"] for r in insufficient] == [short.pk]
    by_balance = api.get(url(world, "api_licenses"), {"sort": "balance", "dir": "desc"}).json()["results"]
    assert [r["balance"] for r in by_balance] == sorted((r["balance"] for r in by_balance), reverse=True)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"alert": "bogus"}, "alert"),
        ({"include_subaccounts": "maybe"}, "include_subaccounts"),
        ({"virtual_account": "abc"}, "virtual_account"),
        ({"virtual_account": "0"}, "virtual_account"),
        ({"type": "forever"}, "type"),
        ({"family": "No Such Family"}, "family"),
        ({"sort": "colour"}, "sort"),
        ({"q": "a\x00b"}, "q"),
    ],
)
def test_licenses_refuse_unknown_values(api, world, params, field):
    api.force_login(world.viewer)
    assert_error(api.get(url(world, "api_licenses"), params), 400, field=field)


def test_licenses_of_another_tenant_are_not_found(api, world):
    theirs = build_tenant("Theirs")
    api.force_login(world.admin)
    assert_error(api.get(reverse("api_licenses", kwargs={"account_id": theirs.account.pk})), 404)
    assert_error(api.get(url(world, "api_licenses"), {"virtual_account": theirs.va_a.pk}), 400, field="virtual_account")
    api.logout()
    assert api.get(url(world, "api_licenses")).status_code in (401, 403)


def test_license_detail_with_its_holdings(api, world):
    lic = world.cache["lic"]
    api.force_login(world.viewer)
    response = api.get(url(world, "api_license_detail", license_id=lic.pk))
    assert response.status_code == 200
    body = response.json()
    assert (body["purchased"], body["in_use"], body["balance"]) == (17, 2, 15)
    holdings = {
        h["virtual_account"]["id"]: (h["purchased"], h["in_use"], h["balance"]) for h in body["per_virtual_account"]
    }
    assert holdings == {world.va_a.pk: (10, 2, 8), world.va_b.pk: (4, 0, 4), world.va_a_child.pk: (3, 0, 3)}
    assert sum(lot["quantity"] for lot in body["lots"]) == 17
    assert {lot["source"]["kind"] for lot in body["lots"]} == {"order"}
    assert [u["hostname"] for u in body["product_instances"]] == ["sw-core-1"]
    assert {e["kind"] for e in body["recent_entries"]} == {"deposit"}
    scoped = api.get(url(world, "api_license_detail", license_id=lic.pk), {"virtual_account": world.va_b.pk}).json()
    assert [h["virtual_account"]["id"] for h in scoped["per_virtual_account"]] == [world.va_b.pk]


def test_license_detail_outside_the_scope_is_not_found(api, world):
    never_held = make_license("Never held")
    theirs = build_tenant("Theirs")
    theirs_only = make_license("Theirs only")
    deposit(theirs.va_a, theirs_only, 1)
    api.force_login(world.admin)
    assert_error(api.get(url(world, "api_license_detail", license_id=never_held.pk)), 404)
    assert_error(api.get(url(world, "api_license_detail", license_id=theirs_only.pk)), 404)
    api.force_login(world.va_user)
    held_in_b = make_license("Held in B")
    deposit(world.va_b, held_in_b, 1)
    assert_error(api.get(url(world, "api_license_detail", license_id=held_in_b.pk)), 404)


# --- Lots -------------------------------------------------------------------------------------------------


def test_lots_with_filters(api, world):
    lic = world.cache["lic"]
    other = make_license("Other", license_type="term")
    order = deposit(world.va_b, other, 6, end=timezone.localdate() + dt.timedelta(days=200))
    api.force_login(world.viewer)
    everything = api.get(url(world, "api_lots")).json()["results"]
    assert sorted(lot["quantity"] for lot in everything) == [3, 4, 6, 10]
    of_b = api.get(url(world, "api_lots"), {"virtual_account": world.va_b.pk}).json()["results"]
    assert sorted((lot["license"]["id"], lot["quantity"]) for lot in of_b) == sorted([(lic.pk, 4), (other.pk, 6)])
    term = next(lot for lot in of_b if lot["license"]["id"] == other.pk)
    assert term["end_date"] == (timezone.localdate() + dt.timedelta(days=200)).isoformat()
    assert term["source"]["order_number"] == order.number and term["source"]["line_number"] == 1
    assert term["virtual_account"] == {"id": world.va_b.pk, "name": world.va_b.name}
    subtree = api.get(url(world, "api_lots"), {"virtual_account": world.va_a.pk, "include_subaccounts": "1"})
    assert sorted(lot["quantity"] for lot in subtree.json()["results"]) == [3, 10]
    of_other = api.get(url(world, "api_lots"), {"license": other.pk}).json()["results"]
    assert [lot["quantity"] for lot in of_other] == [6]


def test_lots_scope_and_errors(api, world):
    api.force_login(world.va_user)
    mine = api.get(url(world, "api_lots")).json()["results"]
    assert {lot["virtual_account"]["id"] for lot in mine} == {world.va_a.pk, world.va_a_child.pk}
    assert_error(api.get(url(world, "api_lots"), {"virtual_account": world.va_b.pk}), 400, field="virtual_account")
    assert_error(api.get(url(world, "api_lots"), {"license": "x"}), 400, field="license")


def test_lots_pages(api, world):
    for n in range(5):
        deposit(world.va_b, make_license(f"Paged {n}"), n + 1)
    api.force_login(world.admin)
    seen, page = [], api.get(url(world, "api_lots"), {"page_size": 3}).json()
    while True:
        seen += [lot["id"] for lot in page["results"]]
        if not page["next"]:
            break
        page = api.get(page["next"]).json()
    assert len(seen) == len(set(seen)) == 8


# --- Query counts -----------------------------------------------------------------------------------------


def count(api, path, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path, params or {})
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_list_queries_do_not_grow_with_rows(api, world):
    api.force_login(world.va_user)  # the costlier path: VA roles only
    paths = [
        (url(world, "api_licenses"), {}),
        (url(world, "api_licenses"), {"virtual_account": world.va_a.pk, "include_subaccounts": "true"}),
        (url(world, "api_lots"), {}),
        (url(world, "api_lots"), {"virtual_account": world.va_a.pk}),
        (url(world, "api_license_detail", license_id=world.cache["lic"].pk), {}),
    ]
    before = [count(api, path, params) for path, params in paths]
    today = timezone.localdate()
    for n in range(12):
        lic = make_license(f"More {n}", license_type="term" if n % 2 else "perpetual")
        deposit(world.va_a, lic, 5, end=today + dt.timedelta(days=40 + n) if n % 2 else None)
        deposit(world.va_a_child, world.cache["lic"], 1)
        register(world.va_a, {lic: 1, world.cache["lic"]: 1})
    make_va(world.account, "Extra", parent=world.va_a)
    after = [count(api, path, params) for path, params in paths]
    assert after == before
    assert max(after) <= 15


# --- License transfers ------------------------------------------------------------------------------------


def transfer(api, world, **body):
    data = {
        "source_virtual_account_id": world.va_a.pk,
        "target_virtual_account_id": world.va_b.pk,
        "license_id": world.cache["lic"].pk,
        "quantity": 3,
        **body,
    }
    return api.post(url(world, "api_license_transfers"), data, format="json")


def test_transfer_moves_licenses_and_answers_both_balances(api, world):
    api.force_login(world.user)
    response = transfer(api, world, quantity=5)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["quantity"] == 5 and body["license"]["id"] == world.cache["lic"].pk
    assert (body["source"]["purchased"], body["source"]["in_use"], body["source"]["balance"]) == (5, 2, 3)
    assert (body["target"]["purchased"], body["target"]["balance"]) == (9, 9)
    lic = world.cache["lic"]
    assert balance(world.va_a, lic).purchased == 5 and balance(world.va_b, lic).purchased == 9
    entries = LedgerEntry.objects.filter(movement=body["movement"])
    assert sorted(entries.values_list("quantity", flat=True)) == [-5, 5]
    assert_ledger_clean()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -1}, "quantity"),
        ({"quantity": "many"}, "quantity"),
        ({"quantity": 9}, "quantity"),  # 10 purchased, 2 in use: 8 available
        ({"license_id": "x"}, "license_id"),
        ({"source_virtual_account_id": None}, "source_virtual_account_id"),
        ({"target_virtual_account_id": [1]}, "target_virtual_account_id"),
    ],
)
def test_transfer_refuses_bad_input_and_writes_nothing(api, world, body, field):
    api.force_login(world.user)
    error = assert_error(transfer(api, world, **body), 400, field=field)
    if body.get("quantity") == 9:
        assert "Only 8" in error["fields"]["quantity"][0]
    assert balance(world.va_a, world.cache["lic"]).purchased == 10
    assert balance(world.va_b, world.cache["lic"]).purchased == 4


def test_transfer_to_the_same_va_names_the_field(api, world):
    api.force_login(world.user)
    assert_error(transfer(api, world, target_virtual_account_id=world.va_a.pk), 400, field="target_virtual_account_id")


def test_transfer_permissions(api, world):
    api.force_login(world.viewer)
    assert_error(transfer(api, world), 403)
    api.force_login(world.va_user)  # User on va_a (and its child): va_b is out of reach
    assert_error(transfer(api, world), 404)
    from_b = {"source_virtual_account_id": world.va_b.pk, "target_virtual_account_id": world.va_a.pk}
    assert_error(transfer(api, world, **from_b), 404)
    assert transfer(api, world, target_virtual_account_id=world.va_a_child.pk).status_code == 200
    # A Viewer of the whole account who is a User of va_a: sees va_b but may not change it.
    mixed = grant(grant(make_user("mixed@api.example.com"), "viewer", account=world.account), "user", va=world.va_a)
    api.force_login(mixed)
    assert_error(transfer(api, world), 403)
    theirs = build_tenant("Theirs")
    api.force_login(world.admin)
    assert_error(transfer(api, world, target_virtual_account_id=theirs.va_a.pk), 404)
    assert_error(api.post(reverse("api_license_transfers", kwargs={"account_id": theirs.account.pk}), {}), 404)
    assert_error(transfer(api, world, license_id=make_license("Not held").pk), 404)
    assert balance(world.va_b, world.cache["lic"]).purchased == 4
