"""Page timings: server time (the Django request cycle in-process, no network) and SQL query counts."""

from __future__ import annotations

import gc
import statistics
import time

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from licensing.models import LicenseBalance, ProductInstance
from licensing.selectors.instances import _encode
from smartaccounts.models import SmartAccount, User, VirtualAccount


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def time_page(client: Client, url: str, requests: int) -> dict:
    for _ in range(2):  # warm caches (templates, connection, query plans)
        response = client.get(url)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    timings = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url)
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
        timings.append((time.perf_counter() - start) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {
        "url": url,
        "p50_ms": round(statistics.median(timings), 1),
        "p95_ms": round(percentile(timings, 0.95), 1),
        "queries": len(queries),
        "bytes": len(response.content),
    }


def page_urls(account: SmartAccount) -> dict[str, str]:
    """The pages the benchmark measures, for one account."""
    a = account.pk
    busiest_va = (
        LicenseBalance.objects.filter(smart_account=account)
        .values("virtual_account_id")
        .order_by("virtual_account_id")
        .first()["virtual_account_id"]
    )
    region = VirtualAccount.objects.filter(smart_account=account, parent__isnull=True).order_by("-rght").first()
    instances = ProductInstance.objects.filter(smart_account=account).exclude(status="removed")
    total = instances.count()
    sample = instances.order_by("pk")[total // 2]
    deep = instances.order_by("hostname", "pk")[int(total * 0.8)]
    return {
        "account home": reverse("account_home", args=[a]),
        "VA tree": reverse("virtual_accounts", args=[a]),
        "account licenses (roll-up)": reverse("licenses", args=[a]),
        "one VA's licenses": reverse("va_licenses", args=[a, busiest_va]),
        "VA licenses with subtree": reverse("va_licenses", args=[a, region.pk]) + "?subtree=1",
        "instances, first page": reverse("instances", args=[a]),
        "instances, serial search": reverse("instances", args=[a]) + f"?q={sample.serial_number}",
        "instances, deep page": reverse("instances", args=[a]) + f"?after={_encode(deep)}",
        "alerts": reverse("policy_alerts", args=[a]),
        "event log": reverse("account_events", args=[a]),
    }


def run(large: SmartAccount, small: SmartAccount, requests: int = 20) -> list[dict]:
    # As a web worker after loading (config/wsgi.py): what exists now stays out of the cyclic garbage
    # collector's walks, here also what generating the estate left in this process.
    gc.collect()
    gc.freeze()
    rows = []
    results = {}
    for label, account in (("large", large), ("small", small)):
        admin = User.objects.get(email=f"admin@{account.domain}")
        client = Client()
        client.force_login(admin)
        for page, url in page_urls(account).items():
            results[(label, page)] = time_page(client, url, requests)
    for page in page_urls(large):
        big, little = results[("large", page)], results[("small", page)]
        rows.append(
            {
                "page": page,
                "large_p50_ms": big["p50_ms"],
                "large_p95_ms": big["p95_ms"],
                "large_queries": big["queries"],
                "small_p50_ms": little["p50_ms"],
                "small_p95_ms": little["p95_ms"],
                "small_queries": little["queries"],
                "ratio_p95": round(big["p95_ms"] / max(little["p95_ms"], 0.1), 2),
                "requests": requests,
            }
        )
    return rows
