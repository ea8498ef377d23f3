"""License usage, subscriptions and license transfers on the Cisco-compatible paths (CSSM_API.md §2)."""

from __future__ import annotations

import pytest

from licensing.models import LedgerEntry
from tests.factories import grant, make_user, make_va
from tests.licensing.helpers import assert_ledger_clean, balance, deposit, make_license

from .helpers import call, client_for, error_json, has_keys, ok_json

pytestmark = pytest.mark.django_db
LICENSES = "v1/accounts/acme.example.com/licenses"
LICENSE_KEYS = (
    "license", "quantity", "inUse", "available", "reserved", "pendingQuantity", "ahaApps", "billingType",
    "isPortable", "status", "virtualAccount", "licenseSubstitutions", "licenseDetails",
)  # fmt: skip
DETAIL_KEYS = (
    "licenseType", "quantity", "startDate", "endDate", "status", "subscriptionId", "licenseSku", "orderNumber",
    "orderLineIdentifier", "billToPo", "endCustomerPo", "customer", "shipTo",
)  # fmt: skip


def _rows(doc) -> dict:
    return {(r["virtualAccount"], r["license"]): r for r in doc["licenses"]}


@pytest.mark.parametrize(
    ("path", "body", "query"),
    [
        (LICENSES, {"virtualAccounts": ["VA1"], "limit": 50, "offset": 0}, ""),
        (LICENSES, {"virtualAccounts": ["VA1"]}, ""),  # abhaskar: no limit/offset
        (LICENSES, {"virtualAccounts": ["va1"]}, "limit=50&offset=0"),  # Cisco.Api: in the query
        (LICENSES + "/", {"virtualAccounts": []}, ""),  # CiscoSE: [] = every VA
        ("//services/api/smart-accounts-and-licensing/" + LICENSES, {"virtualAccounts": ["VA1"]}, ""),  # mCSSMapi
    ],
)
def test_licenses_every_documented_key(estate, path, body, query):
    doc = ok_json(call(client_for(estate.viewer), "POST", path, body, query=query), "status", "statusMessage",
                  "totalRecords", "licenses")  # fmt: skip
    assert doc["status"] == "SUCCESS" and doc["totalRecords"] == 2
    rows = _rows(doc)
    advantage = rows[("VA1", "C9300 Network Advantage")]
    for row in rows.values():
        has_keys(row, LICENSE_KEYS)
    assert advantage["quantity"] == 10 and advantage["inUse"] == 2 and advantage["available"] == 8
    assert advantage["reserved"] == 0 and advantage["pendingQuantity"] == 0
    assert advantage["ahaApps"] is False and advantage["isPortable"] is False
    assert advantage["billingType"] == "PREPAID" and advantage["status"] == "In Compliance"
    (detail,) = advantage["licenseDetails"]
    has_keys(detail, DETAIL_KEYS)
    assert detail["licenseType"] == "Perpetual" and detail["quantity"] == 10 and detail["status"] == "Active"
    assert detail["endDate"] is None and detail["orderNumber"].startswith("SO-") and detail["licenseSku"]
    assert detail["subscriptionId"] is None and detail["billToPo"] is None and detail["shipTo"] is None
    (term,) = rows[("VA1", "C9300 DNA Advantage")]["licenseDetails"]
    assert term["licenseType"] == "Term" and term["endDate"].endswith("T00:00:00Z") and term["status"] == "Active"


def test_licenses_null_body_means_every_va_and_pages(estate):
    deposit(estate.va2, estate.perpetual, 3)
    client = client_for(estate.viewer)
    doc = ok_json(call(client, "POST", LICENSES, raw="null"))
    assert set(_rows(doc)) == {
        ("VA1", "C9300 Network Advantage"),
        ("VA1", "C9300 DNA Advantage"),
        ("Lab 02", "C9300 Network Advantage"),
    }
    first = ok_json(call(client, "POST", LICENSES, {"virtualAccounts": [], "limit": "2", "offset": 0}))
    rest = ok_json(call(client, "POST", LICENSES, {"virtualAccounts": []}, query="limit=2&offset=2"))
    assert first["totalRecords"] == rest["totalRecords"] == 3
    assert len(first["licenses"]) == 2 and len(rest["licenses"]) == 1
    assert set(_rows(first)) | set(_rows(rest)) == set(_rows(doc))


def test_out_of_compliance(estate):
    from tests.licensing.helpers import register

    register(estate.va2, {estate.perpetual: 1})
    doc = ok_json(call(client_for(estate.viewer), "POST", LICENSES, {"virtualAccounts": ["Lab 02"]}))
    (row,) = doc["licenses"]
    assert row["status"] == "Out Of Compliance" and row["available"] == -1 and row["licenseDetails"] == []


def test_licenses_query_count_does_not_grow(estate, django_assert_max_num_queries):
    client = client_for(estate.viewer)
    with django_assert_max_num_queries(10) as few:
        ok_json(call(client, "POST", LICENSES, {"virtualAccounts": []}))
    for n in range(5):
        va = make_va(estate.account, f"More {n}")
        deposit(va, make_license(), 4)
        deposit(va, estate.term, 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        doc = ok_json(call(client, "POST", LICENSES, {"virtualAccounts": []}))
    assert doc["totalRecords"] == 12


def test_licenses_scope_and_errors(estate):
    person = grant(make_user("bianca@acme.example.com"), "viewer", va=estate.va2)
    deposit(estate.va2, estate.perpetual, 1)
    doc = ok_json(call(client_for(person), "POST", LICENSES, {"virtualAccounts": []}))
    assert set(_rows(doc)) == {("Lab 02", "C9300 Network Advantage")}
    error_json(call(client_for(person), "POST", LICENSES, {"virtualAccounts": ["VA1"]}), 404)
    error_json(call(client_for(estate.admin), "POST", LICENSES, {"virtualAccounts": ["Secret VA"]}), 404)
    error_json(call(client_for(estate.admin), "POST", "v1/accounts/globex.example.org/licenses", {}), 404)
    error_json(call(client_for(estate.admin), "POST", LICENSES, {"virtualAccounts": "VA1", "limit": 0}), 400)
    error_json(call(client_for(estate.admin), "POST", LICENSES, {"virtualAccounts": {"a": 1}}), 400)


def test_license_subscriptions(estate):
    path = "v1/accounts/acme.example.com/license-subscriptions"
    client = client_for(estate.viewer)
    doc = ok_json(call(client, "POST", path, {"virtualAccounts": ["VA1"], "status": ["Active"]},
                       query="limit=10&offset=0"), "licenseSubscriptions", "totalRecords")  # fmt: skip
    (sub,) = doc["licenseSubscriptions"]
    has_keys(sub, ("license", "quantity", "billingType", "subscriptionId", "virtualAccount", "startDate", "endDate",
                   "status"))  # fmt: skip
    assert sub["license"] == "C9300 DNA Advantage" and sub["quantity"] == 5 and sub["status"] == "Active"
    assert ok_json(call(client, "POST", path, {"virtualAccounts": ["VA1"]}))["totalRecords"] == 1  # abhaskar
    assert ok_json(call(client, "POST", path, {"virtualAccounts": [], "status": ["Expired"]}))["totalRecords"] == 0
    error_json(call(client, "POST", "v1/accounts/globex.example.org/license-subscriptions", raw="null"), 404)


TRANSFER = "v1/accounts/acme.example.com/virtual-accounts/VA1/licenses/transfer"


def test_license_transfer_with_string_quantities(estate):
    body = {
        "licenses": [
            {"license": "C9300 Network Advantage", "licenseType": "PERPETUAL", "quantity": "3",
             "targetVirtualAccount": "Lab 02"},
            {"license": "C9300 DNA Advantage", "licenseType": "TERM", "quantity": 2, "targetVirtualAccount": "lab 02"},
        ]
    }  # fmt: skip
    doc = ok_json(call(client_for(estate.user), "POST", TRANSFER, body), "status", "statusMessage", "licenses")
    assert doc["status"] == "SUCCESS"
    assert [(line["license"], line["quantity"], line["status"]) for line in doc["licenses"]] == [
        ("C9300 Network Advantage", 3, "SUCCESS"),
        ("C9300 DNA Advantage", 2, "SUCCESS"),
    ]
    assert balance(estate.va1, estate.perpetual).purchased == 7
    assert balance(estate.va2, estate.perpetual).purchased == 3
    assert balance(estate.va2, estate.term).purchased == 2
    assert_ledger_clean()


@pytest.mark.parametrize(
    "second",
    [
        {"license": "C9300 DNA Advantage", "quantity": 50, "targetVirtualAccount": "Lab 02"},  # more than held
        {"license": "No Such License", "quantity": 1, "targetVirtualAccount": "Lab 02"},
        {"license": "C9300 DNA Advantage", "quantity": "two", "targetVirtualAccount": "Lab 02"},
        {"license": "C9300 DNA Advantage", "licenseType": "PERPETUAL", "quantity": 1, "targetVirtualAccount": "Lab 02"},
        {"license": "C9300 DNA Advantage", "quantity": 1, "targetVirtualAccount": "VA1"},  # same VA
        "not an object",
    ],
)
def test_license_transfer_is_all_or_nothing_and_names_the_line(estate, second):
    first = {"license": "C9300 Network Advantage", "quantity": 3, "targetVirtualAccount": "Lab 02"}
    entries = LedgerEntry.objects.count()
    doc = error_json(call(client_for(estate.user), "POST", TRANSFER, {"licenses": [first, second]}), 400)
    assert doc["statusMessage"].startswith("licenses[2]") and "Nothing was transferred" in doc["statusMessage"]
    assert LedgerEntry.objects.count() == entries
    assert balance(estate.va1, estate.perpetual).purchased == 10


def test_license_transfer_rights_and_tenants(estate):
    line = {"license": "C9300 Network Advantage", "quantity": 1, "targetVirtualAccount": "Lab 02"}
    error_json(call(client_for(estate.viewer), "POST", TRANSFER, {"licenses": [line]}), 403)
    error_json(call(client_for(estate.admin), "POST", TRANSFER, {"licenses": []}), 400)
    error_json(call(client_for(estate.admin), "POST", TRANSFER, raw="null"), 400)
    secret = dict(line, targetVirtualAccount="Secret VA")
    error_json(call(client_for(estate.admin), "POST", TRANSFER, {"licenses": [secret]}), 404)
    error_json(
        call(client_for(estate.admin), "POST", "v1/accounts/globex.example.org/virtual-accounts/Secret%20VA/licenses/"
             "transfer", {"licenses": [line]}),
        404,
    )  # fmt: skip
    only_va1 = grant(make_user("eli@acme.example.com"), "user", va=estate.va1)
    grant(only_va1, "viewer", va=estate.va2)
    error_json(call(client_for(only_va1), "POST", TRANSFER, {"licenses": [line]}), 403)
    assert balance(estate.va1, estate.perpetual).purchased == 10
