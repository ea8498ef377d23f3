"""The reservation wizard and the pages of one reservation, through the test client."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing import reservation_codes as codes
from licensing.models import Reservation
from licensing.services import reserve_licenses
from smartaccounts.models import Event
from tests.factories import grant, make_account, make_user, make_va

from .helpers import assert_ledger_consistent, balance, deposit, enable_reservations, make_license, request_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def plant(account):
    enable_reservations(account)
    va = make_va(account, "Air-gapped plant")
    dna = make_license("Catalyst 9300 DNA Advantage", family="Catalyst 9300")
    network = make_license("Catalyst 9300 Network Advantage", family="Catalyst 9300")
    deposit(va, dna, 10)
    deposit(va, network, 5)
    return {"account": account, "admin": account.created_by, "va": va, "dna": dna, "network": network}


def _url(name, account, **kwargs):
    return reverse(name, kwargs={"account_id": account.pk, **kwargs})


def _wizard(plant):
    return _url("reservation_create", plant["account"], va_id=plant["va"].pk)


def test_the_wizard_goes_from_request_code_to_authorization_code(client, plant):
    p = plant
    client.force_login(p["admin"])
    code = request_code(serial="FOC2231X0AB")
    assert "Request code" in client.get(_wizard(p)).content.decode()
    step2 = client.post(_wizard(p), {"step": "request", "request_code": f"  {code}\n"}).content.decode()
    assert "PID:C9300-48P-4X SN:FOC2231X0AB" in step2 and f'name="qty_{p["dna"].pk}"' in step2
    choice = {"request_code": code, "reservation_type": "specific", f"qty_{p['dna'].pk}": "3", "product_family": ""}
    review = client.post(_wizard(p), {**choice, "step": "licenses"}).content.decode()
    assert "Reserve and get the authorization code" in review and "Catalyst 9300 DNA Advantage" in review
    assert not Reservation.objects.exists()
    done = client.post(_wizard(p), {**choice, "step": "confirm"})
    reservation = Reservation.objects.get()
    assert done.status_code == 302
    assert done["Location"] == _url("reservation_detail", p["account"], reservation_id=reservation.pk)
    assert balance(p["va"], p["dna"]).reserved == 3
    detail = client.get(done["Location"]).content.decode()
    assert "Download authorization code" in detail and "BEGIN PUBLIC KEY" in detail
    download = client.get(_url("reservation_authorization", p["account"], reservation_id=reservation.pk))
    assert download["Content-Disposition"] == 'attachment; filename="authorization-C9300-48P-4X-FOC2231X0AB.json"'
    payload = codes.verify_authorization(download.content.decode())
    assert payload["licenses"][0]["count"] == 3
    assert_ledger_consistent()


def test_the_request_code_can_be_uploaded_as_a_file(client, plant):
    p = plant
    client.force_login(p["admin"])
    upload = SimpleUploadedFile("request.txt", (request_code(serial="FOCUPLOAD01") + "\n").encode())
    response = client.post(_wizard(p), {"step": "request", "request_file": upload})
    assert "PID:C9300-48P-4X SN:FOCUPLOAD01" in response.content.decode()


def test_a_bad_request_code_is_refused_on_the_first_step(client, plant):
    client.force_login(plant["admin"])
    text = client.post(_wizard(plant), {"step": "request", "request_code": "CE-ZC9300:FOC-abc-00"}).content.decode()
    assert "That is not a valid request code." in text
    text = client.post(
        _wizard(plant), {"step": "request", "request_code": "CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-7"}
    ).content.decode()
    assert "That is not a valid request code." in text


def test_a_universal_reservation_from_the_wizard_preselects_the_family(client, plant):
    p = plant
    client.force_login(p["admin"])
    code = request_code()
    step2 = client.post(_wizard(p), {"step": "request", "request_code": code}).content.decode()
    assert '<option value="Catalyst 9300" selected>' in step2
    choice = {"request_code": code, "reservation_type": "universal", "product_family": "Catalyst 9300"}
    review = client.post(_wizard(p), {**choice, "step": "licenses"}).content.decode()
    assert "all features of Catalyst 9300" in review
    client.post(_wizard(p), {**choice, "step": "confirm"})
    assert Reservation.objects.get().lines.count() == 2


def test_quantities_above_what_is_available_are_refused_on_the_form(client, plant):
    p = plant
    client.force_login(p["admin"])
    choice = {"request_code": request_code(), "reservation_type": "specific", f"qty_{p['dna'].pk}": "11"}
    text = client.post(_wizard(p), {**choice, "step": "licenses"}).content.decode()
    assert "Ensure this value is less than or equal to 10." in text


def test_a_device_already_reserved_sends_the_user_back_to_the_request_code(client, plant):
    p = plant
    client.force_login(p["admin"])
    reserve_licenses(actor=p["admin"], virtual_account=p["va"], request_code=request_code(serial="FOCTWICE001"),
                     reservation_type="specific", licenses={p["dna"]: 1})  # fmt: skip
    choice = {"request_code": request_code(serial="FOCTWICE001"), "reservation_type": "specific",
              f"qty_{p['dna'].pk}": "1"}  # fmt: skip
    text = client.post(_wizard(p), {**choice, "step": "confirm"}).content.decode()
    assert "already has an active reservation in this account" in text and 'name="request_code"' in text


def test_the_wizard_says_when_reservation_is_not_enabled(client):
    account = make_account(name="Initech", domain="initech.example.com")
    client.force_login(account.created_by)
    url = reverse("reservation_create", kwargs={"account_id": account.pk, "va_id": account.virtual_accounts.get().pk})
    assert "License reservation is not enabled for this account" in client.get(url).content.decode()
    response = client.post(url, {"step": "confirm", "request_code": request_code(), "reservation_type": "universal"})
    assert "License reservation is not enabled" in response.content.decode()
    assert not Reservation.objects.exists()
    listing = client.get(reverse("reservation_list", kwargs={"account_id": account.pk})).content.decode()
    assert "License reservation is not enabled for this account" in listing


def _reserve(plant, **licenses):
    return reserve_licenses(actor=plant["admin"], virtual_account=plant["va"], request_code=request_code(),
                            reservation_type="specific", licenses=licenses or {plant["dna"]: 4})  # fmt: skip


def _return_code(reservation):
    reservation.refresh_from_db()
    instance = reservation.product_instance
    signature = json.loads(reservation.authorization_code)["signature"]
    return codes.make_return_code(pid=instance.pid, serial_number=instance.serial_number, signature=signature)


def test_updating_from_the_page_issues_a_new_code(client, plant):
    p = plant
    reservation = _reserve(p)
    client.force_login(p["admin"])
    url = _url("reservation_update", p["account"], reservation_id=reservation.pk)
    page = client.get(url).content.decode()
    assert f'name="qty_{p["dna"].pk}"' in page and f'name="qty_{p["network"].pk}"' in page
    response = client.post(url, {f"qty_{p['dna'].pk}": "2", f"qty_{p['network'].pk}": "1"}, follow=True)
    assert "Install the new authorization code" in response.content.decode()
    assert dict(Reservation.objects.get(pk=reservation.pk).lines.values_list("license_id", "quantity")) == {
        p["dna"].pk: 2,
        p["network"].pk: 1,
    }
    assert "Code 2" in response.content.decode()


def test_releasing_from_the_page_with_the_device_return_code(client, plant):
    p = plant
    reservation = _reserve(p)
    client.force_login(p["admin"])
    url = _url("reservation_release", p["account"], reservation_id=reservation.pk)
    wrong = client.post(url, {"return_code": "RT-ZC9300-48P-4X:FOC1-ABCDEFGHIJKLMNOP-00"}).content.decode()
    assert "check characters do not match" in wrong
    response = client.post(url, {"return_code": _return_code(reservation)}, follow=True)
    assert "Reservation released" in response.content.decode()
    assert balance(p["va"], p["dna"]).reserved == 0
    assert "no longer active" in client.get(url, follow=True).content.decode()


def test_an_admin_removes_a_reservation_without_a_code_after_typing_the_serial(client, plant):
    p = plant
    reservation = _reserve(p)
    serial = reservation.product_instance.serial_number
    client.force_login(p["admin"])
    url = _url("reservation_remove", p["account"], reservation_id=reservation.pk)
    assert f"Type {serial} exactly" in client.post(url, {"confirmation": "yes"}).content.decode()
    assert Reservation.objects.get(pk=reservation.pk).status == Reservation.Status.ACTIVE
    response = client.post(url, {"confirmation": serial.lower()}, follow=True)
    assert "released without a code" in Event.objects.get(action="reservation.removed_without_code").message
    assert "without a return code" in response.content.decode()
    user = grant(make_user("user@acme.example.com"), "user", account=p["account"])
    client.force_login(user)
    other = _reserve(p)
    assert client.get(_url("reservation_remove", p["account"], reservation_id=other.pk)).status_code == 403
    detail = client.get(_url("reservation_detail", p["account"], reservation_id=other.pk)).content.decode()
    assert "Remove without a code" not in detail and "Release with return code" in detail


def test_rehosting_from_the_page(client, plant):
    p = plant
    reservation = _reserve(p)
    client.force_login(p["admin"])
    url = _url("reservation_rehost", p["account"], reservation_id=reservation.pk)
    response = client.post(url, {"request_code": request_code(serial="FOCSPARE009")}, follow=True)
    new = Reservation.objects.get(status=Reservation.Status.ACTIVE)
    assert response.redirect_chain[-1][0] == _url("reservation_detail", p["account"], reservation_id=new.pk)
    text = response.content.decode()
    assert "The licenses moved to PID:C9300-48P-4X SN:FOCSPARE009" in text and "Rehosted here from" in text


def test_a_va_scoped_user_sees_only_reservations_in_their_virtual_accounts(client, plant):
    p = plant
    mine = make_va(p["account"], "Lab")
    deposit(mine, p["dna"], 2)
    in_lab = reserve_licenses(actor=p["admin"], virtual_account=mine, request_code=request_code(serial="FOCLAB0001"),
                              reservation_type="specific", licenses={p["dna"]: 1})  # fmt: skip
    in_plant = _reserve(p)
    lab_user = grant(make_user("lab@acme.example.com"), "user", va=mine)
    client.force_login(lab_user)
    listing = client.get(_url("reservation_list", p["account"])).content.decode()
    assert "FOCLAB0001" in listing and in_plant.product_instance.serial_number not in listing
    assert client.get(_url("reservation_detail", p["account"], reservation_id=in_plant.pk)).status_code == 404
    assert client.get(_url("reservation_detail", p["account"], reservation_id=in_lab.pk)).status_code == 200


def test_the_reservation_list_answers_in_the_same_number_of_queries_for_few_and_many(
    client, plant, django_assert_max_num_queries
):
    p = plant
    deposit(p["va"], p["dna"], 100)
    _reserve(p)
    client.force_login(p["admin"])
    url = _url("reservation_list", p["account"])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(30):
        _reserve(p, **{str(p["dna"].pk): 1})
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200


def test_a_reserved_device_page_shows_the_reserved_licenses_and_links_its_reservation(client, plant):
    p = plant
    reservation = _reserve(p)
    client.force_login(p["admin"])
    url = _url("instance_detail", p["account"], instance_id=reservation.product_instance_id)
    text = client.get(url).content.decode()
    assert "Catalyst 9300 DNA Advantage" in text
    assert _url("reservation_detail", p["account"], reservation_id=reservation.pk) in text
    assert "It uses no licenses." not in text


def test_a_reserved_device_is_refused_on_the_first_step(client, plant):
    p = plant
    client.force_login(p["admin"])
    reserve_licenses(actor=p["admin"], virtual_account=p["va"], request_code=request_code(serial="FOCEARLY001"),
                     reservation_type="specific", licenses={p["dna"]: 1})  # fmt: skip
    text = client.post(_wizard(p), {"step": "request", "request_code": request_code(serial="FOCEARLY001")}).content
    text = text.decode()
    assert "already has an active reservation in this account" in text
    assert 'name="request_code"' in text and 'name="reservation_type"' not in text  # still on step 1


def test_a_connected_device_is_refused_on_the_first_step(client, plant):
    from tests.licensing.helpers import register

    p = plant
    client.force_login(p["admin"])
    register(p["va"], {p["dna"]: 1}, serial="FOCCONNECT1", pid="C9300-48P-4X")
    text = client.post(_wizard(p), {"step": "request", "request_code": request_code(serial="FOCCONNECT1")}).content
    text = text.decode()
    assert "is a connected product instance in this account" in text
    assert 'name="reservation_type"' not in text
    assert not Reservation.objects.exists()


def test_the_specific_list_offers_only_the_device_family(client, plant):
    p = plant
    other = make_license("Catalyst 9200 DNA Advantage", family="Catalyst 9200")
    deposit(p["va"], other, 4)
    client.force_login(p["admin"])
    code = request_code()  # a C9300
    step2 = client.post(_wizard(p), {"step": "request", "request_code": code}).content.decode()
    assert f'name="qty_{p["dna"].pk}"' in step2 and f'name="qty_{other.pk}"' not in step2
    assert "Catalyst 9200 DNA Advantage" not in step2
    # Posting it anyway is not taken: the form has no such field, and the service refuses it too.
    choice = {"request_code": code, "reservation_type": "specific", f"qty_{other.pk}": "1"}
    text = client.post(_wizard(p), {**choice, "step": "confirm"}).content.decode()
    assert "Enter how many of at least one license to reserve." in text
    assert not Reservation.objects.exists()
    # A C9200 is offered its own licenses.
    step2 = client.post(_wizard(p), {"step": "request", "request_code": request_code(pid="C9200-24P")}).content
    assert f'name="qty_{other.pk}"' in step2.decode() and f'name="qty_{p["dna"].pk}"' not in step2.decode()


def test_the_product_instances_list_counts_a_reserved_device_s_reserved_licenses(client, plant):
    p = plant
    _reserve(p)  # 4 of one license
    reserve_licenses(actor=p["admin"], virtual_account=p["va"], request_code=request_code(serial="FOCTWOLIC1"),
                     reservation_type="specific", licenses={p["dna"]: 1, p["network"]: 2})  # fmt: skip
    client.force_login(p["admin"])
    page = client.get(_url("instances", p["account"])).content.decode()
    rows = [row for row in page.split("<tr")[1:] if '<td class="num">' in row]
    counts = sorted(row.split('<td class="num">', 1)[1].split("</td>", 1)[0] for row in rows)
    assert counts == ['1 <span class="muted small">reserved</span>', '2 <span class="muted small">reserved</span>']
