"""One side of a race: runs a workflow service in its own OS process (PostgreSQL concurrency tests).

    python -m tests.licensing.workflows.race READY_FILE GO_FILE ACTION 'JSON'

Django starts, READY_FILE is written, and the process waits for GO_FILE so that every racer starts
at the same moment; then it runs ACTION on each item in turn and prints one JSON list of results:
{"item": ..., "ok": true} or {"item": ..., "error": "the ValidationError's message"}.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> None:
    ready, go, action, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    import django

    django.setup()
    from django.core.exceptions import ValidationError

    from licensing import services
    from licensing.models import HandOver, OrderLine, Pak
    from smartaccounts.models import SmartAccount, User, VirtualAccount

    actor = User.objects.get(pk=args["actor"])

    def run(item):
        if action == "accept":
            va = VirtualAccount.objects.get(pk=args["va"])
            services.accept_hand_over(actor=actor, hand_over=HandOver.objects.get(pk=item), virtual_account=va)
        elif action == "cancel":
            services.cancel_hand_over(actor=actor, hand_over=HandOver.objects.get(pk=item))
        elif action == "convert":
            va = VirtualAccount.objects.get(pk=args["va"])
            services.convert_pak(actor=actor, pak=Pak.objects.get(pk=item["pak"]), virtual_account=va,
                                 lines=item["lines"])  # fmt: skip
        elif action == "transfer":
            services.transfer_to_customer(
                actor=actor,
                order_lines={OrderLine.objects.get(pk=item["line"]): item["quantity"]},
                customer_account=SmartAccount.objects.get(pk=args["customer"]),
            )
        else:
            raise SystemExit(f"unknown action {action}")

    with open(ready, "w") as handle:
        handle.write("ready")
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            raise SystemExit("nobody said go")
        time.sleep(0.002)
    results = []
    for item in args["items"]:
        try:
            run(item)
        except ValidationError as error:
            results.append({"item": item, "error": " ".join(error.messages)})
        else:
            results.append({"item": item, "ok": True})
    print(json.dumps(results))


if __name__ == "__main__":
    main()
