"""Compliance: shortages, the proposed fix (largest surplus first, only from VAs the user operates on),
and applying it in one transaction, re-validated."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from licensing.selectors import compliance_proposals, scope_for
from licensing.services import FixMove, apply_compliance_fix, transfer_licenses
from tests.factories import grant, make_user, make_va
from tests.isolation import build_tenant

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def short(account):
    """Lab uses 8 but holds 2 (short 6); Campus has 3 free and Plant 5 free."""
    lab, campus, plant = make_va(account, "Lab"), make_va(account, "Campus"), make_va(account, "Plant")
    lic = make_license("Catalyst 9300 DNA Advantage")
    deposit(lab, lic, 2)
    deposit(campus, lic, 3)
    deposit(plant, lic, 5)
    register(lab, {lic: 8})
    return account, lab, campus, plant, lic


def proposals_for(user, account):
    return compliance_proposals(scope_for(user, account))


def test_every_shortage_is_listed_with_a_fix_from_the_largest_surplus_first(short):
    account, lab, campus, plant, lic = short
    (proposal,) = proposals_for(account.created_by, account)
    assert (proposal.virtual_account, proposal.shortage) == (lab, 6)
    assert [(m.source, m.quantity) for m in proposal.moves] == [(plant, 5), (campus, 1)]
    assert proposal.uncovered == 0


def test_a_fix_only_takes_from_vas_the_user_may_operate_on(short):
    account, lab, campus, plant, lic = short
    user = grant(make_user("lab-lead@acme.example.com"), "user", va=lab)
    grant(user, "user", va=campus)
    grant(user, "viewer", va=plant)
    (proposal,) = proposals_for(user, account)
    assert [(m.source, m.quantity) for m in proposal.moves] == [(campus, 3)]
    assert proposal.uncovered == 3


def test_no_fix_is_proposed_where_the_user_cannot_operate(short):
    account, lab, campus, plant, lic = short
    viewer = grant(make_user("auditor@acme.example.com"), "viewer", account=account)
    (proposal,) = proposals_for(viewer, account)
    assert not proposal.can_operate and proposal.moves == []


def test_applying_a_fix_transfers_and_leaves_no_shortage(short):
    account, lab, campus, plant, lic = short
    (proposal,) = proposals_for(account.created_by, account)
    moved = apply_compliance_fix(actor=account.created_by, smart_account=account, moves=proposal.fix_moves())
    assert moved == 6
    assert (balance(lab, lic).balance, balance(plant, lic).balance, balance(campus, lic).balance) == (0, 0, 2)
    assert proposals_for(account.created_by, account) == []
    assert_ledger_clean()


def test_a_fix_is_re_validated_and_applied_all_or_nothing(short):
    account, lab, campus, plant, lic = short
    (proposal,) = proposals_for(account.created_by, account)
    # Meanwhile someone moves Campus's free licenses away: the second move can no longer happen.
    transfer_licenses(actor=account.created_by, source=campus, target=plant, license=lic, quantity=3)
    with pytest.raises(ValidationError, match="Campus now has only 0"):
        apply_compliance_fix(actor=account.created_by, smart_account=account, moves=proposal.fix_moves())
    assert balance(lab, lic).balance == -6 and balance(plant, lic).purchased == 8  # nothing moved
    assert_ledger_clean()


def test_a_fix_never_overfills_a_shortage(short):
    account, lab, campus, plant, lic = short
    moves = [FixMove(plant.pk, lab.pk, lic.pk, 5), FixMove(campus.pk, lab.pk, lic.pk, 3)]  # 8 for a shortage of 6
    with pytest.raises(ValidationError, match="no longer short of 3"):
        apply_compliance_fix(actor=account.created_by, smart_account=account, moves=moves)
    assert balance(lab, lic).balance == -6


def test_a_fix_cannot_touch_vas_the_user_cannot_operate_on(short):
    account, lab, campus, plant, lic = short
    user = grant(make_user("lab-lead@acme.example.com"), "user", va=lab)
    with pytest.raises(ValidationError, match="cannot operate on"):
        apply_compliance_fix(actor=user, smart_account=account, moves=[FixMove(plant.pk, lab.pk, lic.pk, 5)])


def test_the_compliance_page_explains_and_applies_the_fix_in_one_click(client):
    tenant = build_tenant()
    lic = make_license("Catalyst 9300 Network Essentials")
    deposit(tenant.va_b, lic, 4)
    register(tenant.va_a, {lic: 3})
    client.force_login(tenant.user)
    url = reverse("compliance", args=[tenant.account.pk])
    page = client.get(url).content.decode()
    assert "How fixes are chosen" in page and "the one with the most available first" in page
    assert f"Transfer <strong>3</strong> from {tenant.va_b.name}" in page
    response = client.post(url, {"move": [FixMove(tenant.va_b.pk, tenant.va_a.pk, lic.pk, 3).encode()]}, follow=True)
    assert "Moved 3 licenses in 1 transfer." in response.content.decode()
    assert balance(tenant.va_a, lic).balance == 0
    assert "In compliance" in client.get(url).content.decode()


def test_a_tampered_fix_is_refused(client):
    tenant = build_tenant()
    client.force_login(tenant.user)
    response = client.post(reverse("compliance", args=[tenant.account.pk]), {"move": ["1-2-x"]}, follow=True)
    assert "could not be read" in response.content.decode()
