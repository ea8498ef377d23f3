"""Permission resolution: `virtual_accounts_for` for a VA-scoped user on the large tree."""

from __future__ import annotations

import statistics
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext

from smartaccounts.models import SmartAccount, User
from smartaccounts.selectors import virtual_accounts_for


def run(account_id: int, user_email: str, repeats: int = 50) -> dict:
    account = SmartAccount.objects.get(pk=account_id)
    user = User.objects.get(email=user_email)
    list(virtual_accounts_for(user, account, "operate"))  # warm
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        vas = list(virtual_accounts_for(user, account, "operate"))
        timings.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        list(virtual_accounts_for(user, account, "operate"))
    return {
        "virtual_accounts_in_tree": account.virtual_accounts.filter(deleted_at__isnull=True).count(),
        "virtual_accounts_reached": len(vas),
        "queries": len(queries),
        "p50_ms": round(statistics.median(timings), 2),
        "max_ms": round(max(timings), 2),
    }
