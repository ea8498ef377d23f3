"""Device-led conversion (`v1/accounts/{d}/dlc_convert`) as PAK conversion."""

from __future__ import annotations

import pytest

from licensing.models import LicenseBalance, PakLine
from tests.licensing.helpers import make_license, make_sku
from tests.licensing.workflows.helpers import make_pak

from .helpers import call, error_json, has_keys, ok_json
from .tokens import token_client

pytestmark = pytest.mark.django_db
DLC = "v1/accounts/acme.example.com/dlc_convert"


def dlc_body(*lines, va="VA1", pid="ISR4451-X/K9", serial="FOC1234567A"):
    return {
        "virtualAccounts": [
            {
                "name": va,
                "dlcRequests": [
                    {
                        "sudi": {"udiPid": pid, "udiSerialNumber": serial},
                        "softwareTagIdentifier": "regid.2014-05.com.cisco.ISR4400,1.0_abc",
                        "conversionLines": [
                            {"conversionType": "PAK", "conversionEncodingType": "TEXT", "conversionString": text,
                             "conversionCount": count}
                            for text, count in lines
                        ],
                    }
                ],
            }
        ]
    }  # fmt: skip


@pytest.fixture
def paks(estate):
    security = make_license("ISR 4451 Security", family="ISR 4451")
    appx = make_license("ISR 4451 AppX", family="ISR 4451")
    sec_sku, app_sku = make_sku(security, code="FL-44-SEC-K9"), make_sku(appx, code="FL-44-APP-K9")
    single = make_pak(estate.account, [(sec_sku, 3)], number="PAK-SINGLE-1")
    double = make_pak(estate.account, [(sec_sku, 2), (app_sku, 2)], number="PAK-DOUBLE-1")
    foreign = make_pak(estate.other, [(sec_sku, 5)], number="PAK-FOREIGN-1")
    return security, appx, single, double, foreign


def held(va, license) -> int:
    row = LicenseBalance.objects.filter(virtual_account=va, license=license).first()
    return row.purchased if row else 0


def test_dlc_convert_converts_the_named_pak_units(estate, paks):
    security, appx, *_ = paks
    body = dlc_body(("pak-single-1", 2), ("PAK-DOUBLE-1:FL-44-APP-K9", "1"))
    doc = ok_json(call(token_client(estate.account, "user"), "POST", DLC, body), "devices")
    (device,) = doc["devices"]
    has_keys(device, ("sudi", "conversionStatus"))
    assert device["sudi"]["udiPid"] == "ISR4451-X/K9"
    assert device["conversionStatus"] == "IN_PROGRESS", device
    assert held(estate.va1, security) == 2 and held(estate.va1, appx) == 1


def test_dlc_convert_failures_say_why_and_convert_nothing_of_that_device(estate, paks):
    security, appx, *_ = paks
    client = token_client(estate.account, "user")
    for lines, reason in (
        ([("PAK-SINGLE-1", 1), ("PAK-NOSUCH-1", 1)], "No PAK with that number"),
        ([("PAK-FOREIGN-1", 1)], "No PAK with that number"),
        ([("PAK-DOUBLE-1", 1)], "PAK-DOUBLE-1:SKU"),
        ([("PAK-SINGLE-1", 4)], "left to convert"),
        ([("PAK-SINGLE-1:NOT-ON-IT", 1)], "not on PAK"),
        ([("PAK-SINGLE-1", "two")], "conversionCount"),
    ):
        doc = ok_json(call(client, "POST", DLC, dlc_body(*lines)), "devices")
        (device,) = doc["devices"]
        assert device["conversionStatus"] == "CONVERT_FAILED", (lines, device)
        assert reason in device["statusMessage"], (lines, device)
    assert held(estate.va1, security) == 0 and held(estate.va1, appx) == 0
    assert sum(PakLine.objects.values_list("converted_quantity", flat=True)) == 0


def test_dlc_convert_rights_tenants_and_bad_bodies(estate, paks):
    body = dlc_body(("PAK-SINGLE-1", 1))
    error_json(call(token_client(estate.account, "viewer"), "POST", DLC, body), 403)
    error_json(
        call(token_client(estate.account, "user"), "POST", "v1/accounts/globex.example.org/dlc_convert", body), 404
    )
    error_json(
        call(token_client(estate.account, "user"), "POST", DLC, dlc_body(("PAK-SINGLE-1", 1), va="Secret VA")), 404
    )
    for raw in ("null", '{"virtualAccounts": [{"name": "VA1"}]}'):
        error_json(call(token_client(estate.account, "user"), "POST", DLC, raw=raw), 400)
    assert sum(PakLine.objects.values_list("converted_quantity", flat=True)) == 0
