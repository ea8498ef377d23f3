"""The ledger: lots taken longest term first and split, nothing created or lost, the database's
refusals, the instance locking rule, and `verify_ledger` catching hand-made corruption."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from licensing import ledger
from licensing.models import LedgerEntry, LicenseAccountTotal, LicenseBalance, LicenseLot, ProductInstance
from licensing.services import transfer_licenses, transfer_product_instances
from licensing.verification import verify_ledger
from tests.factories import default_va, make_va

from .helpers import assert_ledger_clean, balance, deposit, make_license, register

pytestmark = pytest.mark.django_db


@pytest.fixture
def vas(account):
    return make_va(account, "Source"), make_va(account, "Target")


def test_transfers_take_the_longest_term_first_and_split_lots(account, vas):
    source, target = vas
    term = make_license("Catalyst 9300 DNA Essentials", license_type="term")
    deposit(source, term, 5, end=dt.date(2027, 1, 31))
    deposit(source, term, 5, end=dt.date(2029, 1, 31))
    transfer_licenses(actor=account.created_by, source=source, target=target, license=term, quantity=7)
    moved = sorted(LicenseLot.objects.filter(virtual_account=target).values_list("end_date", "quantity"))
    assert moved == [(dt.date(2027, 1, 31), 2), (dt.date(2029, 1, 31), 5)]
    left = list(LicenseLot.objects.filter(virtual_account=source, quantity__gt=0).values_list("end_date", "quantity"))
    assert left == [(dt.date(2027, 1, 31), 3)]
    # The source lots keep their origin (order line), so the target's lots name the same orders.
    assert set(LicenseLot.objects.filter(virtual_account=target).values_list("order_line", flat=True)) == set(
        LicenseLot.objects.filter(virtual_account=source).values_list("order_line", flat=True)
    )
    out, into = LedgerEntry.objects.filter(kind="transfer_out"), LedgerEntry.objects.filter(kind="transfer_in")
    assert sum(e.quantity for e in out) == -7 and sum(e.quantity for e in into) == 7
    assert len({e.movement for e in [*out, *into]}) == 1
    assert_ledger_clean()


def test_perpetual_lots_go_before_any_term(account, vas):
    source, target = vas
    lic = make_license(license_type="term")
    deposit(source, lic, 2, end=dt.date(2030, 1, 1))
    LicenseLot.objects.filter(virtual_account=source).update(end_date=dt.date(2030, 1, 1))
    with transaction.atomic():
        bal = ledger.lock_balances([(account.pk, source.pk, lic.pk)])[(source.pk, lic.pk)]
        ledger.add_to_va(balance=bal, quantity=3, kind="deposit", movement=ledger.new_movement())
    with transaction.atomic():
        balances = ledger.lock_balances([(account.pk, source.pk, lic.pk), (account.pk, target.pk, lic.pk)])
        portions = ledger.take_from_va(
            balance=balances[(source.pk, lic.pk)], quantity=4, kind="transfer_out", movement=ledger.new_movement()
        )
    assert [(p.end_date, p.quantity) for p in portions] == [(None, 3), (dt.date(2030, 1, 1), 1)]


@pytest.mark.django_db(transaction=True)
def test_lock_balances_refuses_to_run_outside_a_transaction(account):
    lic = make_license()
    with pytest.raises(RuntimeError, match="inside transaction.atomic"):
        ledger.lock_balances([(account.pk, default_va(account).pk, lic.pk)])


def test_the_account_totals_follow_every_balance_change(account, vas):
    source, target = vas
    lic = make_license()
    deposit(source, lic, 10)
    register(target, {lic: 4})
    total = LicenseAccountTotal.objects.get(smart_account=account, license=lic)
    assert (total.purchased, total.in_use, total.short_vas) == (10, 4, 1)
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=4)
    total.refresh_from_db()
    assert (total.purchased, total.in_use, total.short_vas) == (10, 4, 0)
    assert_ledger_clean()


def test_bulk_loaders_rebuild_the_account_totals_from_the_balances(account, other_account):
    lic = make_license()
    deposit(default_va(account), lic, 7)
    deposit(default_va(other_account), lic, 3)
    LicenseAccountTotal.objects.all().delete()  # as if the balances had been bulk-loaded
    assert ledger.rebuild_account_totals(smart_account_ids=[account.pk]) == 1
    assert LicenseAccountTotal.objects.get(smart_account=account).purchased == 7
    assert ledger.rebuild_account_totals() == 2
    assert_ledger_clean()


def test_the_database_refuses_a_negative_lot_or_balance(account):
    lic = make_license()
    deposit(default_va(account), lic, 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseLot.objects.update(quantity=-1)
    with pytest.raises(IntegrityError), transaction.atomic():
        LicenseBalance.objects.update(purchased=-1)


def test_ledger_entries_are_append_only(account):
    lic = make_license()
    deposit(default_va(account), lic, 1)
    entry = LedgerEntry.objects.get()
    with pytest.raises(TypeError):
        entry.save()
    with pytest.raises(TypeError):
        LedgerEntry.objects.update(quantity=5)


def test_usage_follows_the_instance_even_through_a_stale_copy(account, vas):
    """The instance row is locked and re-read before its usage changes: a copy loaded before a
    transfer must not charge the VA it has left."""
    source, target = vas
    lic = make_license()
    deposit(source, lic, 5)
    instance = register(source, {lic: 1})
    stale = ProductInstance.objects.get(pk=instance.pk)
    transfer_product_instances(actor=account.created_by, product_instances=[instance], target=target)
    with transaction.atomic():
        ledger.set_instance_usage(stale, {lic.pk: 3})
    assert balance(source, lic).in_use == 0
    assert balance(target, lic).in_use == 3
    assert_ledger_clean()


def test_usage_of_a_removed_instance_never_counts(account):
    lic = make_license()
    va = default_va(account)
    instance = register(va, {lic: 2})
    ProductInstance.objects.filter(pk=instance.pk).update(status="removed")
    with transaction.atomic():
        ledger.set_instance_usage(instance, {lic.pk: 5})
    assert balance(va, lic).in_use == 2  # unchanged: the removed instance's usage is not in the balance


# --- verify_ledger ---------------------------------------------------------------------------------


def test_verify_ledger_is_clean_after_ordinary_work(account, vas, capsys):
    source, target = vas
    lic = make_license()
    deposit(source, lic, 10)
    register(source, {lic: 4})
    transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=6)
    call_command("verify_ledger")
    assert "Ledger consistent" in capsys.readouterr().out


def test_verify_ledger_names_a_hand_corrupted_balance_and_exits_non_zero(account, capsys):
    lic = make_license("Catalyst 9300 Network Advantage")
    va = default_va(account)
    deposit(va, lic, 10)
    register(va, {lic: 2})
    LicenseBalance.objects.filter(virtual_account=va, license=lic).update(purchased=15, in_use=1)
    with pytest.raises(CommandError, match="4 difference"):
        call_command("verify_ledger")
    err = capsys.readouterr().err
    assert "DEFAULT / Catalyst 9300 Network Advantage: purchased is 15, its lots hold 10." in err
    assert "DEFAULT / Catalyst 9300 Network Advantage: in use is 1, its product instances use 2." in err
    # The account total (kept by the ledger, not touched by hand here) no longer matches the VAs either.
    assert (
        "Catalyst 9300 Network Advantage: the account total says purchased 10, its Virtual Accounts add up to 15."
        in err
    )


def test_verify_ledger_catches_a_corrupted_account_total(account):
    lic = make_license("Catalyst 9300 DNA Advantage")
    deposit(default_va(account), lic, 10)
    register(default_va(account), {lic: 12})
    LicenseAccountTotal.objects.update(short_vas=0)
    assert [str(d) for d in verify_ledger()] == [
        "Catalyst 9300 DNA Advantage: the account total says Virtual Accounts short 0, "
        "its Virtual Accounts add up to 1."
    ]


def test_verify_ledger_catches_a_lot_changed_without_an_entry(account):
    lic = make_license()
    va = default_va(account)
    deposit(va, lic, 10)
    LicenseLot.objects.update(quantity=12)
    LicenseBalance.objects.update(purchased=12)  # even with the balance and the total kept in step
    LicenseAccountTotal.objects.update(purchased=12)
    messages = [str(d) for d in verify_ledger()]
    assert len(messages) == 1 and "holds 12, its ledger entries add up to 10" in messages[0]


def test_verify_ledger_catches_a_reserved_count_without_entries(account):
    lic = make_license()
    va = default_va(account)
    deposit(va, lic, 10)
    LicenseBalance.objects.update(reserved=3)
    assert [d.check for d in verify_ledger()] == ["reserved", "total"]


def test_verify_ledger_catches_usage_with_no_balance_row(account):
    lic = make_license()
    va = default_va(account)
    register(va, {lic: 2})
    LicenseBalance.objects.all().delete()
    differences = verify_ledger(smart_account=account)
    assert [d.check for d in differences] == ["in_use", "total", "total"]  # in use, and the VA now short
    assert "has no balance row" in str(differences[0])


def test_verify_ledger_can_check_one_account(account, other_account):
    lic = make_license()
    deposit(default_va(other_account), lic, 1)
    LicenseBalance.objects.filter(smart_account=other_account).update(purchased=9)
    assert verify_ledger(smart_account=account) == []
    call_command("verify_ledger", "--account", account.domain)
    with pytest.raises(CommandError):
        call_command("verify_ledger", "--account", other_account.domain)
