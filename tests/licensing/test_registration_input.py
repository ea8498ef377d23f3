"""The registration endpoint and service against hostile input: one UDI has one spelling, device-chosen
text holds no control characters, entitlement tags are tags; every refusal is a JSON 400 with its field."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from licensing.models import ProductInstance
from licensing.services import register_product_instance
from tests.factories import default_va

from .helpers import make_license, token_for

pytestmark = pytest.mark.django_db
URL = "/api/v1/devices/register/"


@pytest.fixture
def device_client():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def token(account):
    return token_for(default_va(account), max_uses=50)


def post(client, body):
    return client.post(URL, data=json.dumps(body), content_type="application/json")


def invalid(response, field: str) -> dict:
    assert response.status_code == 400, response.content[:400]
    body = response.json()
    assert body["code"] == "invalid" and field in body["fields"], body
    return body


def test_a_final_newline_or_lower_case_names_the_same_device(device_client, token):
    first = post(device_client, {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC24100001"})
    assert first.status_code == 201
    for serial in ("FOC24100001\n", "foc24100001", "  FOC24100001\r\n"):
        again = post(device_client, {"token": token.token, "pid": "c9300-48p", "serial_number": serial})
        assert again.status_code == 200 and again.json()["instance_id"] == first.json()["instance_id"], serial
    assert list(ProductInstance.objects.values_list("pid", "serial_number")) == [("C9300-48P", "FOC24100001")]


@pytest.mark.parametrize("serial", ["ıOS1", "ßN1", "ﬁ1", "FOC\n1", "FOC\x001", "FOC\ud8001", "-FOC1", "F" * 65])
def test_what_only_upper_casing_would_make_a_serial_number_is_refused(device_client, token, serial):
    invalid(post(device_client, {"token": token.token, "pid": "C9300-48P", "serial_number": serial}), "serial_number")
    with pytest.raises(ValidationError) as raised:
        register_product_instance(token=token.token, pid="C9300-48P", serial_number=serial)
    assert "serial_number" in raised.value.message_dict
    assert not ProductInstance.objects.exists()


@pytest.mark.parametrize("field", ["hostname", "product_family", "software_version"])
@pytest.mark.parametrize("value", ["sw\nlab", "sw\x01", "sw\x00", "sw\x7f", "sw\ud800", "sw\tlab"])
def test_control_characters_in_device_text_are_refused(device_client, token, field, value):
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", field: value}
    invalid(post(device_client, body), field)
    with pytest.raises(ValidationError) as raised:
        register_product_instance(**body)
    assert field in raised.value.message_dict
    assert not ProductInstance.objects.exists()


@pytest.mark.parametrize("tag", ["regid\x00x", "\ud800", "regid x", "regid\n", ""])
def test_usage_names_entitlement_tags_only(device_client, token, tag):
    make_license()
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", "usage": {tag: 1}}
    invalid(post(device_client, body), "usage")
    with pytest.raises(ValidationError) as raised:
        register_product_instance(**body)
    assert "usage" in raised.value.message_dict
    assert not ProductInstance.objects.exists()


def test_unicode_text_that_is_not_a_control_character_is_kept(device_client, token):
    body = {"token": token.token, "pid": "C9300-48P", "serial_number": "FOC1", "hostname": "Büro-Schalter 😀"}
    response = post(device_client, body)
    assert response.status_code == 201 and response.json()["hostname"] == "Büro-Schalter 😀"
