"""The reservation endpoints of the native API: reserve, read, update, release (with and without a code)."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from licensing import reservation_codes as codes
from licensing.models import ProductInstance, Reservation
from licensing.services import reserve_licenses
from tests.api.helpers import account_url as url
from tests.api.helpers import assert_error
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import assert_ledger_consistent, balance, deposit, enable_reservations, make_license, request_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world():
    account = enable_reservations(make_account(name="Acme Plants", domain="acme-slr-api.example.com"))
    plant = make_va(account, "Air-gapped plant")
    office = make_va(account, "Office")
    dna = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300")
    network = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    deposit(plant, dna, 10)
    deposit(plant, network, 5)
    deposit(office, dna, 3)
    plant_user = grant(make_user("plant@acme-slr-api.example.com"), "user", va=plant)
    viewer = grant(make_user("viewer@acme-slr-api.example.com"), "viewer", account=account)
    user = grant(make_user("user@acme-slr-api.example.com"), "user", account=account)
    other = enable_reservations(make_account(name="Initech", domain="initech-slr-api.example.com"))
    return {
        "account": account,
        "admin": account.created_by,
        "plant": plant,
        "office": office,
        "dna": dna,
        "network": network,
        "plant_user": plant_user,
        "viewer": viewer,
        "user": user,
        "other": other,
    }


def reserve(w, va=None, quantity=2, serial=None):
    return reserve_licenses(
        actor=w["admin"],
        virtual_account=va or w["plant"],
        request_code=request_code(serial=serial),
        reservation_type="specific",
        licenses={w["dna"]: quantity},
    )


def return_code(reservation_id):
    reservation = Reservation.objects.select_related("product_instance").get(pk=reservation_id)
    instance = reservation.product_instance
    signature = json.loads(reservation.authorization_code)["signature"]
    return codes.make_return_code(pid=instance.pid, serial_number=instance.serial_number, signature=signature)


# --- Reserving ------------------------------------------------------------------------------------------


def test_a_specific_reservation_answers_201_with_the_signed_authorization_code(api, world):
    w = world
    api.force_login(w["plant_user"])
    response = api.post(
        url("api_reservations", w["account"]),
        {
            "virtual_account_id": w["plant"].pk,
            "request_code": request_code(serial="FOC2231X0AB"),
            "reservation_type": "specific",
            "licenses": [
                {"license_id": w["dna"].pk, "quantity": 3},
                {"entitlement_tag": w["network"].tag, "quantity": 1},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active" and body["reservation_type"] == "specific" and body["sequence"] == 1
    assert body["product_instance"]["serial_number"] == "FOC2231X0AB"
    assert {row["license"]["id"]: row["quantity"] for row in body["licenses"]} == {w["dna"].pk: 3, w["network"].pk: 1}
    payload = codes.verify_authorization(body["authorization_code"])
    assert payload["reservation"] == body["id"] and payload["udi"]["serial_number"] == "FOC2231X0AB"
    assert balance(w["plant"], w["dna"]).reserved == 3
    assert ProductInstance.objects.get(serial_number="FOC2231X0AB").status == "reserved"
    assert_ledger_consistent()


def test_a_universal_reservation_takes_one_of_every_license_of_the_family(api, world):
    w = world
    api.force_login(w["admin"])
    response = api.post(
        url("api_reservations", w["account"]),
        {"virtual_account_id": w["plant"].pk, "request_code": request_code(), "reservation_type": "universal"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert {row["license"]["id"]: row["quantity"] for row in response.json()["licenses"]} == {
        w["dna"].pk: 1,
        w["network"].pk: 1,
    }


@pytest.mark.parametrize(
    "change, field",
    [
        ({"reservation_type": "partial"}, "reservation_type"),
        ({"licenses": []}, "licenses"),
        ({"licenses": [{"quantity": 1}]}, "licenses"),
        ({"licenses": [{"license_id": 999999999, "quantity": 1}]}, "licenses"),
        ({"licenses": [{"entitlement_tag": "not a tag", "quantity": 1}]}, "licenses"),
        ({"request_code": "garbage"}, "request_code"),
        ({"virtual_account_id": "plant"}, "virtual_account_id"),
    ],
)
def test_a_bad_reservation_request_is_a_400_on_its_field_and_nothing_is_reserved(api, world, change, field):
    w = world
    api.force_login(w["admin"])
    body = {
        "virtual_account_id": w["plant"].pk,
        "request_code": request_code(),
        "reservation_type": "specific",
        "licenses": [{"license_id": w["dna"].pk, "quantity": 1}],
        **change,
    }
    response = api.post(url("api_reservations", w["account"]), body, format="json")
    assert_error(response, 400)
    assert field in response.json()["fields"], response.json()
    assert not Reservation.objects.exists()


def test_more_than_is_available_is_refused_by_the_service(api, world):
    w = world
    api.force_login(w["admin"])
    response = api.post(
        url("api_reservations", w["account"]),
        {
            "virtual_account_id": w["office"].pk,
            "request_code": request_code(),
            "reservation_type": "specific",
            "licenses": [{"license_id": w["dna"].pk, "quantity": 4}],
        },
        format="json",
    )
    assert_error(response, 400)
    assert "only 3 available" in response.json()["detail"]
    assert balance(w["office"], w["dna"]).reserved == 0


def test_reserving_in_a_va_out_of_reach_is_a_404_and_as_a_viewer_a_403(api, world):
    w = world
    body = {
        "request_code": request_code(),
        "reservation_type": "specific",
        "licenses": [{"license_id": w["dna"].pk, "quantity": 1}],
    }
    api.force_login(w["plant_user"])
    for va in (w["office"], default_va(w["other"])):
        response = api.post(url("api_reservations", w["account"]), {**body, "virtual_account_id": va.pk}, format="json")
        assert_error(response, 404)
    api.force_login(w["viewer"])
    response = api.post(
        url("api_reservations", w["account"]), {**body, "virtual_account_id": w["plant"].pk}, format="json"
    )
    assert_error(response, 403)
    assert not Reservation.objects.exists()


def test_an_account_without_reservations_enabled_is_refused(api, world):
    plain = make_account(name="Plain Co", domain="plain-slr-api.example.com")
    api.force_login(plain.created_by)
    response = api.post(
        url("api_reservations", plain),
        {
            "virtual_account_id": default_va(plain).pk,
            "request_code": request_code(),
            "reservation_type": "universal",
        },
        format="json",
    )
    assert_error(response, 400)
    assert "not enabled" in response.json()["detail"]


# --- Reading --------------------------------------------------------------------------------------------


def test_the_list_filters_by_va_type_and_status_within_what_the_caller_sees(api, world):
    w = world
    in_plant = reserve(w)
    in_office = reserve(w, va=w["office"], quantity=1)
    api.force_login(w["user"])
    path = url("api_reservations", w["account"])
    assert {r["id"] for r in api.get(path).json()["results"]} == {in_plant.pk, in_office.pk}
    assert [r["id"] for r in api.get(path, {"virtual_account": w["office"].pk}).json()["results"]] == [in_office.pk]
    assert api.get(path, {"type": "universal"}).json()["results"] == []
    assert api.get(path, {"status": "released"}).json()["results"] == []
    api.force_login(w["plant_user"])
    assert [r["id"] for r in api.get(path).json()["results"]] == [in_plant.pk]
    assert_error(api.get(path, {"virtual_account": w["office"].pk}), 400, "invalid")
    assert_error(api.get(path, {"status": "gone"}), 400, "invalid")


def test_one_reservation_is_reached_through_its_va(api, world):
    w = world
    in_office = reserve(w, va=w["office"], quantity=1)
    api.force_login(w["viewer"])
    body = api.get(url("api_reservation", w["account"], reservation_id=in_office.pk)).json()
    assert body["id"] == in_office.pk and body["authorization_code"] == in_office.authorization_code
    api.force_login(w["plant_user"])
    assert_error(api.get(url("api_reservation", w["account"], reservation_id=in_office.pk)), 404)
    api.force_login(w["other"].created_by)
    assert_error(api.get(url("api_reservation", w["account"], reservation_id=in_office.pk)), 404)
    assert_error(api.get(url("api_reservation", w["other"], reservation_id=in_office.pk)), 404)


def test_the_list_is_newest_first_by_creation_time(api, world):
    w = world
    later, earlier = reserve(w, quantity=1), reserve(w, quantity=1)
    Reservation.objects.filter(pk=earlier.pk).update(created_at=later.created_at - timedelta(days=1))
    api.force_login(w["admin"])
    body = api.get(url("api_reservations", w["account"]), {"page_size": 1}).json()
    assert [r["id"] for r in body["results"]] == [later.pk]
    assert [r["id"] for r in api.get(body["next"]).json()["results"]] == [earlier.pk]


def count_queries(api, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert api.get(path).status_code == 200
    return len(queries)


def test_the_list_costs_the_same_queries_for_one_or_many_reservations(api, world):
    w = world
    reserve(w, quantity=1)
    api.force_login(w["admin"])
    path = url("api_reservations", w["account"])
    one = count_queries(api, path)
    for _ in range(5):
        reserve(w, quantity=1)
    reserve(w, va=w["office"], quantity=1)
    assert count_queries(api, path) == one
    assert len(api.get(path).json()["results"]) == 7


# --- Updating and releasing -----------------------------------------------------------------------------


def test_an_update_issues_a_new_authorization_code(api, world):
    w = world
    made = reserve(w, quantity=2)
    api.force_login(w["plant_user"])
    response = api.post(
        url("api_reservation_update", w["account"], reservation_id=made.pk),
        {"licenses": [{"license_id": w["dna"].pk, "quantity": 5}, {"license_id": w["network"].pk, "quantity": 1}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sequence"] == 2 and body["authorization_code"] != made.authorization_code
    assert balance(w["plant"], w["dna"]).reserved == 5 and balance(w["plant"], w["network"]).reserved == 1
    # The same again changes nothing: the service says so.
    response = api.post(
        url("api_reservation_update", w["account"], reservation_id=made.pk),
        {"licenses": [{"license_id": w["dna"].pk, "quantity": 5}, {"license_id": w["network"].pk, "quantity": 1}]},
        format="json",
    )
    assert_error(response, 400)
    assert_error(
        api.post(url("api_reservation_update", w["account"], reservation_id=made.pk), {}, format="json"), 400, "invalid"
    )
    api.force_login(w["viewer"])
    response = api.post(
        url("api_reservation_update", w["account"], reservation_id=made.pk),
        {"licenses": [{"license_id": w["dna"].pk, "quantity": 1}]},
        format="json",
    )
    assert_error(response, 403)
    assert balance(w["plant"], w["dna"]).reserved == 5
    assert_ledger_consistent()


def test_release_with_the_devices_return_code(api, world):
    w = world
    made = reserve(w, quantity=2)
    release = url("api_reservation_release", w["account"], reservation_id=made.pk)
    api.force_login(w["plant_user"])
    response = api.post(release, {"return_code": "RT-NOT-A-CODE"}, format="json")
    assert_error(response, 400)
    assert "return_code" in response.json()["fields"]
    assert_error(api.post(release, {}, format="json"), 400, "invalid")
    response = api.post(release, {"return_code": return_code(made.pk)}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "released" and response.json()["released_without_code"] is False
    assert balance(w["plant"], w["dna"]).reserved == 0
    assert_error(api.post(release, {"return_code": return_code(made.pk)}, format="json"), 400)
    assert_ledger_consistent()


def test_only_admins_release_without_a_code(api, world):
    w = world
    made = reserve(w, quantity=2)
    release = url("api_reservation_release", w["account"], reservation_id=made.pk)
    api.force_login(w["plant_user"])
    assert_error(api.post(release, {"without_code": True}, format="json"), 403)
    assert Reservation.objects.get(pk=made.pk).status == "active"
    api.force_login(w["admin"])
    response = api.post(release, {"without_code": True}, format="json")
    assert response.status_code == 200
    assert response.json()["released_without_code"] is True
    assert balance(w["plant"], w["dna"]).reserved == 0


def test_actions_on_another_tenants_reservation_are_404(api, world):
    w = world
    made = reserve(w)
    api.force_login(w["other"].created_by)
    assert_error(api.get(url("api_reservations", w["account"])), 404)
    for name, body in (
        ("api_reservation_update", {"licenses": [{"license_id": w["dna"].pk, "quantity": 1}]}),
        ("api_reservation_release", {"without_code": True}),
        ("api_reservation_rehost", {"request_code": request_code()}),
    ):
        assert_error(api.post(url(name, w["account"], reservation_id=made.pk), body, format="json"), 404)
        assert_error(api.post(url(name, w["other"], reservation_id=made.pk), body, format="json"), 404)
    assert Reservation.objects.get(pk=made.pk).status == "active"


def test_rehosting_moves_the_licenses_to_the_replacement_device(api, world):
    w = world
    made = reserve(w, quantity=2, serial="FOCFAILED01")
    rehost = url("api_reservation_rehost", w["account"], reservation_id=made.pk)
    api.force_login(w["viewer"])
    assert_error(api.post(rehost, {"request_code": request_code(serial="FOCNEW0001")}, format="json"), 403)
    api.force_login(w["plant_user"])
    assert_error(api.post(rehost, {}, format="json"), 400, "invalid")
    response = api.post(rehost, {"request_code": request_code(serial="FOCFAILED01")}, format="json")
    assert_error(response, 400)
    assert "request_code" in response.json()["fields"]
    response = api.post(rehost, {"request_code": request_code(serial="FOCNEW0001")}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["product_instance"]["serial_number"] == "FOCNEW0001" and body["sequence"] == 1
    old = Reservation.objects.get(pk=made.pk)
    assert old.status == "rehosted" and old.replaced_by_id == body["id"]
    assert balance(w["plant"], w["dna"]).reserved == 2
    assert_ledger_consistent()
