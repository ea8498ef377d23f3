"""Re-registering a live device into another Virtual Account moves it, so it takes the rights of a transfer:
the token's creator needs the User role on the VA the device leaves (and on the token's VA). Re-registering
in the same VA is unchanged."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from licensing.models import ProductInstance, RegistrationToken
from licensing.services import register_product_instance
from smartaccounts.models import Event
from tests.factories import grant, make_user, make_va

from .helpers import assert_ledger_clean, balance, make_license, register, token_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/devices/register/"


@pytest.fixture
def estate(account):
    """VA X, where a User works, and VA Y, where he has no role and a live device uses a license."""
    x, y = make_va(account, "Lab X"), make_va(account, "Production Y")
    lic = make_license()
    device = register(y, {lic: 2}, serial="FOC24100001")
    user = grant(make_user("x-user@acme.example.com"), "user", va=x)
    return x, y, lic, device, user


def post(body):
    return Client(enforce_csrf_checks=True).post(URL, data=json.dumps(body), content_type="application/json")


def test_a_token_of_a_va_cannot_take_a_live_device_from_a_va_its_creator_cannot_operate_on(estate):
    x, y, lic, device, user = estate
    token = token_for(x, actor=user)
    events = Event.objects.count()
    response = post({"token": token.token, "pid": device.pid, "serial_number": device.serial_number})
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["code"] == "registered_in_another_va" and "Production Y" not in body["detail"]
    fresh = ProductInstance.objects.get(pk=device.pk)
    assert fresh.virtual_account == y and fresh.trust_code == device.trust_code  # the real device keeps signing
    assert (balance(y, lic).in_use, balance(x, lic).in_use) == (2, 0)
    assert RegistrationToken.objects.get(pk=token.pk).uses == 0 and Event.objects.count() == events
    with pytest.raises(ValidationError) as raised:
        register_product_instance(token=token.token, pid=device.pid, serial_number=device.serial_number.lower())
    assert raised.value.code == "registered_in_another_va"
    assert_ledger_clean()


def test_re_registering_in_the_same_va_needs_no_more_than_a_token_of_it(estate):
    x, y, lic, device, user = estate
    mine = register(x, {lic: 1}, serial="FOC24100002", token=token_for(x, actor=user))
    response = post({"token": token_for(x, actor=user).token, "pid": mine.pid, "serial_number": mine.serial_number})
    assert response.status_code == 200 and response.json()["reregistered"] is True
    assert response.json()["trust_code"] != mine.trust_code


def test_a_creator_with_the_user_role_on_both_vas_moves_the_device(estate):
    x, y, lic, device, user = estate
    grant(user, "user", va=y)
    response = post({"token": token_for(x, actor=user).token, "pid": device.pid, "serial_number": device.serial_number})
    assert response.status_code == 200, response.content
    assert ProductInstance.objects.get(pk=device.pk).virtual_account == x
    assert (balance(y, lic).in_use, balance(x, lic).in_use) == (0, 2)
    event = Event.objects.filter(action="instance.reregistered").get()
    assert "moved from Production Y" in event.message
    assert_ledger_clean()


def test_a_viewer_on_the_source_va_is_not_enough(estate):
    x, y, lic, device, user = estate
    grant(user, "viewer", va=y)
    response = post({"token": token_for(x, actor=user).token, "pid": device.pid, "serial_number": device.serial_number})
    assert response.status_code == 409 and response.json()["code"] == "registered_in_another_va"


def test_a_token_whose_creator_was_deactivated_moves_nothing(estate, account):
    x, y, lic, device, user = estate
    admin = grant(make_user("admin2@acme.example.com"), "admin", account=account)
    token = token_for(x, actor=admin)
    admin.is_active = False
    admin.save(update_fields=["is_active"])
    response = post({"token": token.token, "pid": device.pid, "serial_number": device.serial_number})
    assert response.status_code == 409 and ProductInstance.objects.get(pk=device.pk).virtual_account == y
