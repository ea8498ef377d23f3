"""SLR/PLR reservations on the Cisco-compatible paths (CSSM_API.md §2 "SLR / PLR reservation")."""

from __future__ import annotations

import re

import pytest

from licensing import reservation_codes
from licensing.models import LicenseBalance, Reservation
from licensing.services import authorization_signature
from tests.licensing.helpers import deposit, make_license

from .helpers import APX, call, error_json, has_keys, ok_json
from .tokens import token_client

pytestmark = pytest.mark.django_db
ENTRY_KEYS = ("reservationCode", "status", "statusMessage", "authorizationCode")
PLR_KEY = re.compile(r"^[A-Za-z0-9]{6}(-[A-Za-z0-9]{6}){5}$")


def reserve_path(version: str = "v1", va: str = "VA1", domain: str = "acme.example.com") -> str:
    return f"{version}/accounts/{domain}/virtual-accounts/{va}/reserve-licenses"


@pytest.fixture
def enabled(estate):
    estate.account.license_reservation_enabled = True
    estate.account.save(update_fields=["license_reservation_enabled"])
    return estate


def code(serial: str, pid: str = "C9300-48P-4X") -> str:
    return reservation_codes.make_request_code(pid=pid, serial_number=serial)


def reserved(estate, license) -> int:
    return LicenseBalance.objects.get(virtual_account=estate.va1, license=license).reserved


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize(("quantity", "precedence"), [(1, "LONGEST_TERM_FIRST"), ("1", None), ("2", None), (2.0, None)])
def test_specific_reservation_answers_the_signed_code(enabled, version, quantity, precedence):
    request_code = code("XDC240312LB5")
    line = {"entitlementTag": enabled.perpetual.tag, "quantity": quantity}
    if precedence:
        line["precedence"] = precedence
    entry = {"reservationCode": request_code, "reservationType": "SPECIFIC", "licenses": [line]}
    body = {"reservationRequests": [entry]}
    doc = ok_json(
        call(token_client(enabled.account, "user"), "POST", reserve_path(version), body),
        "status",
        "statusMessage",
        "authorizationCodes",
    )
    assert doc["status"] == "SUCCESS" and doc["statusMessage"] == ""
    (entry,) = doc["authorizationCodes"]
    has_keys(entry, ENTRY_KEYS)
    assert entry["reservationCode"] == request_code and entry["status"] == "SUCCESS"
    assert not entry["authorizationCode"].startswith("<smartLicense>")
    payload = reservation_codes.verify_authorization(entry["authorizationCode"])
    assert payload["request_code"] == request_code
    assert payload["licenses"][0]["tag"] == enabled.perpetual.tag
    assert reserved(enabled, enabled.perpetual) == int(float(quantity))


def test_universal_reservation_answers_one_entry_with_the_short_key(enabled):
    request_code = code("FCW2125L0BH", pid="C9300-24T")
    body = {"reservationRequests": [{"reservationCode": request_code, "reservationType": "UNIVERSAL"}]}
    doc = ok_json(call(token_client(enabled.account, "user"), "POST", reserve_path("v2"), body), "authorizationCodes")
    assert doc["status"] == "SUCCESS"
    assert len(doc["authorizationCodes"]) == 1
    entry = doc["authorizationCodes"][0]
    assert entry["reservationCode"] == request_code and entry["status"] == "SUCCESS"
    assert PLR_KEY.fullmatch(entry["authorizationCode"])
    reservation = Reservation.objects.get(request_code=request_code)
    assert reservation.reservation_type == "universal"
    assert entry["authorizationCode"] == reservation_codes.universal_authorization_key(
        authorization_signature(reservation)
    )


def test_apx_reserve_path_takes_the_same_body(enabled):
    request_code = code("FCW2125L0BX", pid="C9300-24T")
    body = {"reservationRequests": [{"reservationCode": request_code, "reservationType": "UNIVERSAL"}]}
    path = APX + "licensing/v2/account/acme.example.com/virtual-account/VA1/licenses/reserve"
    doc = ok_json(call(token_client(enabled.account, "user"), "POST", path, body), "status", "authorizationCodes")
    assert doc["authorizationCodes"][0]["status"] == "SUCCESS"


def test_errors_are_http_200_entries_with_the_reason_and_write_nothing(enabled):
    good = code("GOOD0001")
    body = {
        "reservationRequests": [
            {"reservationCode": "not-a-code", "reservationType": "SPECIFIC",
             "licenses": [{"entitlementTag": enabled.perpetual.tag, "quantity": 1}]},
            {"reservationCode": code("TOOMANY1"), "reservationType": "SPECIFIC",
             "licenses": [{"entitlementTag": enabled.perpetual.tag, "quantity": "500"}]},
            {"reservationCode": code("UNKNOWN1"), "reservationType": "SPECIFIC",
             "licenses": [{"entitlementTag": "regid.no.such.tag", "quantity": 1}]},
            {"reservationCode": code("NOTYPE01"), "reservationType": "SOMETHING"},
            {"reservationCode": good, "reservationType": "SPECIFIC",
             "licenses": [{"entitlementTag": enabled.perpetual.tag, "quantity": 1}]},
        ]
    }  # fmt: skip
    doc = ok_json(call(token_client(enabled.account, "user"), "POST", reserve_path(), body), "authorizationCodes")
    assert doc["status"] == "ERROR" and "4 of 5" in doc["statusMessage"]
    entries = doc["authorizationCodes"]
    assert [e["status"] for e in entries] == ["ERROR"] * 4 + ["SUCCESS"]
    assert [e["reservationCode"] for e in entries] == [r["reservationCode"] for r in body["reservationRequests"]]
    assert "request code" in entries[0]["statusMessage"]
    assert "available" in entries[1]["statusMessage"]
    assert "regid.no.such.tag" in entries[2]["statusMessage"]
    assert "SPECIFIC or UNIVERSAL" in entries[3]["statusMessage"]
    assert all(e["authorizationCode"] is None for e in entries[:4])
    assert list(Reservation.objects.values_list("request_code", flat=True)) == [good]
    assert reserved(enabled, enabled.perpetual) == 1


def test_reservation_disabled_is_an_error_entry(estate):
    body = {"reservationRequests": [{"reservationCode": code("OFF00001"), "reservationType": "UNIVERSAL"}]}
    doc = ok_json(call(token_client(estate.account, "user"), "POST", reserve_path(), body), "authorizationCodes")
    assert doc["status"] == "ERROR"
    assert "not enabled" in doc["authorizationCodes"][0]["statusMessage"]
    assert not Reservation.objects.exists()


@pytest.mark.parametrize("raw", ["null", "{}", '{"reservationRequests": []}', '{"reservationRequests": "x"}'])
def test_a_body_without_requests_is_an_error_answer(enabled, raw):
    doc = ok_json(call(token_client(enabled.account, "user"), "POST", reserve_path(), raw=raw), "authorizationCodes")
    assert doc["status"] == "ERROR" and doc["statusMessage"] and doc["authorizationCodes"] == []


APX_RESERVE = APX + "licensing/v2/account/{d}/virtual-account/{va}/licenses/reserve"


@pytest.mark.parametrize(
    "template",
    ["v1/accounts/{d}/virtual-accounts/{va}/reserve-licenses", "v2/accounts/{d}/virtual-accounts/{va}/reserve-licenses",
     APX_RESERVE],
)  # fmt: skip
def test_rights_and_tenants(enabled, template):
    body = {"reservationRequests": [{"reservationCode": code("RIGHTS01"), "reservationType": "UNIVERSAL"}]}
    user = token_client(enabled.account, "user")
    error_json(call(token_client(enabled.account, "viewer"), "POST", template.format(d="acme.example.com", va="VA1"),
                    body), 403)  # fmt: skip
    error_json(call(user, "POST", template.format(d="globex.example.org", va="Secret VA"), body), 404)
    error_json(call(user, "POST", template.format(d="acme.example.com", va="Secret VA"), body), 404)
    error_json(call(user, "POST", template.format(d="acme.example.com", va="No Such VA"), body), 404)
    # A User of Lab 02 only: VA1 does not exist for them.
    lab_only = token_client(enabled.account, "user", enabled.va2)
    error_json(call(lab_only, "POST", template.format(d="acme.example.com", va="VA1"), body), 404)
    assert not Reservation.objects.exists()


def test_search_slr_details_lists_a_family_entitlements(enabled):
    hsec = make_license("C9300 HSECK9", enforcement="export_controlled")
    deposit(enabled.va1, hsec, 1)
    other = make_license("ISR 4451 Security", family="ISR 4451")
    body = {"softwareTags": ["Catalyst 9300", "C9300-48P", "regid.unknown"]}
    doc = ok_json(
        call(token_client(enabled.account, "viewer"), "POST", APX + "licensing/v1/search-slr-details", body), "data"
    )
    assert doc["status"] == "SUCCESS"
    by_tag = {item["softwareTag"]: item for item in doc["data"]}
    assert set(by_tag) == set(body["softwareTags"])
    for item in doc["data"]:
        has_keys(item, ("softwareTag", "entitlements"))
        for entitlement in item["entitlements"]:
            has_keys(entitlement, ("entitlementTag", "type"))
    tags = {e["entitlementTag"] for e in by_tag["Catalyst 9300"]["entitlements"]}
    assert {enabled.perpetual.tag, enabled.term.tag, hsec.tag} <= tags and other.tag not in tags
    assert {e["entitlementTag"] for e in by_tag["C9300-48P"]["entitlements"]} == tags
    assert by_tag["regid.unknown"]["entitlements"] == []
    error_json(
        call(token_client(enabled.account, "viewer"), "POST", APX + "licensing/v1/search-slr-details", raw="null"), 400
    )
