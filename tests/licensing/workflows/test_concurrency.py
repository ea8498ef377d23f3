"""Races on PostgreSQL, in separate OS processes: hand-overs decided twice at once, PAK lines converted
twice at once, the same held licenses handed over twice at once. Exactly one side wins each time,
nothing is created or lost, and the ledger stays consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from licensing.models import HandOver, LicenseLot, PakLine
from licensing.services import transfer_to_customer
from tests.factories import default_va, make_account

from .helpers import assert_ledger_consistent, balance, held, make_license, make_order, make_pak, make_partner, make_sku

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[3]


def race(tmp_path: Path, sides: list[tuple[str, dict]]) -> list[list[dict]]:
    """Start one process per side, let them all go at once, return each side's results."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "PYTHONUNBUFFERED": "1",
    }
    go = tmp_path / "go"
    processes = []
    for n, (action, args) in enumerate(sides):
        ready = tmp_path / f"ready-{n}"
        command = [
            sys.executable,
            "-m",
            "tests.licensing.workflows.race",
            str(ready),
            str(go),
            action,
            json.dumps(args),
        ]
        processes.append((ready, subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                                                  stderr=subprocess.PIPE, text=True)))  # fmt: skip
    deadline = time.monotonic() + 90
    while not all(ready.exists() for ready, _ in processes):
        failed = [p for _, p in processes if p.poll() is not None]
        if failed or time.monotonic() > deadline:
            raise RuntimeError(f"a racer did not start: {failed[0].communicate() if failed else 'timeout'}")
        time.sleep(0.02)
    go.write_text("go")
    results = []
    for _, process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_accept_and_cancel_at_once_exactly_one_wins_and_nothing_is_lost(postgres, tmp_path):
    partner = make_partner()
    customer = make_account(name="Globex", domain="globex.example.com")
    license = make_license()
    order = make_order(partner, [(make_sku(license), 100)])
    line = order.lines.get()
    hand_overs = [
        transfer_to_customer(actor=partner.created_by, order_lines={line: 5}, customer_account=customer).pk
        for _ in range(12)
    ]
    accepts, cancels = race(
        tmp_path,
        [
            ("accept", {"actor": customer.created_by.pk, "va": default_va(customer).pk, "items": hand_overs}),
            ("cancel", {"actor": partner.created_by.pk, "items": hand_overs}),
        ],
    )
    accepted = {r["item"] for r in accepts if r.get("ok")}
    cancelled = {r["item"] for r in cancels if r.get("ok")}
    assert accepted.isdisjoint(cancelled) and accepted | cancelled == set(hand_overs)
    for r in accepts + cancels:
        if not r.get("ok"):
            assert "can no longer be" in r["error"]
    statuses = dict(HandOver.objects.filter(pk__in=hand_overs).values_list("pk", "status"))
    assert {pk for pk, s in statuses.items() if s == "accepted"} == accepted
    assert {pk for pk, s in statuses.items() if s == "cancelled"} == cancelled
    assert balance(default_va(customer), license).purchased == 5 * len(accepted)
    assert held(partner, line) == 100 - 5 * len(accepted)
    assert not LicenseLot.objects.filter(in_transit__isnull=False, quantity__gt=0).exists()
    assert_ledger_consistent()


def test_two_conversions_of_one_pak_line_at_once_never_exceed_its_quantity(postgres, tmp_path, account):
    license = make_license()
    sku = make_sku(license, per_unit=2)
    paks = [make_pak(account, [(sku, 10)]) for _ in range(8)]
    items = [{"pak": pak.pk, "lines": {sku.code: 6}} for pak in paks]
    args = {"actor": account.created_by.pk, "va": default_va(account).pk, "items": items}
    first, second = race(tmp_path, [("convert", args), ("convert", args)])
    for a, b in zip(first, second, strict=True):
        assert bool(a.get("ok")) != bool(b.get("ok")), (a, b)
        loser = b if a.get("ok") else a
        assert "only 4 units are left to convert, not 6" in loser["error"]
    assert set(PakLine.objects.filter(pak__in=paks).values_list("converted_quantity", flat=True)) == {6}
    assert balance(default_va(account), license).purchased == 8 * 6 * 2
    assert_ledger_consistent()


def test_two_hand_overs_of_the_same_held_licenses_at_once_never_hand_over_more_than_is_held(postgres, tmp_path):
    partner = make_partner()
    customer = make_account(name="Globex", domain="globex.example.com")
    license = make_license()
    lines = [make_order(partner, [(make_sku(license), 10)]).lines.get() for _ in range(6)]
    items = [{"line": line.pk, "quantity": 7} for line in lines]
    args = {"actor": partner.created_by.pk, "customer": customer.pk, "items": items}
    first, second = race(tmp_path, [("transfer", args), ("transfer", args)])
    for a, b in zip(first, second, strict=True):
        assert bool(a.get("ok")) != bool(b.get("ok")), (a, b)
        assert "only 3 licenses are still held, not 7" in (b if a.get("ok") else a)["error"]
    for line in lines:
        assert held(partner, line) == 3
    assert HandOver.objects.count() == 6
    assert_ledger_consistent()
