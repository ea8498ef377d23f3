"""`python -m bench.loadtest` (`make loadtest`): throughput under concurrency.

Generates an estate (`--scale`, default 0.05: 100 VAs, 10,000 product instances) in a fresh PostgreSQL
database, then for 1 and for 2 gunicorn worker processes (the production settings: DEBUG off, whitenoise,
Redis for the cache and the rate-limit counters) runs the Locust mix of bench/loadtest/locustfile.py
headless for 60 s, in five steps of 10 to 50 simulated users, then the floor: 50 users asking for the
cheapest authenticated request (one account's detail through the API) as fast as they are answered, for 15 s.
Per step: requests/s, p50/p95 and errors; each figure also as a ratio to the floor of the same run, and the
growth from 1 to 2 workers. `--threads N` runs gunicorn's threaded workers (GUNICORN_THREADS); by default the
workers are what config/gunicorn.conf.py makes of the environment.

Results: bench/results/latest-loadtest.json and .md (and timestamped copies); Locust's own CSV and JSON
statistics in bench/results/loadtest/. The whole run takes about 3-4 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from bench.loadtest.mix import REPORTS_PATH
from bench.loadtest.report import render_throughput

if TYPE_CHECKING:
    from smartaccounts.models import SmartAccount, User

REPO = Path(__file__).resolve().parent.parent.parent
RESULTS = REPO / "bench" / "results"
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
GUNICORN_CONFIG = REPO / "config" / "gunicorn.conf.py"
# Rate limits stay on (their Redis counters are part of each request's cost) but high enough not to refuse:
# the test measures the server, and every simulated device and script comes from 127.0.0.1.
RATE_LIMITS = {"RATE_LIMIT_API": "1000000/minute", "RATE_LIMIT_USAGE_REPORTS": "1000000/minute"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m bench.loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.05, help="Estate size (1.0: 200,000 instances).")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database", default="smartaccounts_loadtest", help="PostgreSQL database to (re)create.")
    parser.add_argument("--server", default=os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432"))
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    parser.add_argument("--workers", default="1,2", help="gunicorn worker counts to run, comma-separated.")
    parser.add_argument(
        "--threads", type=int, default=None, help="Threads per gunicorn worker (GUNICORN_THREADS; default: as set)."
    )
    return parser.parse_args(argv)


def server_environment(database_url: str, redis_url: str) -> dict[str, str]:
    """The production settings on 127.0.0.1 (what gunicorn and this process run with)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "STATIC_ROOT": str(REPO / "var" / "loadtest-static"),
        "PORTAL_SIGNING_KEY_PATH": str(REPO / "var" / "loadtest-keys" / "portal-ed25519.pem"),
        "EMAIL_URL": "consolemail://",
        **RATE_LIMITS,
    }


def configure(database_url: str, redis_url: str) -> None:
    os.environ.update(server_environment(database_url, redis_url))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", verbosity=0, interactive=False)


def account_paths(account_id: int) -> tuple[list[str], list[str]]:
    """The pages a person views and the native API reads a script makes, for one account."""
    from django.urls import reverse

    pages = [
        reverse("account_home", args=[account_id]),
        reverse("licenses", args=[account_id]),
        reverse("instances", args=[account_id]),
        reverse("virtual_accounts", args=[account_id]),
        reverse("account_events", args=[account_id]),
    ]
    api = [reverse("api_licenses", args=[account_id]), reverse("api_product_instances", args=[account_id])]
    return pages, api


def build_plan(admins: list[tuple[SmartAccount, User]]) -> dict:
    """Per account: its Admin signed in (a session) with the pages, and an API client (Viewer) with the API
    reads; the client's secret, for the runner to ask the server for a token."""
    from django.conf import settings
    from django.urls import reverse

    from bench.memory import _session_cookie
    from smartaccounts.models import Role
    from smartaccounts.services.api_clients import create_api_client

    plan: dict = {"sessions": [], "api_clients": []}
    for account, admin in admins:
        pages, api = account_paths(account.pk)
        floor = reverse("api_account", args=[account.pk])
        plan["sessions"].append(
            {"cookie_name": settings.SESSION_COOKIE_NAME, "cookie": _session_cookie(admin), "pages": pages}
        )
        client, secret = create_api_client(actor=None, smart_account=account, name="Load test", role=Role.VIEWER)
        plan["api_clients"].append(
            {"client_id": client.application.client_id, "secret": secret, "paths": api, "floor_path": floor}
        )
    return plan


def write_reports(path: Path, account_id: int, count: int) -> int:
    """`count` signed usage reports (one per active instance of the account, new report ids) as JSON."""
    from bench.ingest import build_reports
    from licensing.models import ProductInstance

    ids = list(
        ProductInstance.objects.filter(smart_account_id=account_id, status="active", trust_code__gt="")
        .order_by("?")
        .values_list("pk", flat=True)[:count]
    )
    reports = build_reports(ids)
    path.write_text(json.dumps(reports))
    return len(reports)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn_settings(workers: int, port: int) -> dict[str, str]:
    """The environment gunicorn runs with: the production config file, with the worker count and the bind."""
    return {**os.environ, "WEB_CONCURRENCY": str(workers), "GUNICORN_BIND": f"127.0.0.1:{port}"}


def gunicorn_workers(env: dict[str, str]) -> dict:
    """What config/gunicorn.conf.py makes of `env`: the worker class (gunicorn's sync worker turns into its
    threaded one, gthread, with more than one thread) and the threads per worker."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        config = runpy.run_path(str(GUNICORN_CONFIG))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    threads = int(config.get("threads", 1))
    worker_class = config.get("worker_class", "sync")
    if worker_class == "sync" and threads > 1:
        worker_class = "gthread"
    return {"worker_class": worker_class, "threads": threads, "keepalive": config.get("keepalive", 2)}


def start_gunicorn(workers: int, port: int, log: Path) -> subprocess.Popen:
    env = gunicorn_settings(workers, port)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(GUNICORN_CONFIG), "--access-logfile", "/dev/null"]
        + ["config.wsgi:application"],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
            return proc
        except urllib.error.HTTPError:
            return proc  # it answers
        except Exception:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise RuntimeError(f"gunicorn did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.3)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch_token(base: str, client_id: str, secret: str) -> str:
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{base}/as/token.oauth2", data=body), timeout=30) as answer:
        return json.loads(answer.read())["access_token"]


def warm_up(base: str, plan: dict) -> None:
    """Each path once per worker's worth of requests, so the first step does not measure start-up."""
    for _ in range(3):
        for session in plan["sessions"]:
            for path in session["pages"]:
                request = urllib.request.Request(
                    base + path, headers={"Cookie": f"{session['cookie_name']}={session['cookie']}"}
                )
                urllib.request.urlopen(request, timeout=60).read()
        for client in plan["api_clients"]:
            for path in client["paths"]:
                request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {client['token']}"})
                urllib.request.urlopen(request, timeout=60).read()


ALONE_ROUNDS = 20


def alone(base: str, plan: dict, reports: list[dict], rounds: int = ALONE_ROUNDS) -> dict[str, float]:
    """p50 ms of each kind of request and of the floor's, asked one at a time (nothing else waiting: what each
    costs unqueued), interleaved round by round so that all meet the same machine."""
    session, client = plan["sessions"][0], plan["api_clients"][0]
    cookie = {"Cookie": f"{session['cookie_name']}={session['cookie']}"}
    bearer = {"Authorization": f"Bearer {client['token']}"}
    times: dict[str, list[float]] = {"floor": [], "pages": [], "API reads": [], "device reports": []}
    for n in range(rounds):
        requests = {
            "floor": urllib.request.Request(base + client["floor_path"], headers=bearer),
            "pages": urllib.request.Request(base + session["pages"][n % len(session["pages"])], headers=cookie),
            "API reads": urllib.request.Request(base + client["paths"][n % len(client["paths"])], headers=bearer),
            "device reports": urllib.request.Request(
                base + REPORTS_PATH,
                data=json.dumps(reports[n]).encode(),
                headers={"Content-Type": "application/json"},
            ),
        }
        for kind, request in requests.items():
            started = time.perf_counter()
            urllib.request.urlopen(request, timeout=60).read()
            times[kind].append((time.perf_counter() - started) * 1000)
    return {kind: round(percentile(values, 0.5), 1) for kind, values in times.items()}


def run_locust(base: str, plan_path: Path, log_path: Path, prefix: Path, *, floor: bool = False) -> None:
    """The mix's steps, or (`floor`) the floor: Locust headless, the users of that phase named."""
    from bench.loadtest import mix

    env = {**os.environ, "LOADTEST_PLAN": str(plan_path), "LOADTEST_LOG": str(log_path)}
    env["LOADTEST_PHASE"] = "floor" if floor else "mix"
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--host", base,
        "--csv", str(prefix), "--json-file", str(prefix), "--only-summary", "--skip-log-setup",
        "--exit-code-on-error", "0", *([mix.FLOOR_USER] if floor else mix.MIX_USERS),
    ]  # fmt: skip
    subprocess.run(command, cwd=REPO, env=env, check=True, timeout=180, stdout=subprocess.DEVNULL)


def percentile(values: list[float], p: float) -> float:
    from bench.pages import percentile as pct

    return pct(values, p) if values else 0.0


KINDS = {"page": "pages", "api": "API reads", "device": "device reports"}


def summarise(lines: list[dict], schedule: list[tuple[int, float, float]]) -> dict:
    """Per step (users, start, end in seconds from the first request): requests/s, p50/p95 and errors; the
    highest requests/s of a step whose p95 stays under P95_TARGET_MS with no error; p95 per kind of request."""
    from bench.loadtest import mix

    t0 = min(line["t"] for line in lines)
    steps = []
    for users, start, end in schedule:
        window = [line for line in lines if start <= line["t"] - t0 < end]
        times = [line["ms"] for line in window]
        steps.append(
            {
                "users": users,
                "requests": len(window),
                "requests_per_second": round(len(window) / (end - start), 1),
                "p50_ms": round(percentile(times, 0.5), 1),
                "p95_ms": round(percentile(times, 0.95), 1),
                "errors": sum(not line["ok"] for line in window),
            }
        )
    kinds: dict[str, list[float]] = {}
    lightest: dict[str, list[float]] = {}
    users, start, end = schedule[0]
    for line in lines:
        kind = line["name"].split(" ")[0]
        kinds.setdefault(kind, []).append(line["ms"])
        if start <= line["t"] - t0 < end:
            lightest.setdefault(kind, []).append(line["ms"])
    within = [s["requests_per_second"] for s in steps if s["p95_ms"] < mix.P95_TARGET_MS and s["errors"] == 0]
    errors = sum(not line["ok"] for line in lines)
    return {
        "requests": len(lines),
        "errors": errors,
        "error_rate": round(errors / max(len(lines), 1), 4),
        "requests_per_second_p95_under_target": max(within, default=0.0),
        "peak_requests_per_second": max(s["requests_per_second"] for s in steps),
        "steps": steps,
        "p95_ms_by_kind": {KINDS[k]: round(percentile(v, 0.95), 1) for k, v in sorted(kinds.items())},
        "requests_by_kind": {k: len(v) for k, v in sorted(kinds.items())},
        # At the lightest step the requests barely wait for each other: near what each kind costs alone.
        "p50_ms_by_kind_lightest_step": {KINDS[k]: round(percentile(v, 0.5), 1) for k, v in sorted(lightest.items())},
    }


def summarise_floor(lines: list[dict]) -> dict:
    """The floor's requests/s (after the users have all started), p50/p95 and errors."""
    from bench.loadtest import mix

    t0 = min(line["t"] for line in lines)
    start, end = mix.FLOOR_SETTLE_SECONDS, mix.FLOOR_SECONDS
    window = [line for line in lines if start <= line["t"] - t0 < end]
    times = [line["ms"] for line in window]
    return {
        "users": mix.STEPS[-1],
        "requests": len(window),
        "requests_per_second": round(len(window) / (end - start), 1),
        "p50_ms": round(percentile(times, 0.5), 1),
        "p95_ms": round(percentile(times, 0.95), 1),
        "errors": sum(not line["ok"] for line in lines),
    }


def run_one(workers: int, plan: dict, account_id: int, out: Path) -> dict:
    from django.db import connection

    from bench.loadtest import mix as locustfile

    load_before = round(os.getloadavg()[0], 2)  # the machine's other work (1-minute load average)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    reports_file = out / f"reports-{workers}w.json"
    write_reports(reports_file, account_id, locustfile.reports_needed() + ALONE_ROUNDS)
    reports = json.loads(reports_file.read_text())  # the last ALONE_ROUNDS are sent one at a time, not by Locust
    reports_file.write_text(json.dumps(reports[:-ALONE_ROUNDS]))
    connection.close()
    proc = start_gunicorn(workers, port, out / f"gunicorn-{workers}w.log")
    try:
        for client in plan["api_clients"]:
            client["token"] = fetch_token(base, client["client_id"], client["secret"])
        warm_up(base, plan)
        alone_p50 = alone(base, plan, reports[-ALONE_ROUNDS:])
        plan_path = out / f"plan-{workers}w.json"
        plan_path.write_text(json.dumps({**plan, "reports_file": str(reports_file)}))
        phases = {}
        for phase in ("mix", "floor"):
            log_path = out / f"requests-{workers}w-{phase}.jsonl"
            server = ServerCpu(proc.pid)
            locust_cpu = _children_cpu_seconds()
            run_locust(base, plan_path, log_path, out / f"locust-{workers}w-{phase}", floor=phase == "floor")
            locust_cpu = _children_cpu_seconds() - locust_cpu
            lines = [json.loads(line) for line in log_path.read_text().splitlines() if line]
            phases[phase] = (lines, server.seconds(), locust_cpu, server.backends)
    finally:
        stop(proc)
    lines, server_cpu, locust_cpu, backends = phases["mix"]
    summary = summarise(lines, locustfile.schedule())
    floor_lines, floor_server_cpu, floor_locust_cpu, _ = phases["floor"]
    floor = summarise_floor(floor_lines)
    floor["p50_ms_alone"] = alone_p50["floor"]
    floor["server_cpu_ms_per_request"] = round(floor_server_cpu * 1000 / max(len(floor_lines), 1), 1)
    floor["locust_cpu_ms_per_request"] = round(floor_locust_cpu * 1000 / max(len(floor_lines), 1), 1)
    return {
        "workers": workers,
        "load_average_before": load_before,
        **summary,
        # CPU the gunicorn workers with their PostgreSQL backends, and the Locust process, spent per request.
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(summary["requests"], 1), 1),
        "database_backends_measured": backends,
        "locust_cpu_ms_per_request": round(locust_cpu * 1000 / max(summary["requests"], 1), 1),
        "p50_ms_alone_by_kind": {kind: ms for kind, ms in alone_p50.items() if kind != "floor"},
        "floor": floor,
        "ratio_to_floor": {
            "p95_under_target": _ratio(summary["requests_per_second_p95_under_target"], floor["requests_per_second"]),
            "peak": _ratio(summary["peak_requests_per_second"], floor["requests_per_second"]),
            # Each kind's p50 asked alone over the floor's: how many of the cheapest request one of them costs.
            "p50_alone_by_kind": {
                kind: _ratio(ms, alone_p50["floor"]) for kind, ms in alone_p50.items() if kind != "floor"
            },
        },
    }


def _ratio(value: float, floor: float) -> float | None:
    return round(value / floor, 2) if value and floor else None


class ServerCpu:
    """CPU seconds the gunicorn master and workers (those that exited too: the master reaps them, their time
    adds to its children's) and their database's PostgreSQL backends spent since this was made. A backend
    that closes before the end is lost (its time is the postmaster's, mixed with other databases')."""

    def __init__(self, master_pid: int):
        self.master = psutil.Process(master_pid)
        self.start_gunicorn = self._gunicorn()
        self.start_backends = self._backends()
        self.backends = 0

    def _gunicorn(self) -> float:
        times = self.master.cpu_times()
        own = times.user + times.system + times.children_user + times.children_system
        return own + _cpu_seconds(self.master.children())

    @staticmethod
    def _backends() -> dict[int, float]:
        return {process.pid: _cpu_seconds([process]) for process in _database_backends()}

    def seconds(self) -> float:
        gunicorn = self._gunicorn() - self.start_gunicorn
        now = self._backends()
        self.backends = len(now)
        return gunicorn + sum(cpu - self.start_backends.get(pid, 0.0) for pid, cpu in now.items())


def _cpu_seconds(processes) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _database_backends() -> list:
    """The PostgreSQL backends of the workers' connections (kept open: CONN_MAX_AGE), where this host runs them."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        )
        pids = [row[0] for row in cursor.fetchall()]
    connection.close()
    backends = []
    for pid in pids:
        try:
            backends.append(psutil.Process(pid))
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return backends


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    if args.threads is not None:
        os.environ["GUNICORN_THREADS"] = str(args.threads)
    from bench.__main__ import _pg_version, fresh_database, generate_estate

    configure(fresh_database(args.server, args.database), args.redis)
    from bench.loadtest import mix as locustfile
    from licensing.estate import EstateSpec

    estate, seconds = generate_estate(EstateSpec().scaled(args.scale), seed=args.seed)
    print(f"Estate generated in {seconds:.1f}s: {estate.counts}", flush=True)
    from smartaccounts.models import SmartAccount, User

    accounts = SmartAccount.objects.filter(pk__in=[estate.large_account_id, estate.small_account_ids[0]])
    plan = build_plan([(a, User.objects.get(email=f"admin@{a.domain}")) for a in accounts.order_by("pk")])
    out = RESULTS / "loadtest"
    out.mkdir(parents=True, exist_ok=True)
    runs = []
    for workers in [int(w) for w in args.workers.split(",")]:
        run = run_one(workers, plan, estate.large_account_id, out)
        print(f"{workers} worker(s): {run}", flush=True)
        runs.append(run)
    counts = estate.counts
    results = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, PostgreSQL {_pg_version()}, Python {sys.version.split()[0]}; "
        "Locust on the same machine",
        "scale": args.scale,
        "estate": counts,
        "estate_text": ", ".join(f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()),
        "mix": ", ".join(
            f"{w} in {sum(locustfile.WEIGHTS.values())} users {n}"
            for n, w in (
                ("browse pages", locustfile.WEIGHTS["PortalUser"]),
                ("send device reports", locustfile.WEIGHTS["DeviceUser"]),
                ("read the API with a Bearer token", locustfile.WEIGHTS["ApiUser"]),
            )
        ),
        "steps_users": list(locustfile.STEPS),
        "step_seconds": locustfile.STEP_SECONDS,
        "requests_per_user": locustfile.REQUESTS_PER_USER,
        "p95_target_ms": locustfile.P95_TARGET_MS,
        "gunicorn": gunicorn_workers(gunicorn_settings(1, 0)),
        "floor_request": "one account's detail through the API (GET /api/v1/accounts/<id>/, an OAuth2 Bearer token)",
        "floor_seconds": locustfile.FLOOR_SECONDS,
        "runs": runs,
    }
    by_workers = {r["workers"]: r for r in runs}
    if 1 in by_workers and 2 in by_workers:
        one, two = by_workers[1], by_workers[2]
        results["growth"] = {
            # None when no step of the 1-worker run met the target: there is no rate to compare.
            "p95_under_target": round(
                two["requests_per_second_p95_under_target"] / one["requests_per_second_p95_under_target"], 2
            )
            if one["requests_per_second_p95_under_target"]
            else None,
            "peak": round(two["peak_requests_per_second"] / max(one["peak_requests_per_second"], 0.1), 2),
            # What a second worker adds to the cheapest request: near 2 when the machine has a core to give it.
            "floor": _ratio(two["floor"]["requests_per_second"], one["floor"]["requests_per_second"]),
        }
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    page = render_throughput(results)
    for name in ("latest-loadtest", f"{stamp}-loadtest"):
        (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2))
        (RESULTS / f"{name}.md").write_text(page)
    print(page)
    print(f"Written: {RESULTS / 'latest-loadtest.json'} and .md ({results['total_seconds']}s in all)")
    failed = any(r["errors"] or r["floor"]["errors"] for r in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
