"""The workflow demo data: what `make run` shows, made twice without change."""

import pytest
from django.core.management import call_command

from licensing.models import HandOver, Pak, Reservation
from smartaccounts.models import SmartAccount

from .helpers import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_the_demo_has_held_orders_a_pending_hand_over_paks_and_an_slr_and_runs_twice(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "pete.sales@globex.example.net" in out
    partner = SmartAccount.objects.get(domain="globex.example.net")
    customer = SmartAccount.objects.get(domain="acme.example.com")
    [hand_over] = HandOver.objects.filter(partner_account=partner)
    assert hand_over.status == HandOver.Status.PENDING and hand_over.customer_account == customer
    assert hand_over.lines.count() == 2
    assert Pak.objects.filter(owner=customer).count() == 2 and Pak.objects.filter(owner__isnull=True).count() == 2
    assert Pak.objects.get(number="3PAK-DEMO-4711-0001").lines.filter(converted_quantity=4).count() == 1
    assert customer.license_reservation_enabled
    [reservation] = Reservation.objects.all()
    assert reservation.status == Reservation.Status.ACTIVE and reservation.virtual_account.name == "Data Center"
    assert_ledger_consistent()
