"""`set_instances_usage`: many instances' usage in a fixed number of statements, each balance moved
once by the sum of its instances' differences, the account totals and short VAs kept, nothing else."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from licensing import ledger
from licensing.models import LicenseAccountTotal, ProductInstance, ProductInstanceUsage
from tests.factories import default_va, make_va

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


def usage_of(instance):
    return dict(ProductInstanceUsage.objects.filter(product_instance=instance).values_list("license_id", "count"))


def test_many_instances_change_usage_at_once_and_each_balance_moves_by_the_sum(account):
    lab, branch = default_va(account), make_va(account, "Branch")
    a, b = make_license(), make_license()
    deposit(lab, a, 3)
    deposit(branch, a, 10)
    one, two = register(lab, {a: 1}), register(lab, {a: 1, b: 2})
    three = register(branch, {a: 4})
    with transaction.atomic():
        deltas = ledger.set_instances_usage({one.pk: {a.pk: 2}, two.pk: {a.pk: 1}, three.pk: {a.pk: 1, b.pk: 1}})
    assert deltas == {one.pk: {a.pk: 1}, two.pk: {b.pk: -2}, three.pk: {a.pk: -3, b.pk: 1}}
    assert usage_of(one) == {a.pk: 2} and usage_of(two) == {a.pk: 1} and usage_of(three) == {a.pk: 1, b.pk: 1}
    assert (balance(lab, a).in_use, balance(lab, b).in_use) == (3, 0)
    assert (balance(branch, a).in_use, balance(branch, b).in_use) == (1, 1)
    assert LicenseAccountTotal.objects.get(smart_account=account, license=a).in_use == 4
    # Branch now uses a license it never bought: one short VA in the account's total of `b`.
    assert LicenseAccountTotal.objects.get(smart_account=account, license=b).short_vas == 1
    assert_ledger_clean()


def test_moves_that_cancel_out_leave_the_balance_alone(account):
    va = default_va(account)
    lic = make_license()
    deposit(va, lic, 5)
    up, down = register(va, {lic: 1}), register(va, {lic: 3})
    with transaction.atomic():
        deltas = ledger.set_instances_usage({up.pk: {lic.pk: 3}, down.pk: {lic.pk: 1}})
    assert deltas == {up.pk: {lic.pk: 2}, down.pk: {lic.pk: -2}}
    assert balance(va, lic).in_use == 4
    assert_ledger_clean()


def test_unchanged_instances_and_removed_ones_move_no_balance(account):
    va = default_va(account)
    lic = make_license()
    deposit(va, lic, 5)
    same, removed = register(va, {lic: 2}), register(va, {lic: 1})
    ProductInstance.objects.filter(pk=removed.pk).update(status="removed")
    with transaction.atomic():
        deltas = ledger.set_instances_usage({same.pk: {lic.pk: 2}, removed.pk: {lic.pk: 4}})
    assert deltas == {removed.pk: {lic.pk: 3}}  # its usage row follows; its VA's balance does not
    assert balance(va, lic).in_use == 3


def test_the_statements_do_not_grow_with_the_number_of_instances(account):
    va = default_va(account)
    lic = make_license()
    deposit(va, lic, 100)
    few = [register(va, {lic: 1}) for _ in range(2)]
    many = [register(va, {lic: 1}) for _ in range(12)]
    counts = []
    for instances in (few, many):
        with transaction.atomic(), CaptureQueriesContext(connection) as queries:
            ledger.set_instances_usage({i.pk: {lic.pk: 2} for i in instances})
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]
    assert balance(va, lic).in_use == 28
    assert_ledger_clean()


def test_an_instance_that_does_not_exist_changes_nothing(account):
    va = default_va(account)
    lic = make_license()
    instance = register(va, {lic: 1})
    with pytest.raises(ValueError), transaction.atomic():
        ledger.set_instances_usage({instance.pk: {lic.pk: 2}, instance.pk + 10_000: {lic.pk: 1}})
    assert usage_of(instance) == {lic.pk: 1}
