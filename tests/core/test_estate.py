"""The benchmark estate: generated consistent (the ledger verifies), and the same for the same seed."""

import pytest
from django.core.management import CommandError, call_command

from licensing.models import LicenseBalance, ProductInstance, ProductInstanceUsage
from licensing.verification import verify_ledger
from policy.models import UsageMeasurement
from smartaccounts.models import SmartAccount, VirtualAccount

pytestmark = pytest.mark.django_db


def test_generated_estate_is_consistent_and_evaluated(postgres):
    call_command("generate_estate", "--scale", "0.005", "--seed", "7", verbosity=0)
    large = SmartAccount.objects.get(domain="megacorp.example.com")
    assert VirtualAccount.objects.filter(smart_account=large).count() >= 8
    instances = ProductInstance.objects.filter(smart_account=large)
    assert instances.count() >= 50
    assert UsageMeasurement.objects.filter(product_instance__smart_account=large).exists()
    assert SmartAccount.objects.filter(domain__endswith=".example.org").count() >= 2
    assert verify_ledger() == []
    # Balances were written by COPY: in use must equal the devices' usage, per VA and license.
    for balance in LicenseBalance.objects.filter(smart_account=large)[:50]:
        used = sum(
            ProductInstanceUsage.objects.filter(
                product_instance__virtual_account_id=balance.virtual_account_id, license_id=balance.license_id
            ).values_list("count", flat=True)
        )
        assert balance.in_use == used
    # The deadlines were evaluated: no device still waits for its first evaluation.
    assert instances.exclude(deadline__next_due_at__isnull=False).count() == 0
    assert set(instances.values_list("deadline__reporting_status", flat=True)) <= {"ok", "due_soon", "overdue"}


def test_tree_written_by_copy_is_a_valid_mptt_tree(postgres):
    call_command("generate_estate", "--scale", "0.005", verbosity=0)
    large = SmartAccount.objects.get(domain="megacorp.example.com")
    before = dict(VirtualAccount.objects.filter(smart_account=large).values_list("pk", "lft"))
    levels = dict(VirtualAccount.objects.filter(smart_account=large).values_list("pk", "level"))
    VirtualAccount.objects.rebuild()
    assert dict(VirtualAccount.objects.filter(smart_account=large).values_list("pk", "lft")) == before
    assert dict(VirtualAccount.objects.filter(smart_account=large).values_list("pk", "level")) == levels
    assert max(levels.values()) <= 5


def test_a_second_estate_in_the_same_database_is_refused(postgres):
    call_command("generate_estate", "--scale", "0.005", verbosity=0)
    with pytest.raises(CommandError, match="already here"):
        call_command("generate_estate", "--scale", "0.005", verbosity=0)


def test_generate_estate_needs_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        with pytest.raises(CommandError, match="PostgreSQL"):
            call_command("generate_estate", "--scale", "0.005", verbosity=0)
        assert not SmartAccount.objects.filter(domain="megacorp.example.com").exists()
    else:
        call_command("generate_estate", "--scale", "0.005", verbosity=0)
        assert SmartAccount.objects.filter(domain="megacorp.example.com").exists()
