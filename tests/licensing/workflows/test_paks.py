"""PAK conversion and claiming, through the services: every rule and every refusal."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from licensing.models import LedgerEntry, LicenseLot, Pak, PakLine
from licensing.services import NO_SUCH_PAK, add_months, claim_pak, convert_pak
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import assert_ledger_consistent, balance, make_license, make_pak, make_partner, make_sku

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    dna = make_license("Catalyst 9300 DNA Advantage")
    term = make_license("Catalyst 9300 DNA Essentials Term", license_type="subscription")
    return {
        "dna": dna,
        "term": term,
        "sku_dna": make_sku(dna, "C9300-DNA-A-48", per_unit=2),
        "sku_term": make_sku(term, "C9300-DNA-E-3Y", term_months=36),
    }


def test_converting_everything_left_puts_smart_licenses_in_the_va_with_the_pak_as_source(account, catalog):
    pak = make_pak(account, [(catalog["sku_dna"], 5), (catalog["sku_term"], 3)], number="3PAK-0001")
    va = default_va(account)
    convert_pak(actor=account.created_by, pak=pak, virtual_account=va)
    assert balance(va, catalog["dna"]).purchased == 10  # 5 units × 2 licenses per unit
    assert balance(va, catalog["term"]).purchased == 3
    lots = LicenseLot.objects.filter(virtual_account=va)
    assert {lot.pak_line.pak.number for lot in lots} == {"3PAK-0001"}
    term_lot = lots.get(license=catalog["term"])
    today = timezone.localdate()
    assert (term_lot.start_date, term_lot.end_date) == (today, add_months(today, 36))
    assert set(PakLine.objects.filter(pak=pak).values_list("converted_quantity", flat=True)) == {5, 3}
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CONVERSION, pak_line__pak=pak).count() == 2
    event = Event.objects.get(action="pak.converted")
    assert "5 × C9300-DNA-A-48" in event.message and va.name in event.message
    assert_ledger_consistent()


def test_a_line_is_converted_in_parts_but_never_beyond_its_quantity(account, catalog):
    pak = make_pak(account, [(catalog["sku_dna"], 5)], number="3PAK-0002")
    va = default_va(account)
    convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"C9300-DNA-A-48": 2})
    convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"c9300-dna-a-48": 2})
    with pytest.raises(ValidationError) as refused:
        convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"C9300-DNA-A-48": 2})
    assert refused.value.messages == ["PAK 3PAK-0002, SKU C9300-DNA-A-48: only 1 unit is left to convert, not 2."]
    convert_pak(actor=account.created_by, pak=pak, virtual_account=va)
    with pytest.raises(ValidationError, match="PAK 3PAK-0002 has been converted completely"):
        convert_pak(actor=account.created_by, pak=pak, virtual_account=va)
    assert balance(va, catalog["dna"]).purchased == 10
    assert_ledger_consistent()


def test_unknown_skus_and_bad_quantities_are_refused(account, catalog):
    pak = make_pak(account, [(catalog["sku_dna"], 5)], number="3PAK-0003")
    va = default_va(account)
    with pytest.raises(ValidationError, match="SKU NOPE is not on PAK 3PAK-0003"):
        convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"NOPE": 1})
    with pytest.raises(ValidationError, match="enter a whole number of units"):
        convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"C9300-DNA-A-48": -1})
    with pytest.raises(ValidationError, match="Enter how many units to convert for at least one line"):
        convert_pak(actor=account.created_by, pak=pak, virtual_account=va, lines={"C9300-DNA-A-48": 0})
    assert PakLine.objects.get(pak=pak).converted_quantity == 0


def test_an_owned_pak_is_converted_only_by_its_owner(account, other_account, catalog):
    pak = make_pak(other_account, [(catalog["sku_dna"], 5)], number="3PAK-0004")
    with pytest.raises(ValidationError, match="can only be converted by the Smart Account that owns it"):
        convert_pak(actor=account.created_by, pak=pak, virtual_account=default_va(account))
    with pytest.raises(ValidationError) as refused:
        claim_pak(actor=account.created_by, smart_account=account, number="3PAK-0004")
    assert refused.value.messages == [NO_SUCH_PAK]
    assert Pak.objects.get(pk=pak.pk).owner == other_account


def test_an_unowned_pak_is_claimed_once_by_entering_its_number(account, other_account, catalog):
    pak = make_pak(None, [(catalog["sku_dna"], 5)], number="3PAK-0005")
    claimed = claim_pak(actor=account.created_by, smart_account=account, number="  3pak-0005 ")
    assert claimed.pk == pak.pk
    pak.refresh_from_db()
    assert pak.owner == account and pak.claimed_by == account.created_by and pak.claimed_at
    assert Event.objects.filter(smart_account=account, action="pak.claimed").count() == 1
    # Entering it again finds it; another account now gets the neutral refusal.
    assert claim_pak(actor=account.created_by, smart_account=account, number="3PAK-0005").pk == pak.pk
    assert Event.objects.filter(smart_account=account, action="pak.claimed").count() == 1
    with pytest.raises(ValidationError) as refused:
        claim_pak(actor=other_account.created_by, smart_account=other_account, number="3PAK-0005")
    assert refused.value.messages == [NO_SUCH_PAK]


def test_an_unknown_pak_number_gets_the_same_neutral_refusal(account):
    with pytest.raises(ValidationError) as refused:
        claim_pak(actor=account.created_by, smart_account=account, number="3PAK-DOES-NOT-EXIST")
    assert refused.value.messages == [NO_SUCH_PAK]
    with pytest.raises(ValidationError, match="Enter the PAK number"):
        claim_pak(actor=account.created_by, smart_account=account, number="   ")


def test_converting_an_unowned_pak_claims_it_for_the_account(account, catalog):
    pak = make_pak(None, [(catalog["sku_dna"], 1)], number="3PAK-0006")
    convert_pak(actor=account.created_by, pak=pak, virtual_account=default_va(account))
    pak.refresh_from_db()
    assert pak.owner == account


def test_converting_needs_the_user_role_on_the_virtual_account(account, catalog):
    pak = make_pak(account, [(catalog["sku_dna"], 5)])
    lab = make_va(account, "Lab")
    finance = make_va(account, "Finance")
    viewer = grant(make_user("viewer@acme.example.com"), "viewer", account=account)
    lab_user = grant(make_user("lab@acme.example.com"), "user", va=lab)
    with pytest.raises(PermissionDenied):
        convert_pak(actor=viewer, pak=pak, virtual_account=lab)
    with pytest.raises(PermissionDenied):
        convert_pak(actor=lab_user, pak=pak, virtual_account=finance)
    with pytest.raises(PermissionDenied):
        claim_pak(actor=viewer, smart_account=account, number=pak.number)
    convert_pak(actor=lab_user, pak=pak, virtual_account=lab, lines={pak.lines.get().sku.code: 1})
    assert balance(lab, catalog["dna"]).purchased == 2


def test_a_partner_holding_account_does_not_convert_paks(catalog):
    partner = make_partner()
    pak = make_pak(None, [(catalog["sku_dna"], 1)])
    with pytest.raises(ValidationError, match="PAKs are converted into Customer or Limited Use accounts"):
        convert_pak(actor=partner.created_by, pak=pak, virtual_account=default_va(partner))
    with pytest.raises(ValidationError, match="PAKs are converted into Customer or Limited Use accounts"):
        claim_pak(actor=partner.created_by, smart_account=partner, number=pak.number)
    assert Pak.objects.get(pk=pak.pk).owner is None


def test_a_limited_use_account_converts_paks(catalog):
    limited = make_account(kind="limited_use")
    pak = make_pak(limited, [(catalog["sku_dna"], 1)])
    convert_pak(actor=limited.created_by, pak=pak, virtual_account=default_va(limited))
    assert balance(default_va(limited), catalog["dna"]).purchased == 2
