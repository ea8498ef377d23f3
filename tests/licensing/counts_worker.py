"""A worker process for the instance-count concurrency test (run with `python -m`).

    python -m tests.licensing.counts_worker ACCOUNT_ID WORKER WORKERS COUNT

Makes COUNT random writes to its share of the account's instances (every WORKERS-th one, so workers
never wait for each other's instance rows, only share the VAs and statuses they count), each in its own
transaction of one to three statements (status changes, moves between VAs, removals and returns), and
prints `errors: N` last: every database error it met (a deadlock or a lock wait timeout would show here).
"""

from __future__ import annotations

import os
import random
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")


def main(account_id: int, worker: int, workers: int, count: int) -> int:
    import django

    django.setup()
    from django.db import DatabaseError, connection, transaction

    from licensing.models import InstanceDeadline, ProductInstance
    from smartaccounts.models import VirtualAccount

    rng = random.Random(worker)
    every = ProductInstance.objects.filter(smart_account_id=account_id).order_by("pk").values_list("pk", flat=True)
    ids = list(every)[worker::workers]
    vas = list(VirtualAccount.objects.filter(smart_account_id=account_id).values_list("pk", flat=True))
    statuses = ["ok", "due_soon", "overdue", "not_required"]
    errors = 0
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '10s'")
    for _ in range(count):
        try:
            with transaction.atomic():
                for _ in range(rng.randint(1, 3)):
                    chosen = rng.sample(ids, rng.randint(1, 4))
                    what = rng.random()
                    rows = ProductInstance.objects.filter(pk__in=chosen)
                    if what < 0.5:
                        InstanceDeadline.objects.filter(pk__in=chosen).update(reporting_status=rng.choice(statuses))
                    elif what < 0.8:
                        rows.update(virtual_account_id=rng.choice(vas))
                    else:
                        rows.update(status=rng.choice(["active", "removed"]))
        except DatabaseError as error:
            errors += 1
            print(f"{type(error).__name__}: {error}", flush=True)
    print(f"errors: {errors}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*(int(arg) for arg in sys.argv[1:5])))
