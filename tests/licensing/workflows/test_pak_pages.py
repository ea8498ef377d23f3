"""The "Convert PAKs" pages through the test client."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing.models import Pak
from licensing.services import NO_SUCH_PAK
from tests.factories import default_va, grant, make_user, make_va

from .helpers import assert_ledger_consistent, balance, make_license, make_pak, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def pak_world(account, other_account):
    dna = make_license("Catalyst 9300 DNA Advantage")
    sku = make_sku(dna, "C9300-DNA-A-48")
    nw_sku = make_sku(make_license("Catalyst 9300 Network Advantage"), "C9300-NW-A-48")
    own = make_pak(account, [(sku, 6), (nw_sku, 2)], number="3PAK-OWN-0001")
    theirs = make_pak(other_account, [(sku, 3)], number="3PAK-THEIRS-0001")
    loose = make_pak(None, [(sku, 1)], number="3PAK-LOOSE-0001")
    return {"dna": dna, "own": own, "theirs": theirs, "loose": loose, "sku": sku}


def _url(name, account, **kwargs):
    return reverse(name, kwargs={"account_id": account.pk, **kwargs})


def test_the_pak_list_shows_only_the_account_s_own_paks(client, account, pak_world):
    client.force_login(account.created_by)
    text = client.get(_url("pak_list", account)).content.decode()
    assert "3PAK-OWN-0001" in text and "C9300-DNA-A-48" in text
    assert "3PAK-THEIRS-0001" not in text and "3PAK-LOOSE-0001" not in text


def test_entering_an_unowned_pak_claims_it_and_opens_it(client, account, pak_world):
    client.force_login(account.created_by)
    response = client.post(_url("pak_list", account), {"number": "3pak-loose-0001"}, follow=True)
    assert response.redirect_chain[-1][0] == _url("pak_convert", account, pak_id=pak_world["loose"].pk)
    assert "PAK 3PAK-LOOSE-0001 now belongs to Acme Networks." in response.content.decode()
    assert Pak.objects.get(pk=pak_world["loose"].pk).owner == account


def test_another_account_s_pak_and_unknown_numbers_get_the_same_message(client, account, pak_world):
    client.force_login(account.created_by)
    for number in ("3PAK-THEIRS-0001", "3PAK-NOPE-0000"):
        text = client.post(_url("pak_list", account), {"number": number}).content.decode()
        assert NO_SUCH_PAK in text.replace("&#x27;", "'")
        assert "Globex" not in text
    assert client.get(_url("pak_convert", account, pak_id=pak_world["theirs"].pk)).status_code == 404


def test_converting_part_of_a_pak_from_the_page(client, account, pak_world):
    lab = make_va(account, "Lab")
    client.force_login(account.created_by)
    url = _url("pak_convert", account, pak_id=pak_world["own"].pk)
    page = client.get(url).content.decode()
    lines = {line.sku.code: line for line in pak_world["own"].lines.all()}
    assert f'name="units_{lines["C9300-DNA-A-48"].pk}"' in page
    response = client.post(
        url,
        {
            "virtual_account": lab.pk,
            f"units_{lines['C9300-DNA-A-48'].pk}": "4",
            f"units_{lines['C9300-NW-A-48'].pk}": "0",
        },
        follow=True,
    )
    text = response.content.decode()
    assert "Converted 4 units of PAK 3PAK-OWN-0001 into Lab." in text
    assert balance(lab, pak_world["dna"]).purchased == 4
    assert "Partly converted" in text and "Lab" in re.search(r"<h2>Conversions</h2>.*", text, re.S).group(0)
    too_many = client.post(url, {"virtual_account": lab.pk, f"units_{lines['C9300-DNA-A-48'].pk}": "3"})
    assert "Ensure this value is less than or equal to 2." in too_many.content.decode()
    assert_ledger_consistent()


def test_the_convert_form_offers_only_virtual_accounts_the_user_may_operate_on(client, account, pak_world):
    lab = make_va(account, "Lab")
    lab_user = grant(make_user("lab@acme.example.com"), "user", va=lab)
    client.force_login(lab_user)
    page = client.get(_url("pak_convert", account, pak_id=pak_world["own"].pk)).content.decode()
    assert re.findall(r'<option value="(\d+)"', page) == [str(lab.pk)]
    line = pak_world["own"].lines.get(sku=pak_world["sku"])
    refused = client.post(
        _url("pak_convert", account, pak_id=pak_world["own"].pk),
        {"virtual_account": default_va(account).pk, f"units_{line.pk}": "1"},
    )
    assert "Select a valid choice" in refused.content.decode()


def test_partner_holding_accounts_have_no_pak_pages(client):
    partner = make_partner()
    client.force_login(partner.created_by)
    assert client.get(_url("pak_list", partner)).status_code == 404


def test_the_pak_list_answers_in_the_same_number_of_queries_for_few_and_many(
    client, account, pak_world, django_assert_max_num_queries
):
    client.force_login(account.created_by)
    url = _url("pak_list", account)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    for _ in range(30):
        make_pak(account, [(pak_world["sku"], 2)])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
