"""Concurrent license transfers: several processes moving random quantities between random VAs."""

from __future__ import annotations

import multiprocessing
import os
import random
import time

from django.core.exceptions import ValidationError
from django.db import OperationalError, connection
from django.db.models import F, Sum

from licensing.models import License, LicenseBalance
from licensing.verification import verify_ledger
from smartaccounts.models import SmartAccount, User, VirtualAccount


def _totals(account_id: int) -> dict[int, int]:
    return dict(
        LicenseBalance.objects.filter(smart_account_id=account_id)
        .values("license_id")
        .annotate(total=Sum("purchased"))
        .values_list("license_id", "total")
    )


def _worker(args) -> dict:
    # Forked from the benchmark process (Django set up, its connection closed before the fork).
    from licensing.services import transfer_licenses

    account_id, admin_email, transfers, seed, pairs, va_ids = args
    rng = random.Random(seed)
    admin = User.objects.get(email=admin_email)
    vas = {va.pk: va for va in VirtualAccount.objects.filter(pk__in=va_ids).select_related("smart_account")}
    licenses = {lic.pk: lic for lic in License.objects.filter(pk__in={lic for _, lic in pairs})}
    done = refused = retries = deadlocks = errors = 0
    start = time.perf_counter()
    for _ in range(transfers):
        source_id, license_id = rng.choice(pairs)
        target_id = rng.choice(va_ids)
        while target_id == source_id:
            target_id = rng.choice(va_ids)
        for attempt in range(5):
            try:
                transfer_licenses(
                    actor=admin,
                    source=vas[source_id],
                    target=vas[target_id],
                    license=licenses[license_id],
                    quantity=rng.randint(1, 3),
                )
                done += 1
                break
            except ValidationError:
                refused += 1  # not enough available: a correct refusal
                break
            except OperationalError as exc:  # a deadlock or serialization failure: retried
                if "deadlock" in str(exc).lower():
                    deadlocks += 1
                retries += 1
                if attempt == 4:
                    errors += 1
    elapsed = time.perf_counter() - start
    connection.close()
    return {
        "done": done,
        "refused": refused,
        "retries": retries,
        "deadlocks": deadlocks,
        "errors": errors,
        "seconds": elapsed,
    }


def run(account_id: int, admin_email: str, processes: int = 4, transfers: int = 500) -> dict:
    # Transfers among the VAs of a few regions, so processes really meet on the same balance rows.
    pairs = list(
        LicenseBalance.objects.filter(smart_account_id=account_id, purchased__gt=F("in_use") + F("reserved") + 3)
        .order_by("virtual_account_id", "license_id")
        .values_list("virtual_account_id", "license_id")[:400]
    )
    va_ids = sorted({va for va, _ in pairs})
    before = _totals(account_id)
    connection.close()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    ctx = multiprocessing.get_context("fork")
    jobs = [(account_id, admin_email, transfers, 1000 + n, pairs, va_ids) for n in range(processes)]
    with ctx.Pool(processes) as pool:
        wall_start = time.perf_counter()
        results = pool.map(_worker, jobs)
        wall = time.perf_counter() - wall_start
    after = _totals(account_id)
    conservation_errors = sum(1 for lic in before.keys() | after.keys() if before.get(lic) != after.get(lic))
    negatives = LicenseBalance.objects.filter(purchased__lt=0).count()
    differences = verify_ledger(smart_account=SmartAccount.objects.get(pk=account_id))
    attempted = processes * transfers
    done = sum(r["done"] for r in results)
    busiest = max(r["seconds"] for r in results)
    return {
        "processes": processes,
        "transfers_attempted": attempted,
        "transfers_done": done,
        "refused_insufficient": sum(r["refused"] for r in results),
        "transfers_per_second": round(attempted / busiest, 1),
        "wall_seconds_with_startup": round(wall, 2),
        "retries": sum(r["retries"] for r in results),
        "deadlocks": sum(r["deadlocks"] for r in results),
        "unhandled_errors": sum(r["errors"] for r in results),
        "conservation_errors": conservation_errors,
        "negative_balances": negatives,
        "verify_ledger_differences": len(differences),
    }
