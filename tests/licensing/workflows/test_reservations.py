"""License reservations through the services: reserve, update, release, remove, rehost; every refusal."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from licensing import reservation_codes as codes
from licensing.models import LedgerEntry, ProductInstance, ProductInstanceUsage, Reservation
from licensing.services import (
    infer_product_family,
    rehost_reservation,
    release_reservation,
    reserve_licenses,
    transfer_licenses,
    update_reservation,
)
from policy import signing
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import (
    assert_ledger_consistent,
    balance,
    deposit,
    enable_reservations,
    make_license,
    make_partner,
    request_code,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup(account):
    enable_reservations(account)
    va = make_va(account, "Air-gapped plant")
    dna = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300")
    network = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    isr = make_license("ISR 4000 Security", family="ISR 4000")
    deposit(va, dna, 10)
    deposit(va, network, 5)
    deposit(va, isr, 3)
    return {"account": account, "admin": account.created_by, "va": va, "dna": dna, "network": network, "isr": isr}


def _return_code(reservation):
    reservation.refresh_from_db()
    instance = reservation.product_instance
    signature = json.loads(reservation.authorization_code)["signature"]
    return codes.make_return_code(pid=instance.pid, serial_number=instance.serial_number, signature=signature)


def test_a_specific_reservation_counts_as_in_use_and_gives_a_signed_authorization_code(setup):
    s = setup
    code = request_code(serial="FOC2231X0AB")
    reservation = reserve_licenses(
        actor=s["admin"], virtual_account=s["va"], request_code=code, reservation_type="specific",
        licenses={s["dna"]: 4, s["network"]: 1},
    )  # fmt: skip
    assert reservation.status == Reservation.Status.ACTIVE and reservation.request_code == code
    dna = balance(s["va"], s["dna"])
    assert (dna.purchased, dna.in_use, dna.reserved, dna.available) == (10, 0, 4, 6)
    assert balance(s["va"], s["network"]).reserved == 1
    instance = reservation.product_instance
    assert (instance.pid, instance.serial_number, instance.status) == ("C9300-48P-4X", "FOC2231X0AB", "reserved")
    assert instance.product_family == "Catalyst 9300"
    assert not ProductInstanceUsage.objects.filter(product_instance=instance).exists()
    payload = codes.verify_authorization(reservation.authorization_code, public_key_pem=signing.public_key_pem())
    assert payload["type"] == "specific" and payload["sequence"] == 1 and payload["request_code"] == code
    assert payload["udi"] == {"pid": "C9300-48P-4X", "serial_number": "FOC2231X0AB"}
    assert sorted((line["name"], line["count"]) for line in payload["licenses"]) == [
        ("Catalyst 9300 DNA Advantage", 4),
        ("Catalyst 9300 Network Advantage", 1),
    ]
    assert Event.objects.filter(action="reservation.created", virtual_account=s["va"]).exists()
    assert_ledger_consistent()


def test_reserved_licenses_cannot_leave_the_virtual_account(setup):
    s = setup
    reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                     reservation_type="specific", licenses={s["dna"]: 8})  # fmt: skip
    with pytest.raises(ValidationError, match="2"):
        transfer_licenses(actor=s["admin"], source=s["va"], target=default_va(s["account"]), license=s["dna"],
                          quantity=3)  # fmt: skip


def test_a_specific_reservation_is_at_most_what_the_va_has_available(setup):
    s = setup
    with pytest.raises(ValidationError) as refused:
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                         reservation_type="specific", licenses={s["dna"]: 11, s["network"]: 6})  # fmt: skip
    assert refused.value.messages == [
        "Catalyst 9300 DNA Advantage: only 10 available in Air-gapped plant, not 11.",
        "Catalyst 9300 Network Advantage: only 5 available in Air-gapped plant, not 6.",
    ]
    assert not ProductInstance.objects.exists() and not Reservation.objects.exists()
    with pytest.raises(ValidationError, match="Choose at least one license"):
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                         reservation_type="specific", licenses={s["dna"]: 0})  # fmt: skip
    with pytest.raises(ValidationError, match="Choose Specific"):
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                         reservation_type="permanent")  # fmt: skip


def test_a_universal_reservation_takes_one_of_every_license_of_the_device_family(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="universal")  # fmt: skip
    # The PID C9300-48P-4X names the Catalyst 9300 family: every one of its licenses, one each; not the ISR.
    assert dict(reservation.lines.values_list("license_id", "quantity")) == {s["dna"].pk: 1, s["network"].pk: 1}
    assert balance(s["va"], s["isr"]).reserved == 0
    assert reservation.product_instance.product_family == "Catalyst 9300"
    payload = json.loads(reservation.authorization_code)["payload"]
    assert payload["type"] == "universal" and payload["product_family"] == "Catalyst 9300"
    assert_ledger_consistent()


def test_a_universal_reservation_needs_a_family_when_the_pid_does_not_say(setup):
    s = setup
    code = request_code(pid="AIR-CT5520-K9")
    with pytest.raises(ValidationError, match="Choose the product family of AIR-CT5520-K9"):
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=code, reservation_type="universal")
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=code,
                                   reservation_type="universal", product_family="ISR 4000")  # fmt: skip
    assert list(reservation.lines.values_list("license_id", flat=True)) == [s["isr"].pk]
    with pytest.raises(ValidationError, match="has no Catalyst 9800 licenses available"):
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                         reservation_type="universal", product_family="Catalyst 9800")  # fmt: skip


def test_the_product_family_is_inferred_from_the_model_number_in_the_pid():
    families = ["Catalyst 9300", "Catalyst 9200", "ISR 4000", "ISR 4451"]
    assert infer_product_family("C9300-48P-4X", families) == "Catalyst 9300"
    assert infer_product_family("ISR4451-X/K9", families) == "ISR 4451"
    assert infer_product_family("C930-24", families) is None
    assert infer_product_family("N9K-C93180YC", families) is None


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("disabled", "License reservation is not enabled for"),
        ("limited_use", "Limited Use accounts cannot reserve licenses"),
        ("partner_holding", "its licenses cannot be reserved"),
    ],
)
def test_reservations_only_in_customer_accounts_with_reservation_enabled(kind, message):
    account = {
        "disabled": lambda: make_account(name="Initech", domain="initech.example.com"),
        "limited_use": lambda: make_account(kind="limited_use"),
        "partner_holding": make_partner,
    }[kind]()
    license = make_license()
    deposit(default_va(account), license, 2)
    with pytest.raises(ValidationError, match=message):
        reserve_licenses(actor=account.created_by, virtual_account=default_va(account), request_code=request_code(),
                         reservation_type="specific", licenses={license: 1})  # fmt: skip
    assert not Reservation.objects.exists()


def test_reserving_needs_the_user_role_on_the_virtual_account(setup):
    s = setup
    viewer = grant(make_user("viewer@acme.example.com"), "viewer", account=s["account"])
    other_va_user = grant(make_user("other@acme.example.com"), "user", va=make_va(s["account"], "Offices"))
    for actor in (viewer, other_va_user, make_user("stranger@elsewhere.example.org")):
        with pytest.raises(PermissionDenied):
            reserve_licenses(actor=actor, virtual_account=s["va"], request_code=request_code(),
                             reservation_type="specific", licenses={s["dna"]: 1})  # fmt: skip


def test_a_bad_request_code_or_a_device_already_known_is_refused(setup):
    s = setup
    reserve = lambda code: reserve_licenses(  # noqa: E731
        actor=s["admin"], virtual_account=s["va"], request_code=code, reservation_type="specific",
        licenses={s["dna"]: 1},
    )  # fmt: skip
    with pytest.raises(ValidationError, match="That is not a valid request code"):
        reserve("CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-7")
    code = request_code(serial="FOC0000001")
    reserve(code)
    with pytest.raises(ValidationError, match="already has an active reservation in this account"):
        reserve(request_code(serial="FOC0000001"))
    ProductInstance.objects.create(smart_account=s["account"], virtual_account=s["va"], pid="C9300-48P-4X",
                                   serial_number="FOC0000002")  # fmt: skip
    with pytest.raises(ValidationError, match="is a connected product instance in this account"):
        reserve(request_code(serial="FOC0000002"))
    elsewhere = make_account(name="Initech", domain="initech.example.com")
    ProductInstance.objects.create(smart_account=elsewhere, virtual_account=default_va(elsewhere),
                                   pid="C9300-48P-4X", serial_number="FOC0000003")  # fmt: skip
    with pytest.raises(ValidationError) as refused:
        reserve(request_code(serial="FOC0000003"))
    assert refused.value.messages == [
        "The device PID:C9300-48P-4X SN:FOC0000003 is registered in another Smart Account; it must be removed there "
        "first."
    ]
    assert "Initech" not in str(refused.value)


def test_a_request_code_is_used_once(setup):
    s = setup
    code = request_code(serial="FOC0000009")
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=code,
                                   reservation_type="specific", licenses={s["dna"]: 1})  # fmt: skip
    release_reservation(actor=s["admin"], reservation=reservation, return_code=_return_code(reservation))
    with pytest.raises(ValidationError, match="This request code has already been used"):
        reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=code,
                         reservation_type="specific", licenses={s["dna"]: 1})  # fmt: skip


def test_updating_changes_the_quantities_and_issues_a_new_authorization_code(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="specific", licenses={s["dna"]: 4, s["network"]: 1})  # fmt: skip
    first_code = reservation.authorization_code
    update_reservation(actor=s["admin"], reservation=reservation, licenses={s["dna"]: 6, s["network"]: 0})
    reservation.refresh_from_db()
    assert dict(reservation.lines.values_list("license_id", "quantity")) == {s["dna"].pk: 6}
    assert balance(s["va"], s["dna"]).reserved == 6 and balance(s["va"], s["network"]).reserved == 0
    assert reservation.authorization_code != first_code
    payload = codes.verify_authorization(reservation.authorization_code)
    assert payload["sequence"] == 2 and [line["count"] for line in payload["licenses"]] == [6]
    with pytest.raises(ValidationError, match="only 4 available in Air-gapped plant, not 5"):
        update_reservation(actor=s["admin"], reservation=reservation, licenses={s["dna"]: 11})
    with pytest.raises(ValidationError, match="Nothing changed"):
        update_reservation(actor=s["admin"], reservation=reservation, licenses={s["dna"]: 6})
    assert Event.objects.filter(action="reservation.updated").count() == 1
    assert_ledger_consistent()


def test_updating_a_universal_reservation_adds_licenses_that_became_available(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="universal")  # fmt: skip
    with pytest.raises(ValidationError, match="no other Catalyst 9300 licenses have become available"):
        update_reservation(actor=s["admin"], reservation=reservation)
    essentials = make_license("Catalyst 9300 DNA Essentials", family="Catalyst 9300")
    deposit(s["va"], essentials, 2)
    update_reservation(actor=s["admin"], reservation=reservation)
    assert reservation.lines.count() == 3 and balance(s["va"], essentials).reserved == 1
    assert_ledger_consistent()


def test_releasing_with_the_device_return_code_frees_the_licenses(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="specific", licenses={s["dna"]: 4})  # fmt: skip
    return_code = _return_code(reservation)
    release_reservation(actor=s["admin"], reservation=reservation, return_code=return_code)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.RELEASED and not reservation.released_without_code
    assert reservation.return_code == return_code
    assert balance(s["va"], s["dna"]).reserved == 0
    assert reservation.product_instance.status == ProductInstance.Status.REMOVED
    assert Event.objects.filter(action="reservation.released").exists()
    with pytest.raises(ValidationError, match="This reservation was released"):
        release_reservation(actor=s["admin"], reservation=reservation, return_code=return_code)
    assert_ledger_consistent()


def test_a_return_code_of_an_older_authorization_code_or_another_device_is_refused(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="specific", licenses={s["dna"]: 4})  # fmt: skip
    stale = _return_code(reservation)
    update_reservation(actor=s["admin"], reservation=reservation, licenses={s["dna"]: 5})
    with pytest.raises(ValidationError, match="does not answer the current authorization code"):
        release_reservation(actor=s["admin"], reservation=reservation, return_code=stale)
    other = codes.make_return_code(pid="C9300-48P-4X", serial_number="FOC9999", signature="x")
    with pytest.raises(ValidationError, match="does not answer the current authorization code"):
        release_reservation(actor=s["admin"], reservation=reservation, return_code=other)
    with pytest.raises(ValidationError, match="That is not a return code"):
        release_reservation(actor=s["admin"], reservation=reservation, return_code="hello")
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.ACTIVE
    assert balance(s["va"], s["dna"]).reserved == 5


def test_an_admin_removes_an_unmanaged_device_reservation_without_a_code(setup):
    s = setup
    user = grant(make_user("user@acme.example.com"), "user", account=s["account"])
    reservation = reserve_licenses(actor=user, virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="specific", licenses={s["dna"]: 2})  # fmt: skip
    with pytest.raises(PermissionDenied):
        release_reservation(actor=user, reservation=reservation)
    release_reservation(actor=s["admin"], reservation=reservation)
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.RELEASED and reservation.released_without_code
    assert balance(s["va"], s["dna"]).reserved == 0
    event = Event.objects.get(action="reservation.removed_without_code")
    assert "released without a code" in event.message and event.details["without_code"] is True
    assert_ledger_consistent()


def test_rehosting_moves_the_licenses_to_the_replacement_with_a_new_code(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"],
                                   request_code=request_code(serial="FOCFAILED01"), reservation_type="specific",
                                   licenses={s["dna"]: 3, s["network"]: 2})  # fmt: skip
    new = rehost_reservation(actor=s["admin"], reservation=reservation,
                             request_code=request_code(serial="FOCSPARE001"))  # fmt: skip
    reservation.refresh_from_db()
    assert reservation.status == Reservation.Status.REHOSTED and reservation.replaced_by == new
    assert reservation.product_instance.status == ProductInstance.Status.REMOVED
    assert new.product_instance.serial_number == "FOCSPARE001" and new.product_instance.status == "reserved"
    assert dict(new.lines.values_list("license_id", "quantity")) == {s["dna"].pk: 3, s["network"].pk: 2}
    assert balance(s["va"], s["dna"]).reserved == 3
    payload = codes.verify_authorization(new.authorization_code)
    assert payload["udi"]["serial_number"] == "FOCSPARE001"
    event = Event.objects.get(action="reservation.rehosted")
    assert "FOCFAILED01" in event.message and "FOCSPARE001" in event.message
    assert LedgerEntry.objects.filter(reservation=reservation, kind=LedgerEntry.Kind.RELEASE).count() == 2
    assert_ledger_consistent()


def test_a_device_that_is_still_reporting_is_not_rehosted(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"], request_code=request_code(),
                                   reservation_type="specific", licenses={s["dna"]: 1})  # fmt: skip
    ProductInstance.objects.filter(pk=reservation.product_instance_id).update(
        last_report_received_at=timezone.now() - timedelta(days=3)
    )
    with pytest.raises(ValidationError, match="a device that is still reporting has not failed"):
        rehost_reservation(actor=s["admin"], reservation=reservation, request_code=request_code())
    ProductInstance.objects.filter(pk=reservation.product_instance_id).update(
        last_report_received_at=timezone.now() - timedelta(days=45)
    )
    rehost_reservation(actor=s["admin"], reservation=reservation, request_code=request_code())


def test_rehosting_to_the_same_device_or_a_known_one_is_refused(setup):
    s = setup
    reservation = reserve_licenses(actor=s["admin"], virtual_account=s["va"],
                                   request_code=request_code(serial="FOCSAME0001"), reservation_type="specific",
                                   licenses={s["dna"]: 1})  # fmt: skip
    with pytest.raises(ValidationError, match="comes from the device that holds the reservation"):
        rehost_reservation(actor=s["admin"], reservation=reservation, request_code=request_code(serial="FOCSAME0001"))
    viewer = grant(make_user("viewer@acme.example.com"), "viewer", account=s["account"])
    with pytest.raises(PermissionDenied):
        rehost_reservation(actor=viewer, reservation=reservation, request_code=request_code())
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.ACTIVE


def test_a_specific_reservation_of_another_product_family_is_refused(account):
    from licensing.services import device_product_family, fits_device

    from .helpers import deposit, enable_reservations, make_license, request_code

    enable_reservations(account)
    va = account.virtual_accounts.get(is_default=True)
    mine = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300")
    other = make_license("Catalyst 9200 DNA Advantage", family="Catalyst 9200")
    deposit(va, mine, 3)
    deposit(va, other, 3)
    assert device_product_family("C9300-48P-4X") == "Catalyst 9300"
    assert fits_device("Catalyst 9300", "Catalyst 9300") and not fits_device("Catalyst 9200", "Catalyst 9300")
    assert fits_device("Catalyst 9200", None)  # a PID the catalog does not name: no family to hold to
    with pytest.raises(ValidationError, match="C9300-48P-4X is a Catalyst 9300 device: Catalyst 9200 DNA Advantage"):
        reserve_licenses(actor=account.created_by, virtual_account=va, request_code=request_code(),
                         reservation_type="specific", licenses={mine: 1, other: 1})  # fmt: skip
    assert not Reservation.objects.exists()
    reservation = reserve_licenses(actor=account.created_by, virtual_account=va, request_code=request_code(),
                                   reservation_type="specific", licenses={mine: 1})  # fmt: skip
    with pytest.raises(ValidationError, match="another product family"):
        update_reservation(actor=account.created_by, reservation=reservation, licenses={mine: 1, other: 1})
