"""Devices (product instances) on the Cisco-compatible paths (CSSM_API.md §2 "Devices")."""

from __future__ import annotations

import pytest

from licensing.models import ProductInstance
from tests.factories import grant, make_user
from tests.licensing.helpers import balance, register

from .helpers import APX, call, client_for, error_json, has_keys, ok_json

pytestmark = pytest.mark.django_db
DEVICE_KEYS = (
    "licenseUsage", "hostName", "sudi", "displayName", "registrationDate", "productTagName", "virtualAccount",
    "productName", "productDescription", "productType", "status", "lastContactDate",
)  # fmt: skip
SUDI_KEYS = ("macAddress", "suvi", "hostIdentifier", "udiSerialNumber", "udiPid", "uuid", "udiVid")
VA1_DEVICES = "v1/accounts/acme.example.com/virtual-accounts/VA1/devices"


def _sudi(device: ProductInstance, **extra) -> dict:
    return {"suvi": None, "uuid": "", "hostIdentifier": None, "udiPid": device.pid,
            "udiSerialNumber": device.serial_number, "udiVid": None, "macAddress": None, **extra}  # fmt: skip


@pytest.mark.parametrize(
    "path",
    [
        "//services/api/smart-accounts-and-licensing/" + VA1_DEVICES,  # abhaskar's hard-coded `//`
        "/services/api/smart-accounts-and-licensing/" + VA1_DEVICES + "/",
    ],
)
def test_va_devices(estate, path):
    doc = ok_json(call(client_for(estate.viewer), "GET", path, raw="null"), "totalRecords", "devices")
    assert doc["totalRecords"] == 1
    (device,) = doc["devices"]
    has_keys(device, DEVICE_KEYS)
    assert device["productTagName"] == ""
    assert device["sudi"]["udiPid"] == "C9300-48P" and device["sudi"]["udiSerialNumber"] == "FOC1234X0AB"


def test_account_devices_every_documented_key(estate):
    register(estate.va2, serial="FOC999", hostname="lab-1")
    path = "/services/api/services/api/smart-accounts-and-licensing/v1/accounts/acme.example.com/devices"
    doc = ok_json(
        call(client_for(estate.viewer), "POST", path, {"virtualAccounts": ["VA1"], "limit": 10, "offset": 0}),
        "status", "statusMessage", "totalRecords", "devices",
    )  # fmt: skip
    assert doc["status"] == "SUCCESS" and doc["totalRecords"] == 1
    (device,) = doc["devices"]
    has_keys(device, DEVICE_KEYS)
    has_keys(device["sudi"], SUDI_KEYS)
    assert device["sudi"]["macAddress"] is None and device["sudi"]["udiVid"] is None
    assert device["displayName"] == "UDI_PID:C9300-48P; UDI_SN:FOC1234X0AB; "
    assert device["licenseUsage"] == [{"license": "C9300 Network Advantage", "quantity": 2}]
    assert device["hostName"] == "edge-1" and device["virtualAccount"] == "VA1"
    assert device["status"] == "In Compliance" and device["registrationDate"].endswith("Z")
    every = ok_json(call(client_for(estate.viewer), "POST", path, {"virtualAccounts": []}))
    assert every["totalRecords"] == 2
    paged = ok_json(call(client_for(estate.viewer), "POST", path, {"virtualAccounts": []}, query="limit=1&offset=1"))
    assert paged["totalRecords"] == 2 and len(paged["devices"]) == 1


def test_device_list_query_count_does_not_grow(estate, django_assert_max_num_queries):
    path = "v1/accounts/acme.example.com/devices"
    client = client_for(estate.viewer)
    with django_assert_max_num_queries(10) as few:
        ok_json(call(client, "POST", path, {"virtualAccounts": []}))
    for n in range(6):
        register(estate.va2 if n % 2 else estate.va1, {estate.perpetual: 1}, serial=f"FOCN{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert ok_json(call(client, "POST", path, {"virtualAccounts": []}))["totalRecords"] == 7


def test_transfer_devices_by_sudi(estate):
    body = {
        "productInstances": [{"sudi": _sudi(estate.device), "productTagName": "", "targetVirtualAccount": "Lab 02"}]
    }
    transfer = "v1/accounts/acme.example.com/virtual-accounts/VA1/devices/transfer"
    doc = ok_json(call(client_for(estate.user), "POST", transfer, body), "status", "productInstances")
    assert doc["status"] == "SUCCESS"
    estate.device.refresh_from_db()
    assert estate.device.virtual_account == estate.va2
    assert balance(estate.va2, estate.perpetual).in_use == 2 and balance(estate.va1, estate.perpetual).in_use == 0
    # abhaskar's check: the device is listed in the target VA after the transfer, not in the source.
    target = ok_json(
        call(client_for(estate.user), "GET", "v1/accounts/acme.example.com/virtual-accounts/Lab%2002/devices")
    )
    assert [d["sudi"]["udiSerialNumber"] for d in target["devices"]] == ["FOC1234X0AB"]
    assert ok_json(call(client_for(estate.user), "GET", VA1_DEVICES))["totalRecords"] == 0


def test_transfer_refusals_move_nothing(estate):
    second = register(estate.va1, serial="FOC2ND")
    transfer = "v1/accounts/acme.example.com/virtual-accounts/VA1/devices/transfer"
    good = {"sudi": _sudi(estate.device), "targetVirtualAccount": "Lab 02"}
    client = client_for(estate.user)
    # One device unknown in the VA: 404, the other stays.
    missing = {"sudi": _sudi(second, udiSerialNumber="NOPE"), "targetVirtualAccount": "Lab 02"}
    error_json(call(client, "POST", transfer, {"productInstances": [good, missing]}), 404)
    error_json(call(client, "POST", transfer, {"productInstances": [good, {"sudi": {"udiPid": "X"}}]}), 400)
    error_json(
        call(client, "POST", transfer, {"productInstances": [dict(good, targetVirtualAccount="Secret VA")]}), 404
    )
    error_json(call(client, "POST", transfer, raw="null"), 400)
    error_json(call(client_for(estate.viewer), "POST", transfer, {"productInstances": [good]}), 403)
    error_json(
        call(client, "POST", "v1/accounts/globex.example.org/virtual-accounts/Secret%20VA/devices/transfer",
             {"productInstances": [good]}),
        404,
    )  # fmt: skip
    # A User of VA1 who only views Lab 02 may not move devices there.
    eli = grant(make_user("eli@acme.example.com"), "user", va=estate.va1)
    grant(eli, "viewer", va=estate.va2)
    error_json(call(client_for(eli), "POST", transfer, {"productInstances": [good]}), 403)
    assert set(ProductInstance.objects.values_list("virtual_account", flat=True)) == {estate.va1.pk}


def test_remove_devices(estate):
    remove = "v1/accounts/acme.example.com/virtual-accounts/VA1/devices/remove"
    body = {"productInstances": [{"sudi": _sudi(estate.device), "productType": "C9300"}]}
    error_json(call(client_for(estate.viewer), "POST", remove, body), 403)
    doc = ok_json(call(client_for(estate.user), "POST", remove, body), "status", "productInstances")
    assert doc["productInstances"][0]["status"] == "SUCCESS"
    estate.device.refresh_from_db()
    assert estate.device.status == ProductInstance.Status.REMOVED
    assert balance(estate.va1, estate.perpetual).in_use == 0
    error_json(call(client_for(estate.user), "POST", remove, body), 404)  # no longer listed in the VA


def test_apx_devices(estate):
    register(estate.va2, serial="FOCLAB", hostname="lab-1")
    client = client_for(estate.viewer)
    path = APX + "licensing/v2/accounts/acme.example.com/devices"
    doc = ok_json(call(client, "GET", path, query="virtualAccountName=VA1&instanceName=&limit=50&offset=0"),
                  "status", "devices")  # fmt: skip
    (device,) = doc["devices"]
    has_keys(device, ("instanceName", "productTagName", "sudi"))
    assert device["instanceName"] == "edge-1" and device["sudi"] == {
        "udiPid": "C9300-48P",
        "udiSerialNumber": "FOC1234X0AB",
    }
    by_name = ok_json(call(client, "GET", path, query="instanceName=lab-1"))
    assert [d["sudi"]["udiSerialNumber"] for d in by_name["devices"]] == ["FOCLAB"]
    error_json(call(client, "GET", path, query="virtualAccountName=Secret%20VA"), 404)
    error_json(call(client, "GET", APX + "licensing/v2/accounts/globex.example.org/devices"), 404)
