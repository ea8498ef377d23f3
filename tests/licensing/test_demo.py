"""The licensing demo data: orders across VAs, 200+ devices with usage, shortages, expiring terms; idempotent."""

import io

import pytest
from django.core.management.color import no_style
from django.utils import timezone

from licensing import demo as licensing_demo
from licensing.models import LedgerEntry, LicenseBalance, LicenseLot, Order, ProductInstance
from smartaccounts import demo as accounts_demo
from smartaccounts.demo import DemoContext

from .helpers import assert_ledger_clean

pytestmark = pytest.mark.django_db


def seed() -> DemoContext:
    context = DemoContext(stdout=io.StringIO(), style=no_style())
    accounts_demo.seed(context)
    licensing_demo.seed(context)
    return context


def test_the_demo_has_orders_devices_shortages_and_expiring_terms():
    context = seed()
    customer = context.objects.get("customer") or Order.objects.first().smart_account
    deposited = Order.objects.filter(smart_account=customer, status="deposited")
    assert deposited.count() >= 6
    assert deposited.values("virtual_account").distinct().count() >= 3
    instances = ProductInstance.objects.filter(smart_account=customer).exclude(status="removed")
    assert instances.count() >= 200
    assert instances.filter(usage__isnull=False).distinct().count() >= 200
    short = [b for b in LicenseBalance.objects.filter(smart_account=customer) if b.balance < 0]
    assert short, "the demo shows some shortages"
    soon = timezone.localdate() + timezone.timedelta(days=90)
    assert LicenseLot.objects.filter(smart_account=customer, quantity__gt=0, end_date__lte=soon).exists()
    assert LedgerEntry.objects.filter(kind="expiry", smart_account=customer).exists()
    assert len(context.objects["instances"]) >= 200 and context.objects["tokens"]
    assert_ledger_clean()


def test_seeding_twice_changes_nothing():
    seed()
    counts = (ProductInstance.objects.count(), Order.objects.count(), LedgerEntry.objects.count())
    trust_codes = dict(ProductInstance.objects.values_list("pk", "trust_code"))
    seed()
    assert (ProductInstance.objects.count(), Order.objects.count(), LedgerEntry.objects.count()) == counts
    assert dict(ProductInstance.objects.values_list("pk", "trust_code")) == trust_codes
