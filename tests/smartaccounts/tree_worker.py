"""A process that hammers Virtual Account trees through the services (used by test_concurrency.py).

    python -m tests.smartaccounts.tree_worker SEED OPS ACCOUNT_ID [ACCOUNT_ID ...]

Needs DJANGO_SETTINGS_MODULE and DATABASE_URL (the test database). Prints one JSON line:
{"created": [[account_id, name], ...], "deleted": [...], "moved": n, "refused": n}.
"""

from __future__ import annotations

import json
import random
import sys


def main(seed: int, ops: int, account_ids: list[int]) -> dict:
    import django

    django.setup()
    from django.core.exceptions import ValidationError

    from smartaccounts import services
    from smartaccounts.models import SmartAccount, VirtualAccount

    rng = random.Random(seed)
    accounts = {a.pk: a for a in SmartAccount.objects.filter(pk__in=account_ids).select_related("created_by")}
    result = {"created": [], "deleted": [], "moved": 0, "refused": 0}
    mine: list[VirtualAccount] = []
    for i in range(ops):
        account = accounts[rng.choice(account_ids)]
        admin = account.created_by
        live = list(VirtualAccount.objects.filter(smart_account=account, deleted_at__isnull=True))
        op = rng.random()
        try:
            if op < 0.45 or not live:
                parent = rng.choice(live) if live and rng.random() < 0.8 else None
                name = f"w{seed}-{i}"
                va = services.create_virtual_account(actor=admin, smart_account=account, name=name, parent=parent)
                mine.append(va)
                result["created"].append([account.pk, name])
            elif op < 0.9:
                va = rng.choice(live)
                parent = rng.choice(live + [None])
                services.move_virtual_account(actor=admin, virtual_account=va, parent=parent)
                result["moved"] += 1
            else:
                candidates = [va for va in mine if va.smart_account_id == account.pk and not va.is_deleted]
                if not candidates:
                    continue
                va = rng.choice(candidates)
                services.delete_virtual_account(actor=admin, virtual_account=va)
                mine.remove(va)
                result["deleted"].append([account.pk, va.name])
        except ValidationError:
            # Under itself, already gone, holds children: the rules refuse it, nothing was written.
            result["refused"] += 1
    return result


if __name__ == "__main__":
    seed, ops, *ids = (int(a) for a in sys.argv[1:])
    print(json.dumps(main(seed, ops, ids)))
