"""Counts are bounded: at most MAX_INSTANCE_USAGE of a license per device, MAX_ACCOUNT_USAGE in use and
reserved per license in a Smart Account. Past either, every path answers a clear refusal (400/409), never
a 500, on SQLite and PostgreSQL; the ledger's sums are 64-bit."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.test import Client
from django.utils import timezone

from licensing import ledger
from licensing.limits import (
    MAX_ACCOUNT_USAGE,
    MAX_INSTANCE_USAGE,
    MAX_LICENSES_PER_ACCOUNT,
    MAX_LICENSES_PER_UNIT,
    MAX_LINE_UNITS,
)
from licensing.models import LicenseAccountTotal, LicenseBalance, ProductInstance, ProductInstanceUsage, Reservation
from licensing.services import register_product_instance, reserve_licenses
from policy import formats
from policy.models import UsageReport
from tests.factories import default_va, make_va
from tests.policy.helpers import TRUST, ensure_policy_seed_rows, make_instance, report

from .helpers import assert_ledger_clean, deposit, make_license, make_order, make_sku, token_for
from .workflows.helpers import enable_reservations, request_code

pytestmark = pytest.mark.django_db
REGISTER, REPORTS = "/api/v1/devices/register/", "/api/v1/usage/reports/"


@pytest.fixture
def device_client():
    return Client(enforce_csrf_checks=True)


def post(client, url, body):
    return client.post(url, data=json.dumps(body), content_type="application/json")


def in_use_elsewhere(va, lic, amount: int) -> None:
    """As if devices of `va` used `amount` of `lic`: the balance and account total the ledger keeps."""
    with transaction.atomic():
        ledger.lock_balances([(va.smart_account_id, va.pk, lic.pk)])
    LicenseBalance.objects.filter(virtual_account=va, license=lic).update(in_use=F("in_use") + amount)
    LicenseAccountTotal.objects.filter(smart_account_id=va.smart_account_id, license=lic).update(
        in_use=F("in_use") + amount
    )


def account_in_use(account, lic) -> int:
    total = LicenseAccountTotal.objects.filter(smart_account=account, license=lic).first()
    return total.in_use + total.reserved if total else 0


def test_the_schema_the_serializer_and_the_limits_say_the_same_maximum():
    from licensing.api.views import RegistrationRequest

    schema = json.loads(formats.schema_text())
    assert schema["properties"]["measurements"]["items"]["properties"]["count"]["maximum"] == MAX_INSTANCE_USAGE
    change = schema["$defs"]["event"]["allOf"][1]["then"]["properties"]
    assert change["from_count"]["maximum"] == change["to_count"]["maximum"] == MAX_INSTANCE_USAGE
    assert RegistrationRequest().fields["usage"].child.max_value == MAX_INSTANCE_USAGE


# --- One device -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [2_147_483_572, 2**70, MAX_INSTANCE_USAGE + 1])
def test_a_device_registered_with_more_than_the_maximum_is_a_400(account, device_client, count):
    va = make_va(account, "Campus")
    lic = make_license()
    token = token_for(va)
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", "usage": {lic.tag: count}}
    response = post(device_client, REGISTER, body)
    assert response.status_code == 400, response.content
    answer = response.json()
    assert answer["code"] == "invalid" and "usage" in answer["fields"]
    with pytest.raises(ValidationError) as raised:
        register_product_instance(token=token.token, pid="C9300-48P", serial_number="FOC1", usage={lic.tag: count})
    assert f"{MAX_INSTANCE_USAGE:,}" in raised.value.message_dict["usage"][0]
    assert not ProductInstance.objects.exists() and account_in_use(account, lic) == 0
    # Every registration of that license elsewhere in the account still works.
    elsewhere = token_for(default_va(account)).token
    other = post(device_client, REGISTER, {**body, "token": elsewhere, "usage": {lic.tag: 3}})
    assert other.status_code == 201 and account_in_use(account, lic) == 3


def test_a_device_may_use_exactly_the_maximum(account, device_client):
    lic = make_license()
    body = {"token": token_for(default_va(account)).token, "pid": "P1", "serial_number": "S1",
            "usage": {lic.tag: MAX_INSTANCE_USAGE}}  # fmt: skip
    assert post(device_client, REGISTER, body).status_code == 201
    assert ProductInstanceUsage.objects.get().count == MAX_INSTANCE_USAGE
    assert_ledger_clean()


@pytest.mark.parametrize("count", [MAX_INSTANCE_USAGE + 1, 2**70])
def test_a_report_counting_more_than_the_maximum_is_refused_beside_a_good_one(account, device_client, count):
    ensure_policy_seed_rows()
    lic = make_license()
    va = default_va(account)
    one, two = (make_instance(va, usage={lic: 1}, trust_code=TRUST) for _ in range(2))
    now = timezone.now()
    too_many = report(one, generated_at=now, usage={lic: count})
    good = report(two, generated_at=now, usage={lic: 2})
    single = post(device_client, REPORTS, too_many)
    assert single.status_code == 400 and single.json()["code"] == "schema"
    results = post(device_client, REPORTS, [too_many, good]).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [("refused", "schema"), ("accepted", None)]
    assert account_in_use(account, lic) == 3


def test_the_ledger_refuses_a_device_count_past_the_maximum_whoever_calls_it(account):
    lic = make_license()
    device = make_instance(default_va(account))
    with pytest.raises(ValidationError) as raised, transaction.atomic():
        ledger.set_instance_usage(device, {lic.pk: MAX_INSTANCE_USAGE + 1})
    assert raised.value.code == "instance_usage_limit"
    assert not ProductInstanceUsage.objects.exists()


# --- One license in one account ---------------------------------------------------------------------------


def test_a_registration_past_the_accounts_maximum_is_a_409_and_up_to_it_is_accepted(account, device_client):
    lic = make_license(name="Catalyst 9300 Network Advantage")
    in_use_elsewhere(make_va(account, "Elsewhere"), lic, MAX_ACCOUNT_USAGE - 10)
    token = token_for(make_va(account, "Campus"), max_uses=5)
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", "usage": {lic.tag: 11}}
    response = post(device_client, REGISTER, body)
    assert response.status_code == 409, response.content
    answer = response.json()
    assert answer["code"] == "account_usage_limit"
    assert "Catalyst 9300 Network Advantage" in answer["detail"] and f"{MAX_ACCOUNT_USAGE:,}" in answer["detail"]
    assert not ProductInstance.objects.exists() and account_in_use(account, lic) == MAX_ACCOUNT_USAGE - 10
    assert post(device_client, REGISTER, {**body, "usage": {lic.tag: 10}}).status_code == 201
    assert account_in_use(account, lic) == MAX_ACCOUNT_USAGE
    # Less is always possible: the device gives some back.
    assert post(device_client, REGISTER, {**body, "usage": {lic.tag: 4}}).status_code == 200
    assert account_in_use(account, lic) == MAX_ACCOUNT_USAGE - 6


def test_a_report_past_the_accounts_maximum_is_refused_alone(account, device_client):
    ensure_policy_seed_rows()
    lic, other_lic = make_license(), make_license()
    va = default_va(account)
    in_use_elsewhere(make_va(account, "Elsewhere"), lic, MAX_ACCOUNT_USAGE - 5)
    one, two = (make_instance(va, usage={lic: 1}, trust_code=TRUST) for _ in range(2))
    now = timezone.now()
    past = report(one, generated_at=now, usage={lic: 5})  # +4 of the 3 left
    within = report(two, generated_at=now, usage={lic: 2, other_lic: 7})  # +1, and another license
    after = report(one, generated_at=now + timedelta(seconds=1), usage={lic: 3})  # +2 of the 2 left
    single = post(device_client, REPORTS, past)
    assert single.status_code == 409 and single.json()["code"] == "account_usage_limit"
    results = post(device_client, REPORTS, [past, within, after]).json()["results"]
    assert [(r["status"], r.get("code")) for r in results] == [
        ("refused", "account_usage_limit"), ("accepted", None), ("accepted", None)
    ]  # fmt: skip
    assert account_in_use(account, lic) == MAX_ACCOUNT_USAGE and account_in_use(account, other_lic) == 7
    assert UsageReport.objects.count() == 2


def test_a_reservation_past_the_device_or_the_account_maximum_is_refused(account):
    enable_reservations(account)
    va = make_va(account, "Plant")
    lic = make_license()
    deposit(va, lic, MAX_INSTANCE_USAGE)  # one order line holds at most MAX_LINE_UNITS units
    deposit(va, lic, 10)
    with pytest.raises(ValidationError) as raised:
        reserve_licenses(actor=account.created_by, virtual_account=va, request_code=request_code(),
                         reservation_type="specific", licenses={lic: MAX_INSTANCE_USAGE + 1})  # fmt: skip
    assert raised.value.code == "instance_usage_limit" and not Reservation.objects.exists()
    in_use_elsewhere(make_va(account, "Elsewhere"), lic, MAX_ACCOUNT_USAGE - 3)
    with pytest.raises(ValidationError) as raised:
        reserve_licenses(actor=account.created_by, virtual_account=va, request_code=request_code(),
                         reservation_type="specific", licenses={lic: 4})  # fmt: skip
    assert raised.value.code == "account_usage_limit" and not Reservation.objects.exists()
    reserve_licenses(actor=account.created_by, virtual_account=va, request_code=request_code(),
                     reservation_type="specific", licenses={lic: 3})  # fmt: skip
    assert account_in_use(account, lic) == MAX_ACCOUNT_USAGE


# --- Totals at the account maximum ------------------------------------------------------------------------


def test_purchased_totals_up_to_the_account_maximum_are_kept(account, client):
    lic = make_license(name="Meraki MR Enterprise")
    va = default_va(account)
    sku = make_sku(lic, per_unit=MAX_LICENSES_PER_UNIT)
    make_order(account, [(sku, MAX_LINE_UNITS // 2)], va=va)
    make_order(account, [(sku, MAX_LINE_UNITS // 2)], va=make_va(account, "Branches"))
    assert LicenseBalance.objects.get(virtual_account=va, license=lic).purchased == MAX_LICENSES_PER_ACCOUNT // 2
    assert LicenseAccountTotal.objects.get(smart_account=account, license=lic).purchased == MAX_LICENSES_PER_ACCOUNT
    assert_ledger_clean()
    client.force_login(account.created_by)
    page = client.get(f"/accounts/{account.pk}/licenses/")
    assert page.status_code == 200 and f">{MAX_LICENSES_PER_ACCOUNT}<" in page.content.decode()
