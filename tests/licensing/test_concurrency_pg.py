"""Concurrency on PostgreSQL, with several OS processes writing at once.

Random license and product instance transfers between the same VAs conserve every license's
total, never drive a balance below zero, never deadlock, and leave `verify_ledger` clean.
Concurrent deposits of one order deposit once; concurrent registrations never pass a token's
maximum uses.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.db.models import Sum

from licensing.models import LedgerEntry, LicenseAccountTotal, LicenseBalance, LicenseLot, ProductInstance
from licensing.services import transfer_licenses
from tests.factories import make_account, make_va

from .helpers import assert_ledger_clean, deposit, make_license, make_order, register, token_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

REPO = Path(__file__).resolve().parents[2]


def run_workers(argvs: list[list[str]], timeout: int = 240) -> list[dict]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "START_AT": str(time.time() + 4),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("REDIS_URL", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.licensing.concurrency_worker", *argv],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def totals() -> dict[int, int]:
    return dict(LicenseBalance.objects.values_list("license_id").annotate(t=Sum("purchased")).order_by())


def test_concurrent_random_transfers_conserve_licenses_and_never_deadlock(postgres):
    account = make_account(name="Concurrent Networks", domain="concurrent.example.com")
    vas = [make_va(account, f"Site {n}") for n in range(5)]
    today = dt.date.today()
    licenses = [make_license("Perpetual A"), make_license("Term B", license_type="term"), make_license("Perpetual C")]
    for n, va in enumerate(vas):
        deposit(va, licenses[0], 30)
        deposit(va, licenses[1], 10, end=today + dt.timedelta(days=100 + 30 * n))
        deposit(va, licenses[1], 10, end=today + dt.timedelta(days=900 + 30 * n))
        if n % 2:
            deposit(va, licenses[2], 15)
    for n, va in enumerate(vas):
        for _ in range(4):
            register(va, {licenses[0]: 2, licenses[n % 2 + 1]: 1})
    before = totals()
    usage_before = ProductInstance.objects.filter(usage__isnull=False).aggregate(n=Sum("usage__count"))["n"]

    reports = run_workers([["transfers", str(account.pk), str(seed), "60"] for seed in range(4)])

    assert [r["errors"] for r in reports] == [[], [], [], []]
    assert all(r["ok"] > 0 for r in reports), reports
    assert totals() == before, "a transfer created or lost licenses"
    assert not LicenseBalance.objects.filter(purchased__lt=0).exists()
    assert not LicenseLot.objects.filter(quantity__lt=0).exists()
    moved = LedgerEntry.objects.filter(kind__in=["transfer_out", "transfer_in"]).aggregate(s=Sum("quantity"))["s"]
    assert moved == 0
    assert LedgerEntry.objects.filter(kind="transfer_out").exists()
    assert ProductInstance.objects.aggregate(n=Sum("usage__count"))["n"] == usage_before
    assert_ledger_clean()


def test_a_transfer_never_waits_on_the_account_total_it_leaves_unchanged(postgres):
    """A transfer inside one account moves no total: another transaction holding the license's
    total row (a deposit, a usage report) does not hold the transfer up."""
    import psycopg2

    account = make_account(name="Total Race", domain="total-race.example.com")
    source, target = make_va(account, "Source"), make_va(account, "Target")
    lic = make_license()
    deposit(source, lic, 10)
    db = connection.settings_dict
    other = psycopg2.connect(
        dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432
    )
    try:
        with other.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {LicenseAccountTotal._meta.db_table} "
                "WHERE smart_account_id = %s AND license_id = %s FOR UPDATE",
                [account.pk, lic.pk],
            )
            assert cursor.fetchall()
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
        try:
            transfer_licenses(actor=account.created_by, source=source, target=target, license=lic, quantity=4)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    finally:
        other.rollback()
        other.close()
    assert LicenseBalance.objects.get(virtual_account=target, license=lic).purchased == 4
    assert_ledger_clean()


def test_concurrent_deposits_of_one_order_deposit_once(postgres):
    account = make_account(name="Deposit Race", domain="deposit-race.example.com")
    lic = make_license()
    order = make_order(account, [(lic, 25)], deposit=False)
    reports = run_workers([["deposit", str(order.pk)] for _ in range(4)])
    assert [r["errors"] for r in reports] == [[], [], [], []]
    assert LicenseBalance.objects.get(license=lic).purchased == 25
    assert LedgerEntry.objects.filter(kind="deposit").count() == 1
    assert_ledger_clean()


def test_concurrent_registrations_never_pass_the_tokens_maximum_uses(postgres):
    account = make_account(name="Token Race", domain="token-race.example.com")
    token = token_for(account.virtual_accounts.get(is_default=True), max_uses=5)
    reports = run_workers([["register", token.token, f"W{n}X", "3"] for n in range(4)])
    assert [r["errors"] for r in reports] == [[], [], [], []]
    assert sum(r["ok"] for r in reports) == 5
    assert ProductInstance.objects.count() == 5
    assert all(code == "token_used_up" for r in reports for code in r.get("codes", []))
    token.refresh_from_db()
    assert token.uses == 5
