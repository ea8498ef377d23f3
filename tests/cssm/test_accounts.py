"""Accounts and Virtual Accounts on the Cisco-compatible paths (CSSM_API.md §2 "Accounts")."""

from __future__ import annotations

import pytest

from smartaccounts.models import Event, VirtualAccount
from tests.factories import grant, make_account, make_user, make_va

from .helpers import APX, call, client_for, error_json, has_keys, ok_json

pytestmark = pytest.mark.django_db
ACCOUNT_KEYS = ("accountName", "accountDomain", "accountStatus", "accountType", "roles")


@pytest.mark.parametrize(
    "path",
    [
        "/services/api/smart-accounts-and-licensing/v2/accounts",
        "/services/api/smart-accounts-and-licensing/v2/accounts/",  # CiscoSE
        "//services/api/smart-accounts-and-licensing/v2/accounts",  # abhaskar
        "/services/api/services/api/smart-accounts-and-licensing/v2/accounts",  # Postman collection
    ],
)
def test_v2_accounts_every_path_form(estate, path):
    doc = ok_json(call(client_for(estate.admin), "GET", path, raw="null"), "status", "statusMessage", "accounts")
    assert doc["status"] == "SUCCESS"
    assert [a["accountDomain"] for a in doc["accounts"]] == ["acme.example.com"]
    account = doc["accounts"][0]
    has_keys(account, ACCOUNT_KEYS)
    assert account["accountName"] == "Acme Networks"
    assert account["accountStatus"] == "ACTIVE" and account["accountType"] == "CUSTOMER"
    assert account["roles"] == [{"role": "Smart Account Administrator"}]


def test_v2_accounts_roles_name_the_virtual_account(estate):
    person = grant(make_user("eli@acme.example.com"), "user", va=estate.va1)
    grant(person, "viewer", va=estate.va2)
    doc = ok_json(call(client_for(person), "GET", "v2/accounts", query="domain=ACME.example.com"), "accounts")
    (account,) = doc["accounts"]
    assert sorted(account["roles"], key=lambda r: r["virtualAccount"]) == [
        {"role": "Virtual Account Viewer", "virtualAccount": "Lab 02"},
        {"role": "Virtual Account User", "virtualAccount": "VA1"},
    ]
    assert ok_json(call(client_for(person), "GET", "v2/accounts", query="domain=globex.example.org"))["accounts"] == []


def test_v2_accounts_query_count_does_not_grow(estate, django_assert_max_num_queries):
    for n in range(4):
        other = make_account(name=f"More {n}")
        grant(estate.viewer, "viewer", account=other)
        make_va(other, "Extra")
    client = client_for(estate.viewer)
    with django_assert_max_num_queries(8):
        doc = ok_json(call(client, "GET", "v2/accounts"))
    assert len(doc["accounts"]) == 5
    with django_assert_max_num_queries(8):
        doc = ok_json(call(client, "GET", "v2/accounts/search"))
    assert sum(len(a["virtual_accounts"]) for a in doc["accounts"]) == 4 * 2 + 3


def test_v2_accounts_search_snake_case_complete(estate):
    doc = ok_json(call(client_for(estate.admin), "GET", "v2/accounts/search"), "status", "message", "message_code")
    assert doc["status"] == "COMPLETE"
    (account,) = doc["accounts"]
    has_keys(account, ("account_id", "domain", "name", "virtual_accounts"))
    assert account["account_id"] == str(estate.account.pk) and account["domain"] == "acme.example.com"
    vas = {va["name"]: va for va in account["virtual_accounts"]}
    assert {"VA1", "Lab 02"} <= set(vas) and len(vas) == 3
    for va in vas.values():
        has_keys(va, ("default", "name", "virtual_account_id"))
    assert vas["VA1"]["default"] is False and vas["VA1"]["virtual_account_id"] == str(estate.va1.pk)
    assert sum(va["default"] for va in vas.values()) == 1


def test_v1_accounts_search_both_spellings_and_filters(estate):
    second = make_account(name="Acme Labs", domain="acmelabs.example.com")
    grant(estate.admin, "viewer", account=second)
    client = client_for(estate.admin)
    doc = ok_json(
        call(client, "GET", "v1/accounts/search", query="domain=acme.example.com&name=&type=&limit=50&offset=0"),
        "status",
        "totalRecords",
        "accounts",
    )
    assert doc["totalRecords"] == 1
    (account,) = doc["accounts"]
    both = ("accountDomain", "accountName", "accountStatus", "accountType", "id", "domain", "status", "name")
    has_keys(account, both)
    assert account["domain"] == account["accountDomain"] == "acme.example.com"
    assert account["status"] == account["accountStatus"] == "ACTIVE"
    assert account["name"] == account["accountName"] == "Acme Networks"
    paged = ok_json(call(client, "GET", "v1/accounts/search", query="name=acme&type=customer&limit=1&offset=1"))
    assert paged["totalRecords"] == 2 and [a["name"] for a in paged["accounts"]] == ["Acme Networks"]
    error_json(call(client, "GET", "v1/accounts/search", query="limit=many"), 400)


@pytest.mark.parametrize(
    "suffix", ["virtual-accounts", "customer/virtual-accounts", "CUSTOMER/virtual-accounts/", "virtual-accounts/"]
)
def test_virtual_accounts_list_with_string_booleans(estate, suffix):
    doc = ok_json(
        call(client_for(estate.viewer), "GET", f"v1/accounts/acme.example.com/{suffix}", raw="null"),
        "status",
        "statusMessage",
        "totalRecords",
        "virtualAccounts",
    )
    by_name = {va["name"]: va for va in doc["virtualAccounts"]}
    assert {"VA1", "Lab 02"} <= set(by_name) and len(by_name) == 3
    for va in by_name.values():
        has_keys(va, ("name", "description", "isDefault"))
        assert va["isDefault"] in ("true", "false")
    assert by_name["VA1"]["isDefault"] == "false"
    assert [va["isDefault"] for va in by_name.values()].count("true") == 1


def test_a_va_scoped_person_lists_only_their_vas(estate):
    person = grant(make_user("bianca@acme.example.com"), "viewer", va=estate.va2)
    doc = ok_json(call(client_for(person), "GET", "v1/accounts/acme.example.com/customer/virtual-accounts"))
    assert [va["name"] for va in doc["virtualAccounts"]] == ["Lab 02"]


def test_create_and_delete_a_virtual_account_answer_200(estate):
    client = client_for(estate.admin)
    path = "v1/accounts/acme.example.com/virtual-accounts"
    doc = ok_json(call(client, "POST", path, {"name": "Branch 7", "description": "made by a script"}), "virtualAccount")
    assert doc["status"] == "SUCCESS" and doc["virtualAccount"]["name"] == "Branch 7"
    va = VirtualAccount.objects.get(smart_account=estate.account, name="Branch 7", deleted_at__isnull=True)
    assert va.description == "made by a script"
    doc = ok_json(call(client, "POST", f"{path}/Branch%207/delete", raw="null"))
    assert doc["status"] == "SUCCESS"
    va.refresh_from_db()
    assert va.deleted_at is not None


def test_create_refuses_bad_input_and_writes_nothing(estate):
    client = client_for(estate.admin)
    path = "v1/accounts/acme.example.com/virtual-accounts"
    before = (VirtualAccount.objects.count(), Event.objects.count())
    for body in ({"name": ""}, {"description": "no name"}, {"name": "VA1"}, {"name": ["x"]}):
        error_json(call(client, "POST", path, body), 400)
    error_json(call(client, "POST", path, raw="{not json"), 400)
    error_json(call(client, "POST", path, raw="[1, 2]"), 400)
    assert (VirtualAccount.objects.count(), Event.objects.count()) == before


def test_roles_too_low_are_403_and_other_tenants_404(estate):
    path = "v1/accounts/acme.example.com/virtual-accounts"
    for person in (estate.viewer, estate.user):
        doc = error_json(call(client_for(person), "POST", path, {"name": "Nope"}), 403)
        assert doc["errorCode"]
        error_json(call(client_for(person), "POST", f"{path}/VA1/delete", raw="null"), 403)
    assert not VirtualAccount.objects.filter(name="Nope").exists()
    admin = client_for(estate.admin)
    error_json(call(admin, "GET", "v1/accounts/globex.example.org/virtual-accounts"), 404)
    error_json(call(admin, "POST", "v1/accounts/globex.example.org/virtual-accounts", {"name": "X"}), 404)
    error_json(call(admin, "POST", "v1/accounts/acme.example.com/virtual-accounts/Secret%20VA/delete"), 404)
    error_json(call(admin, "GET", "v1/accounts/no-such.example/customer/virtual-accounts"), 404)
    assert not VirtualAccount.objects.filter(name="X").exists()
    assert ok_json(call(admin, "GET", "v1/accounts/search", query="domain=globex.example.org"))["accounts"] == []


def test_anonymous_callers_are_refused(estate):
    from rest_framework.test import APIClient

    response = call(APIClient(), "GET", "v2/accounts")
    assert response.status_code in (401, 403)
    assert response.json()["status"] == "ERROR"


def test_apx_accounts_and_virtual_accounts(estate):
    client = client_for(estate.admin)
    doc = ok_json(call(client, "GET", APX + "pnp/v2/accounts", query="startIdx=0&rowsPerPage=100"), "data", "totalRows")
    assert doc["totalRows"] == 1
    has_keys(doc["data"][0], ("companyName", "domainIdentifier", "accountIdentifier"))
    assert doc["data"][0]["domainIdentifier"] == "acme.example.com"
    doc = ok_json(call(client, "GET", APX + "pnp/v2/accounts/acme.example.com/virtual-accounts"), "data")
    for va in doc["data"]:
        has_keys(va, ("virtualAccountName", "virtualAccountId", "default"))
    assert {va["virtualAccountName"] for va in doc["data"]} >= {"VA1", "Lab 02"}
    error_json(call(client, "GET", APX + "pnp/v2/accounts/globex.example.org/virtual-accounts"), 404)
    doc = ok_json(
        call(
            client,
            "GET",
            APX + "accounts/v1/user/search-smart-accounts",
            query=f"userId={estate.admin.email}&addVirtualAccounts=true&addRoleDipslayName=true",
        ),
        "data",
    )
    (account,) = doc["data"]
    assert account["accountDomain"] == "acme.example.com" and len(account["virtualAccounts"]) == 3
    assert account["roles"] == [{"role": "Smart Account Administrator"}]
    other = ok_json(call(client, "GET", APX + "accounts/v1/user/search-smart-accounts", query="userId=someone@else"))
    assert other["data"] == []
