"""Registration tokens and device registration: every refusal with its own message, re-registration,
trust codes, and the device endpoint (JSON over HTTP)."""

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from licensing.models import LicenseBalance, ProductInstance, RegistrationToken
from licensing.services import (
    create_registration_token,
    register_product_instance,
    remove_product_instance,
    revoke_registration_token,
)
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import assert_ledger_clean, balance, deposit, make_license, register, token_for

pytestmark = pytest.mark.django_db


def expire(token) -> None:
    now = timezone.now()
    RegistrationToken.objects.filter(pk=token.pk).update(
        created_at=now - dt.timedelta(days=31), expires_at=now - dt.timedelta(seconds=1)
    )


def refusal(callable_, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as raised:
        callable_(**kwargs)
    return raised.value


# --- Tokens ----------------------------------------------------------------------------------------------


def test_a_user_creates_a_token_valid_for_the_days_asked(account):
    va = make_va(account, "Campus")
    user = grant(make_user("user@acme.example.com"), "user", account=account)
    token = create_registration_token(
        actor=user, virtual_account=va, description="Rollout", expires_after_days=7, max_uses=3
    )
    assert len(token.token) >= 40 and token.max_uses == 3
    assert abs(token.expires_at - (timezone.now() + dt.timedelta(days=7))) < dt.timedelta(minutes=1)
    event = Event.objects.get(action="token.created")
    assert token.token not in json.dumps(event.details) + event.message  # the secret stays out of the log


@pytest.mark.parametrize("days", [0, 366, -1])
def test_a_token_expires_after_1_to_365_days(account, days):
    error = refusal(
        create_registration_token,
        actor=account.created_by,
        virtual_account=default_va(account),
        expires_after_days=days,
    )
    assert error.message_dict["expires_after_days"] == ["A token expires after 1 to 365 days."]


def test_a_viewer_cannot_create_or_revoke_tokens(account):
    viewer = grant(make_user("viewer@acme.example.com"), "viewer", account=account)
    with pytest.raises(PermissionDenied):
        create_registration_token(actor=viewer, virtual_account=default_va(account))
    token = token_for(default_va(account))
    with pytest.raises(PermissionDenied):
        revoke_registration_token(actor=viewer, token=token)


def test_a_partner_holding_account_has_no_registration_tokens():
    partner = make_account(name="Northwind Holding", domain="northwind.example.com", kind="partner_holding")
    error = refusal(create_registration_token, actor=partner.created_by, virtual_account=default_va(partner))
    assert error.code == "partner_holding"
    assert "licenses cannot be activated there" in error.messages[0]


def test_revoking_a_token_twice_is_refused(account):
    token = token_for(default_va(account))
    revoke_registration_token(actor=account.created_by, token=token)
    assert token.is_revoked and token.status == "Revoked"
    with pytest.raises(ValidationError, match="already revoked"):
        revoke_registration_token(actor=account.created_by, token=token)


# --- Registration ----------------------------------------------------------------------------------------


def test_registering_a_device_creates_an_instance_with_usage_and_a_trust_code(account):
    va = make_va(account, "Campus")
    lic = make_license()
    deposit(va, lic, 10)
    token = token_for(va, max_uses=5)
    instance = register_product_instance(
        token=token.token,
        pid="c9300-48p",
        serial_number=" foc2412x0ab ",
        hostname="sw-01",
        product_family="Catalyst 9300",
        software_version="17.9.4",
        usage={lic.tag: 2},
    )
    assert (instance.pid, instance.serial_number, instance.virtual_account) == ("C9300-48P", "FOC2412X0AB", va)
    assert len(instance.trust_code) == 64 and instance.trust_code_issued_at is not None
    assert instance.first_use_at is not None and instance.status == "active"
    assert balance(va, lic).in_use == 2
    token.refresh_from_db()
    assert token.uses == 1
    assert Event.objects.filter(action="instance.registered", virtual_account=va).exists()
    assert_ledger_clean()


def test_an_unknown_token_is_refused(account):
    assert refusal(register_product_instance, token="nope", pid="A", serial_number="B").code == "token_unknown"


def test_an_expired_token_is_refused(account):
    token = token_for(default_va(account))
    expire(token)
    error = refusal(register_product_instance, token=token.token, pid="A", serial_number="B")
    assert error.code == "token_expired" and "expired on" in error.messages[0]


def test_a_revoked_token_is_refused(account):
    token = token_for(default_va(account))
    revoke_registration_token(actor=account.created_by, token=token)
    error = refusal(register_product_instance, token=token.token, pid="A", serial_number="B")
    assert error.code == "token_revoked" and "was revoked on" in error.messages[0]


def test_a_used_up_token_is_refused(account):
    token = token_for(default_va(account), max_uses=1)
    register_product_instance(token=token.token, pid="A", serial_number="B1")
    error = refusal(register_product_instance, token=token.token, pid="A", serial_number="B2")
    assert error.code == "token_used_up" and "used 1 time, its maximum" in error.messages[0]
    assert ProductInstance.objects.count() == 1


def test_any_token_of_a_partner_holding_account_is_refused():
    partner = make_account(name="Northwind Holding", domain="northwind.example.com", kind="partner_holding")
    # Such a token cannot be made through the services; one made by hand is refused all the same.
    token = RegistrationToken.objects.create(
        virtual_account=default_va(partner),
        token="hand-made-partner-token",
        created_by=partner.created_by,
        expires_at=timezone.now() + dt.timedelta(days=1),
    )
    error = refusal(register_product_instance, token=token.token, pid="A", serial_number="B")
    assert error.code == "partner_holding"
    assert not ProductInstance.objects.exists()


def test_a_token_of_an_account_that_is_not_active_is_refused(account):
    token = token_for(default_va(account))
    account.status = "pending"
    account.save(update_fields=["status"])
    assert refusal(register_product_instance, token=token.token, pid="A", serial_number="B").code == "account_inactive"


def test_export_controlled_licenses_need_a_token_that_allows_them(account):
    va = default_va(account)
    hsec = make_license("ISR 4000 Security (HSECK9)", enforcement="export_controlled")
    deposit(va, hsec, 2)
    plain = token_for(va)
    error = refusal(
        register_product_instance, token=plain.token, pid="ISR4451", serial_number="X1", usage={hsec.tag: 1}
    )
    assert error.code == "export_controlled" and "ISR 4000 Security (HSECK9)" in error.messages[0]
    allowed = token_for(va, export_controlled=True)
    instance = register_product_instance(token=allowed.token, pid="ISR4451", serial_number="X1", usage={hsec.tag: 1})
    assert instance.export_controlled_allowed and balance(va, hsec).in_use == 1


def test_enforced_licenses_cannot_be_used_beyond_what_the_va_holds(account):
    va = default_va(account)
    mrp = make_license("IE 3400 MRP Manager", enforcement="enforced")
    deposit(va, mrp, 1)
    register(va, {mrp: 1})
    error = refusal(register, va=va, usage={mrp: 1})
    assert error.code == "insufficient_enforced" and "has 0 available" in error.messages[0]
    # Unenforced licenses may run short: the shortage shows as Insufficient and on the Compliance page.
    plain = make_license()
    register(va, {plain: 3})
    assert balance(va, plain).balance == -3


def test_unknown_entitlement_tags_are_refused(account):
    token = token_for(default_va(account))
    error = refusal(register_product_instance, token=token.token, pid="A", serial_number="B", usage={"regid.x": 1})
    assert error.error_dict["usage"][0].code == "unknown_license" and "regid.x" in error.messages[0]


def test_re_registering_in_the_same_account_moves_the_device_and_counts_a_use(account):
    first, second = make_va(account, "Campus"), make_va(account, "Lab")
    lic = make_license()
    instance = register(first, {lic: 2}, serial="FOC123")
    old_trust_code = instance.trust_code
    token = token_for(second, max_uses=5)
    again = register_product_instance(token=token.token, pid="C9300-48P", serial_number="FOC123")
    assert again.pk == instance.pk and again.virtual_account == second
    assert again.trust_code != old_trust_code and again.was_registered_before
    assert (balance(first, lic).in_use, balance(second, lic).in_use) == (0, 2)
    token.refresh_from_db()
    assert token.uses == 1
    assert ProductInstance.objects.count() == 1
    assert_ledger_clean()


def test_a_device_active_in_another_account_is_refused_without_naming_it(account, other_account):
    register(default_va(other_account), serial="FOC999")
    token = token_for(default_va(account))
    error = refusal(register_product_instance, token=token.token, pid="C9300-48P", serial_number="FOC999")
    assert error.code == "registered_elsewhere"
    assert "another Smart Account" in error.messages[0] and other_account.name not in error.messages[0]


def test_a_removed_device_can_register_again(account):
    lic = make_license()
    va = default_va(account)
    instance = register(va, {lic: 1}, serial="FOC555")
    remove_product_instance(actor=account.created_by, product_instance=instance)
    assert balance(va, lic).in_use == 0
    again = register(va, {lic: 1}, serial="FOC555")
    assert again.pk != instance.pk and ProductInstance.objects.filter(serial_number="FOC555").count() == 2


def test_removing_a_device_frees_its_licenses_and_writes_an_event(account):
    lic = make_license()
    va = default_va(account)
    deposit(va, lic, 5)
    instance = register(va, {lic: 3})
    remove_product_instance(actor=account.created_by, product_instance=instance)
    instance.refresh_from_db()
    assert instance.status == "removed" and balance(va, lic).in_use == 0
    event = Event.objects.get(action="instance.removed")
    assert "freeing 3 licenses" in event.message
    with pytest.raises(ValidationError, match="already removed"):
        remove_product_instance(actor=account.created_by, product_instance=instance)
    assert_ledger_clean()


def test_a_reserved_device_is_removed_through_its_reservation(account):
    instance = register(default_va(account))
    ProductInstance.objects.filter(pk=instance.pk).update(status="reserved")
    with pytest.raises(ValidationError, match="holds a license reservation"):
        remove_product_instance(actor=account.created_by, product_instance=instance)


# --- The device endpoint ----------------------------------------------------------------------------------

URL = "/api/v1/devices/register/"


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def device_client():
    return Client(enforce_csrf_checks=True)  # no session, no CSRF token: the registration token is the credential


def test_the_device_endpoint_registers_and_returns_the_trust_code(account, device_client):
    va = make_va(account, "Campus")
    lic = make_license()
    token = token_for(va)
    response = post(
        device_client,
        {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", "hostname": "sw1", "usage": {lic.tag: 1}},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    instance = ProductInstance.objects.get(serial_number="FOC1")
    assert body["instance_id"] == instance.pk and body["trust_code"] == instance.trust_code
    assert body["virtual_account"] == "Campus" and body["usage"] == {lic.tag: 1} and body["reregistered"] is False
    again = post(device_client, {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1"})
    assert again.status_code == 200 and again.json()["reregistered"] is True
    assert reverse("api_device_register") == URL


@pytest.mark.parametrize(
    ("setup", "status", "code"),
    [
        ("unknown", 401, "token_unknown"),
        ("missing", 401, "token_missing"),
        ("expired", 403, "token_expired"),
        ("revoked", 403, "token_revoked"),
        ("elsewhere", 409, "registered_elsewhere"),
        ("bad_pid", 400, "invalid"),
    ],
)
def test_the_device_endpoint_answers_clear_json_errors(account, other_account, device_client, setup, status, code):
    token = token_for(default_va(account))
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC7"}
    if setup == "unknown":
        body["token"] = "not-a-token"
    elif setup == "missing":
        body.pop("token")
    elif setup == "expired":
        expire(token)
    elif setup == "revoked":
        revoke_registration_token(actor=account.created_by, token=token)
    elif setup == "elsewhere":
        register(default_va(other_account), serial="FOC7")
    elif setup == "bad_pid":
        body["pid"] = "no spaces allowed"
    response = post(device_client, body)
    assert response.status_code == status, response.content
    answer = response.json()
    assert answer["code"] == code and answer["detail"]
    assert other_account.name not in response.content.decode()


def test_the_device_endpoint_refuses_what_is_not_a_json_object(device_client):
    assert device_client.post(URL, data="[1, 2]", content_type="application/json").status_code == 400
    assert device_client.post(URL, data="{not json", content_type="application/json").status_code == 400
    assert device_client.get(URL).status_code == 405


def test_registration_through_the_endpoint_shows_in_the_balance(account, device_client):
    va = default_va(account)
    lic = make_license()
    deposit(va, lic, 1)
    token = token_for(va)
    post(device_client, {"token": token.token, "pid": "P", "serial_number": "S1", "usage": {lic.tag: 3}})
    assert LicenseBalance.objects.get(virtual_account=va, license=lic).balance == -2
