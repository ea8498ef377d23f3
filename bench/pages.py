"""Page timings: server time (the Django request cycle in-process, no network) and SQL query counts; the
floor of a page (the same request cycle for a minimal signed-in page) and where a small page's time goes.

`python -m bench.pages_phase` measures this phase alone (see there)."""

from __future__ import annotations

import gc
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from unittest import mock

from django.contrib.auth.mixins import LoginRequiredMixin
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import path, reverse
from django.views.generic import TemplateView

from licensing.models import LicenseBalance, ProductInstance
from licensing.selectors.instances import _encode
from smartaccounts.mixins import AccountScopedMixin
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


class FloorPage(LoginRequiredMixin, TemplateView):
    """The floor of the pages: a signed-in page of the base template with no data of its own (the header with
    its account switcher), through the same middleware and context processors as every page."""

    template_name = "base.html"


class EmptyAccountPage(AccountScopedMixin, TemplateView):
    """An account page with nothing on it: the account gate (the account and the user's roles), the header,
    the account's tabs."""

    template_name = "base.html"


def _urlpatterns():
    from config import urls

    return [
        *urls.urlpatterns,  # the portal's pages resolve exactly as they do in production
        path("bench/floor/", FloorPage.as_view(), name="bench_floor"),
        path("bench/<int:account_id>/empty/", EmptyAccountPage.as_view(), name="bench_empty_account"),
    ]


# The benchmark's URLconf (ROOT_URLCONF while the pages are measured): the portal's, and the two floor pages.
urlpatterns = _urlpatterns()
handler400 = "config.api.bad_request"
handler404 = "config.api.not_found"
handler500 = "config.api.server_error"
URLCONF = "bench.pages"

FLOOR = "minimal signed-in page (the floor)"
EMPTY_ACCOUNT = "empty account page"
# The small account's pages whose request cycle is taken apart (beside the floor and the empty account page).
BREAKDOWN_PAGES = ("account home", "instances, first page")


class CycleProfile:
    """Where a request's time goes: each middleware, URL resolution and the handler, the view, the context
    processors and the template, each without the SQL it ran; the SQL apart (count and time). Times are
    exclusive (a middleware's excludes the layers inside it) so that they add up to the request."""

    def __init__(self):
        self.stack: list[list] = []  # [label, time spent in frames and SQL inside it]
        self.seconds: dict[str, float] = defaultdict(float)
        self.sql_seconds: dict[str, float] = defaultdict(float)
        self.sql_count: dict[str, int] = defaultdict(int)
        self.order: list[str] = []

    @contextmanager
    def frame(self, label: str):
        if label not in self.order:
            self.order.append(label)
        self.stack.append([label, 0.0])
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            _, inside = self.stack.pop()
            self.seconds[label] += elapsed - inside
            if self.stack:
                self.stack[-1][1] += elapsed

    def timed(self, function, label: str):
        def call(*args, **kwargs):
            with self.frame(label):
                return function(*args, **kwargs)

        return call

    def execute(self, execute, sql, params, many, context):
        """`connection.execute_wrapper`: the query's time goes to SQL, counted against the part that ran it."""
        label = self.stack[-1][0] if self.stack else "outside"
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = time.perf_counter() - start
            self.sql_seconds[label] += elapsed
            self.sql_count[label] += 1
            if self.stack:
                self.stack[-1][1] += elapsed


HANDLER = "URL resolution and the request handler"
VIEW = "view code (access checks, selectors, context)"
TEMPLATE = "template rendering"
PROCESSORS = "context processors"
CLIENT = "test client (request and response objects, signals)"


@contextmanager
def instrumented(client: Client, profile: CycleProfile):
    """The client's request cycle with every part timed into `profile` (the middleware chain is built again
    with a timer around each layer; the view, the template backend and the context processors are wrapped)."""
    from django.core.handlers import base
    from django.template import engines
    from django.template.backends.django import Template

    original_convert = base.convert_exception_to_response

    def convert(get_response):
        inner = original_convert(get_response)
        owner = getattr(get_response, "__self__", get_response)
        label = HANDLER if isinstance(owner, base.BaseHandler) else f"middleware: {type(owner).__name__}"
        return profile.timed(inner, label)

    handler = client.handler
    with mock.patch.object(base, "convert_exception_to_response", convert):
        handler.load_middleware()
    handler._view_middleware = [
        profile.timed(method, f"middleware: {type(method.__self__).__name__}") for method in handler._view_middleware
    ]
    make_view_atomic = handler.make_view_atomic
    handler.make_view_atomic = lambda view: profile.timed(make_view_atomic(view), VIEW)
    engine = engines["django"].engine
    engine.__dict__["template_context_processors"] = tuple(
        profile.timed(processor, PROCESSORS) for processor in engine.template_context_processors
    )
    render = Template.render
    try:
        with (
            mock.patch.object(Template, "render", lambda self, *a, **k: profile.timed(render, TEMPLATE)(self, *a, **k)),
            connection.execute_wrapper(profile.execute),
        ):
            yield
    finally:
        del engine.__dict__["template_context_processors"]
        del handler.make_view_atomic
        handler.load_middleware()


def breakdown(client: Client, url: str, requests: int) -> dict:
    """The mean time per request of each part of the request cycle (ms, without SQL), the SQL apart (queries
    and ms per request, and which part ran them), and the whole request as the benchmark times it."""
    profile = CycleProfile()
    client.get(url)
    total = 0.0
    with instrumented(client, profile):
        client.get(url)  # warm the rebuilt chain
        profile.__init__()
        for _ in range(requests):
            start = time.perf_counter()
            response = client.get(url)
            total += time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    per = 1000 / requests
    parts = [
        {
            "part": label,
            "ms": round(profile.seconds[label] * per, 2),
            "queries": round(profile.sql_count[label] / requests, 1),
            "sql_ms": round(profile.sql_seconds[label] * per, 2),
        }
        for label in profile.order
    ]
    measured = sum(profile.seconds.values()) + sum(profile.sql_seconds.values())
    parts.append({"part": CLIENT, "ms": round((total - measured) * per, 2), "queries": 0, "sql_ms": 0.0})
    return {
        "url": url,
        "requests": requests,
        "total_ms": round(total * per, 2),
        "sql_ms": round(sum(profile.sql_seconds.values()) * per, 2),
        "queries": round(sum(profile.sql_count.values()) / requests, 1),
        "parts": parts,
    }


def run(large: SmartAccount, small: SmartAccount, requests: int = 20) -> dict:
    """Every page as the large account's Admin and a small account's, with the floors; and where the small
    account's time goes on the floors and `BREAKDOWN_PAGES`. `{"pages": rows, "page_floor": ...,
    "page_breakdown": ...}` (the keys of the results)."""
    with override_settings(ROOT_URLCONF=URLCONF):
        return _run(large, small, requests)


def _run(large: SmartAccount, small: SmartAccount, requests: int) -> dict:
    # As a web worker after loading (config/wsgi.py): what exists now stays out of the cyclic garbage
    # collector's walks, here also what generating the estate left in this process.
    gc.collect()
    gc.freeze()
    rows = []
    results = {}
    floors = {}
    clients = {}
    for label, account in (("large", large), ("small", small)):
        admin = User.objects.get(email=f"admin@{account.domain}")
        client = clients[label] = Client()
        client.force_login(admin)
        for name, url in floor_urls(account).items():
            floors[(label, name)] = time_page(client, url, requests)
        for page, url in page_urls(account).items():
            results[(label, page)] = time_page(client, url, requests)
    floor_large, floor_small = floors[("large", FLOOR)]["p95_ms"], floors[("small", FLOOR)]["p95_ms"]
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
                "large_floor_ratio": round(big["p95_ms"] / max(floor_large, 0.1), 2),
                "small_floor_ratio": round(little["p95_ms"] / max(floor_small, 0.1), 2),
                "requests": requests,
            }
        )
    floor = [
        {
            "page": name,
            "large_p50_ms": floors[("large", name)]["p50_ms"],
            "large_p95_ms": floors[("large", name)]["p95_ms"],
            "large_queries": floors[("large", name)]["queries"],
            "small_p50_ms": floors[("small", name)]["p50_ms"],
            "small_p95_ms": floors[("small", name)]["p95_ms"],
            "small_queries": floors[("small", name)]["queries"],
        }
        for name in floor_urls(small)
    ]
    small_urls = {**floor_urls(small), **page_urls(small)}
    profiled = {name: small_urls[name] for name in (*floor_urls(small), *BREAKDOWN_PAGES)}
    parts = {name: breakdown(clients["small"], url, requests) for name, url in profiled.items()}
    return {"pages": rows, "page_floor": floor, "page_breakdown": [{"page": k, **v} for k, v in parts.items()]}


def floor_urls(account: SmartAccount) -> dict[str, str]:
    return {
        FLOOR: reverse("bench_floor"),
        EMPTY_ACCOUNT: reverse("bench_empty_account", args=[account.pk]),
    }
