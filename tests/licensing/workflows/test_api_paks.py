"""The PAK endpoints of the native API: listing what is left, claiming by number (rate limited), converting."""

import secrets

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from licensing.models import LedgerEntry, Pak
from tests.api.helpers import account_url as url
from tests.api.helpers import assert_error
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import assert_ledger_consistent, balance, make_license, make_pak, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture(autouse=True)
def own_counters(settings):
    """Rate-limit counters of this test only."""
    settings.CACHES = {
        alias: {**conf, "KEY_PREFIX": f"test-{secrets.token_hex(6)}"} for alias, conf in settings.CACHES.items()
    }


@pytest.fixture
def world():
    account = make_account(name="Acme Robotics", domain="acme-paks-api.example.com")
    lab = make_va(account, "Lab")
    plant = make_va(account, "Plant")
    viewer = grant(make_user("viewer@acme-paks-api.example.com"), "viewer", account=account)
    lab_user = grant(make_user("lab@acme-paks-api.example.com"), "user", va=lab)
    dna = make_license("Catalyst 9300 DNA Advantage")
    network = make_license("Catalyst 9300 Network Advantage")
    dna_sku = make_sku(dna, "L-DNA-API", per_unit=2)
    network_sku = make_sku(network, "L-NW-API")
    pak = make_pak(account, [(dna_sku, 5), (network_sku, 3)], number="3PAK-API-0001")
    other = make_account(name="Initech", domain="initech-paks-api.example.com")
    return {
        "account": account,
        "admin": account.created_by,
        "lab": lab,
        "plant": plant,
        "viewer": viewer,
        "lab_user": lab_user,
        "dna": dna,
        "network": network,
        "dna_sku": dna_sku,
        "network_sku": network_sku,
        "pak": pak,
        "other": other,
    }


def test_the_list_shows_each_pak_with_what_is_left_per_sku(api, world):
    w = world
    api.force_login(w["admin"])
    body = api.get(url("api_paks", w["account"])).json()
    (row,) = body["results"]
    assert row["number"] == "3PAK-API-0001" and row["units"] == 8 and row["left"] == 8
    assert {(line["sku"], line["quantity"], line["left"]) for line in row["lines"]} == {
        ("L-DNA-API", 5, 5),
        ("L-NW-API", 3, 3),
    }
    assert api.get(url("api_paks", w["account"]), {"search": "nothing"}).json()["results"] == []
    assert_error(api.get(url("api_paks", w["account"]), {"search": "a\x00b"}), 400, "invalid")


def test_a_viewer_gets_403_as_on_the_pages_and_another_tenant_404(api, world):
    w = world
    api.force_login(w["viewer"])
    assert_error(api.get(url("api_paks", w["account"])), 403)
    assert_error(api.get(url("api_pak", w["account"], pak_id=w["pak"].pk)), 403)
    api.force_login(w["other"].created_by)
    assert_error(api.get(url("api_paks", w["account"])), 404)
    # Its own account does not reach the PAK either.
    assert_error(api.get(url("api_pak", w["other"], pak_id=w["pak"].pk)), 404)
    response = api.post(
        url("api_pak_convert", w["other"], pak_id=w["pak"].pk),
        {"virtual_account_id": default_va(w["other"]).pk},
        format="json",
    )
    assert_error(response, 404)


def test_a_partner_holding_account_has_no_paks(api, world):
    partner = make_partner("Paks Partner Holding")
    api.force_login(partner.created_by)
    assert_error(api.get(url("api_paks", partner)), 404)


def test_converting_some_lines_into_a_va(api, world):
    w = world
    api.force_login(w["lab_user"])
    response = api.post(
        url("api_pak_convert", w["account"], pak_id=w["pak"].pk),
        {"virtual_account_id": w["lab"].pk, "lines": {"l-dna-api": 2}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {line["sku"]: line["left"] for line in body["lines"]} == {"L-DNA-API": 3, "L-NW-API": 3}
    (conversion,) = body["conversions"]
    assert conversion["licenses"] == 4 and conversion["virtual_account"] == {"id": w["lab"].pk, "name": "Lab"}
    assert conversion["actor"] == w["lab_user"].email
    assert balance(w["lab"], w["dna"]).purchased == 4
    assert_ledger_consistent()


def test_converting_everything_left_when_no_lines_are_named(api, world):
    w = world
    api.force_login(w["admin"])
    response = api.post(
        url("api_pak_convert", w["account"], pak_id=w["pak"].pk), {"virtual_account_id": w["plant"].pk}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["left"] == 0
    assert balance(w["plant"], w["dna"]).purchased == 10 and balance(w["plant"], w["network"]).purchased == 3
    # Nothing is left: the service refuses, in the one shape.
    response = api.post(
        url("api_pak_convert", w["account"], pak_id=w["pak"].pk), {"virtual_account_id": w["plant"].pk}, format="json"
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    "lines",
    [{"L-DNA-API": 6}, {"L-UNKNOWN": 1}, {"L-DNA-API": -1}, {"L-DNA-API": 0}],
)
def test_bad_lines_are_refused_and_nothing_is_converted(api, world, lines):
    w = world
    api.force_login(w["admin"])
    response = api.post(
        url("api_pak_convert", w["account"], pak_id=w["pak"].pk),
        {"virtual_account_id": w["lab"].pk, "lines": lines},
        format="json",
    )
    assert_error(response, 400)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CONVERSION).exists()


def test_a_malformed_body_is_a_400_on_its_field(api, world):
    w = world
    api.force_login(w["admin"])
    convert = url("api_pak_convert", w["account"], pak_id=w["pak"].pk)
    response = api.post(convert, {"lines": {"L-DNA-API": 1}}, format="json")
    assert_error(response, 400, "invalid")
    assert "virtual_account_id" in response.json()["fields"]
    response = api.post(convert, {"virtual_account_id": w["lab"].pk, "lines": ["L-DNA-API"]}, format="json")
    assert_error(response, 400, "invalid")
    assert "lines" in response.json()["fields"]


def test_converting_into_a_va_out_of_reach_is_a_404_and_into_a_va_too_low_a_403(api, world):
    w = world
    other_va = make_va(w["other"], "Elsewhere")
    api.force_login(w["lab_user"])
    convert = url("api_pak_convert", w["account"], pak_id=w["pak"].pk)
    assert_error(api.post(convert, {"virtual_account_id": other_va.pk}, format="json"), 404)
    assert_error(api.post(convert, {"virtual_account_id": w["plant"].pk}, format="json"), 404)  # outside the subtree
    lab_viewer = grant(make_user("lab-viewer@acme-paks-api.example.com"), "viewer", va=w["lab"])
    grant(lab_viewer, "user", va=w["plant"])  # may operate somewhere, only view the lab
    api.force_login(lab_viewer)
    assert_error(api.post(convert, {"virtual_account_id": w["lab"].pk}, format="json"), 403)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CONVERSION).exists()


def test_claiming_an_unowned_pak_by_number(api, world):
    w = world
    loose = make_pak(None, [(w["network_sku"], 2)], number="3PAK-LOOSE-0001")
    api.force_login(w["admin"])
    response = api.post(url("api_paks", w["account"]), {"number": " 3pak-loose-0001 "}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["number"] == "3PAK-LOOSE-0001"
    loose.refresh_from_db()
    assert loose.owner == w["account"]
    # Entering it again finds it: 200.
    assert api.post(url("api_paks", w["account"]), {"number": "3PAK-LOOSE-0001"}, format="json").status_code == 200


def test_another_accounts_pak_and_an_unknown_number_get_the_same_refusal(api, world):
    w = world
    theirs = make_pak(w["other"], [(w["network_sku"], 2)], number="3PAK-THEIRS-0001")
    api.force_login(w["admin"])
    answers = [
        api.post(url("api_paks", w["account"]), {"number": number}, format="json").json()
        for number in (theirs.number, "3PAK-NOPE-0001")
    ]
    assert answers[0] == answers[1] and answers[0]["fields"]["number"]
    assert Pak.objects.get(pk=theirs.pk).owner == w["other"]
    assert_error(api.post(url("api_paks", w["account"]), {}, format="json"), 400, "invalid")


def test_claiming_is_rate_limited_per_login_after_the_role_check(api, world, settings):
    w = world
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "pak_claim_user": "2/hour"}
    loose = make_pak(None, [(w["network_sku"], 2)], number="3PAK-LOOSE-0002")
    stranger = make_user("stranger@elsewhere-paks.example.com")
    api.force_login(stranger)
    for _ in range(3):  # no role: 404 each time, and no budget used
        assert_error(api.post(url("api_paks", w["account"]), {"number": "3PAK-GUESS"}, format="json"), 404)
    api.force_login(w["admin"])
    for n in range(2):
        assert_error(api.post(url("api_paks", w["account"]), {"number": f"3PAK-GUESS-{n}"}, format="json"), 400)
    response = api.post(url("api_paks", w["account"]), {"number": loose.number}, format="json")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0
    loose.refresh_from_db()
    assert loose.owner_id is None


def count_queries(api, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_one_or_many_paks(api, world):
    w = world
    api.force_login(w["admin"])
    path = url("api_paks", w["account"])
    one = count_queries(api, path)
    for n in range(6):
        make_pak(w["account"], [(w["dna_sku"], 1), (make_sku(make_license()), 2)], number=f"3PAK-MANY-{n:04d}")
    assert count_queries(api, path) == one
    assert len(api.get(path).json()["results"]) == 7


def test_one_pak_with_its_lines_and_conversions(api, world):
    w = world
    api.force_login(w["admin"])
    body = api.get(url("api_pak", w["account"], pak_id=w["pak"].pk)).json()
    assert body["id"] == w["pak"].pk and body["number"] == "3PAK-API-0001" and body["conversions"] == []
    assert {line["sku"]: line["licenses_per_unit"] for line in body["lines"]} == {"L-DNA-API": 2, "L-NW-API": 1}


def test_a_viewer_may_not_enter_a_pak_number(api, world):
    w = world
    loose = make_pak(None, [(w["network_sku"], 2)], number="3PAK-LOOSE-0003")
    api.force_login(w["viewer"])
    assert_error(api.post(url("api_paks", w["account"]), {"number": loose.number}, format="json"), 403)
    loose.refresh_from_db()
    assert loose.owner_id is None
