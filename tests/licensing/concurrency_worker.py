"""A worker process for the PostgreSQL concurrency tests (run with `python -m`).

    python -m tests.licensing.concurrency_worker transfers ACCOUNT_ID SEED COUNT
    python -m tests.licensing.concurrency_worker deposit ORDER_ID
    python -m tests.licensing.concurrency_worker register TOKEN PREFIX COUNT

Prints one JSON line: what it did and every unexpected error (a deadlock would show here).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")


def main(argv: list[str]) -> dict:
    import django

    django.setup()
    from django.core.exceptions import ValidationError
    from django.db import connection

    from licensing.models import License, Order, ProductInstance
    from licensing.services import (
        deposit_order,
        register_product_instance,
        transfer_licenses,
        transfer_product_instances,
    )
    from smartaccounts.models import SmartAccount, VirtualAccount

    mode, *args = argv
    report = {"mode": mode, "ok": 0, "refused": 0, "errors": []}
    # Start together: every worker waits for the same wall-clock instant.
    start_at = float(os.environ.get("START_AT", "0"))
    if start_at:
        time.sleep(max(0.0, start_at - time.time()))
    try:
        if mode == "transfers":
            account = SmartAccount.objects.get(pk=int(args[0]))
            rng = random.Random(int(args[1]))
            vas = list(VirtualAccount.objects.filter(smart_account=account, deleted_at__isnull=True))
            licenses = list(License.objects.filter(balances__smart_account=account).distinct())
            actor = account.created_by
            for _ in range(int(args[2])):
                try:
                    if rng.random() < 0.2:
                        instances = list(
                            ProductInstance.objects.filter(smart_account=account, status="active").order_by("?")[:3]
                        )
                        transfer_product_instances(actor=actor, product_instances=instances, target=rng.choice(vas))
                    else:
                        source, target = rng.sample(vas, 2)
                        transfer_licenses(
                            actor=actor,
                            source=source,
                            target=target,
                            license=rng.choice(licenses),
                            quantity=rng.randint(1, 8),
                        )
                    report["ok"] += 1
                except ValidationError:
                    report["refused"] += 1
        elif mode == "deposit":
            order = Order.objects.get(pk=int(args[0]))
            deposit_order(order=order)
            report["ok"] += 1
        elif mode == "register":
            token, prefix, count = args[0], args[1], int(args[2])
            for n in range(count):
                try:
                    register_product_instance(token=token, pid="C9300-48P", serial_number=f"{prefix}{n:03d}")
                    report["ok"] += 1
                except ValidationError as error:
                    report["refused"] += 1
                    report.setdefault("codes", []).append(error.code)
    except Exception as exc:  # reported to the test, which fails on any
        report["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    return report


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
