"""The permission matrix over every hand-over, PAK and reservation URL (see tests/isolation.py)."""

import json

import pytest

from licensing import reservation_codes as codes
from licensing.models import Pak, Reservation
from tests.isolation import Case, build_tenant, check_permission_matrix

from .builders import build_partner_tenant, held_line, pak_id, reservation_id
from .helpers import request_code

pytestmark = pytest.mark.django_db


def _hand_over_form(step):
    def data(tenant, va):
        line, customer = held_line(tenant, va)
        return {"customer_domain": customer.domain, f"qty_{line.pk}": "2", "step": step}

    return data


def _pak_number(tenant, va):
    return {"number": Pak.objects.get(pk=pak_id(tenant, va)).number}


def _pak_conversion(tenant, va):
    line = Pak.objects.get(pk=pak_id(tenant, va)).lines.get()
    return {"virtual_account": va.pk, f"units_{line.pk}": "1"}


def _reservation(tenant, va) -> Reservation:
    return Reservation.objects.select_related("product_instance").get(pk=reservation_id(tenant, va))


def _new_quantity(tenant, va):
    return {f"qty_{_reservation(tenant, va).lines.get().license_id}": "3"}


def _return_code(tenant, va):
    reservation = _reservation(tenant, va)
    instance = reservation.product_instance
    signature = json.loads(reservation.authorization_code)["signature"]
    code = codes.make_return_code(pid=instance.pid, serial_number=instance.serial_number, signature=signature)
    return {"return_code": code}


def _typed_serial(tenant, va):
    return {"confirmation": _reservation(tenant, va).product_instance.serial_number}


PARTNER_CASES = [
    Case("partner_holdings"),
    Case("hand_over_create", "get", "operate"),
    Case("hand_over_create", "post", "operate", data=_hand_over_form("review")),
    Case("hand_over_create", "post", "operate", data=_hand_over_form("confirm")),
    Case("hand_overs_outgoing"),
    Case("hand_over_outgoing_detail"),
    Case("hand_over_cancel", "post", "operate"),
]

CUSTOMER_CASES = [
    Case("hand_overs_incoming"),
    Case("hand_over_incoming_detail"),
    Case("hand_over_accept", "post", "operate", data=lambda tenant, va: {"virtual_account": va.pk}),
    Case("hand_over_decline", "post", "admin", account_admin=True, data={"reason": "Not ours"}),
    Case("pak_list", "get", "operate"),
    Case("pak_list", "post", "operate", data=_pak_number),
    Case("pak_convert", "get", "operate"),
    Case("pak_convert", "post", "operate", data=_pak_conversion),
    Case("reservation_list"),
    Case("va_reservations", va_bound=True),
    Case("reservation_start", "get", "operate", data=lambda tenant, va: {"va": va.pk}),
    Case("reservation_create", "get", "operate", va_bound=True),
    Case(
        "reservation_create",
        "post",
        "operate",
        va_bound=True,
        data=lambda tenant, va: {"step": "request", "request_code": request_code()},
    ),
    Case("reservation_detail", va_bound=True),
    Case("reservation_authorization", va_bound=True),
    Case("reservation_update", "get", "operate", va_bound=True),
    Case("reservation_update", "post", "operate", va_bound=True, data=_new_quantity),
    Case("reservation_release", "get", "operate", va_bound=True),
    Case("reservation_release", "post", "operate", va_bound=True, data=_return_code),
    Case("reservation_remove", "get", "admin", va_bound=True),
    Case("reservation_remove", "post", "admin", va_bound=True, data=_typed_serial),
    Case("reservation_rehost", "get", "operate", va_bound=True),
    Case(
        "reservation_rehost", "post", "operate", va_bound=True, data=lambda tenant, va: {"request_code": request_code()}
    ),
]


@pytest.mark.parametrize("case", PARTNER_CASES, ids=str)
def test_partner_holding_permission_matrix(client, case):
    check_permission_matrix(client, case, build_partner_tenant())


@pytest.mark.parametrize("case", CUSTOMER_CASES, ids=str)
def test_customer_permission_matrix(client, case):
    check_permission_matrix(client, case, build_tenant())


def test_every_workflow_url_has_a_case():
    from licensing.urls_workflows import urlpatterns

    covered = {case.url_name for case in PARTNER_CASES + CUSTOMER_CASES}
    assert {pattern.name for pattern in urlpatterns} == covered
