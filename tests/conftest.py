"""Fixtures shared by the whole suite.

Service fixtures (`postgres`, `redis_url`, `celery_worker_process`, `celery_worker_factory`) skip when their service is
not configured, unless REQUIRE_SERVICES is set: then a missing service fails the test, so
CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false", "no")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytest_plugins = ["tests.factories"]


def pytest_report_header(config):
    db = settings.DATABASES["default"]
    broker = "eager (in-process)" if settings.CELERY_TASK_ALWAYS_EAGER else settings.CELERY_BROKER_URL
    return [
        f"database engine: {db['ENGINE']} ({db.get('HOST') or 'file'} {db.get('NAME')})",
        f"celery broker: {broker}",
        f"REQUIRE_SERVICES: {'yes' if REQUIRE_SERVICES else 'no'}",
    ]


def missing_service(reason: str):
    """Skip, or fail when the run requires every service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES is set but {reason}")
    pytest.skip(reason)


def is_postgresql() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


@pytest.fixture
def postgres():
    """Use in tests that need PostgreSQL (row locks, advisory locks, several processes)."""
    if not is_postgresql():
        missing_service("DATABASE_URL is not a PostgreSQL database")


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        missing_service("REDIS_URL is not set")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # pragma: no cover - depends on the machine
        missing_service(f"Redis at {url} does not answer: {exc}")
    return url


@pytest.fixture(autouse=True)
def _token_endpoint_limit_off(settings):
    """Every test asks the token endpoints from one address (127.0.0.1) in one cache: their per-address
    limit is off unless a test sets it (tests/api/test_oauth.py does, with an address of its own)."""
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api_token": None}


@pytest.fixture(autouse=True)
def _celery_eager_by_default(request):
    """Tests run tasks in-process unless they ask for the real worker."""
    if {"celery_worker_process", "celery_worker_factory"} & set(request.fixturenames):
        yield
        return
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


class CeleryWorker:
    """A real `celery worker` process on Redis, against the test's PostgreSQL database, consuming `queue`."""

    def __init__(self, queue: str, redis_url: str, *, number: int = 1, env: dict | None = None, pool: str = "solo"):
        self.queue = queue
        label = queue if number == 1 else f"{queue}-{number}"
        self.name = f"{label}@%h"
        db = connection.settings_dict
        environment = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.test_settings",
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "REDIS_URL": redis_url,
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.log_path = REPO / "var" / f"worker-{label}.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", f"--pool={pool}", "--concurrency=1",
             "--without-gossip", "--without-mingle", "--loglevel=INFO", "-Q", queue, "-n", self.name],
            cwd=REPO, env=environment, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        node = self.name.replace("%h", os.uname().nodename)
        while not celery_app.control.ping(destination=[node], timeout=1.0):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._log.flush()
                raise RuntimeError(f"The Celery worker did not start:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL to the whole worker (its process group): nothing is acknowledged or cleaned up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture
def celery_worker_factory(redis_url, postgres, transactional_db):
    """Start real workers on one queue of this test's own (a stray worker elsewhere cannot take its tasks);
    tasks sent with `.delay()` go there. Yields `start(env=None, pool="solo") -> CeleryWorker`."""
    queue = f"test-{uuid.uuid4().hex[:10]}"
    workers: list[CeleryWorker] = []

    def start(env: dict | None = None, pool: str = "solo", wait: bool = True) -> CeleryWorker:
        worker = CeleryWorker(queue, redis_url, number=len(workers) + 1, env=env, pool=pool)
        workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    start.queue = queue
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        yield start
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        for worker in workers:
            worker.stop()


@pytest.fixture
def celery_worker_process(celery_worker_factory):
    """A real `celery worker` process on Redis, against this test's PostgreSQL database.

    It consumes a queue of its own, so a stray worker elsewhere cannot take its tasks.
    Yields the queue name; tasks sent with `.delay()` go there.
    """
    celery_worker_factory()
    yield celery_worker_factory.queue


def _reconnect_celery() -> None:
    """Forget the app's broker connection pool and result backend: the next send takes them for its settings.

    Nothing is closed: kombu keeps one pool per broker URL for the process, and the real broker's is used
    again once the settings are back."""
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    celery_app._backend_cache = None
    celery_app._local.__dict__.pop("backend", None)


@pytest.fixture(params=["silent", "refused"])
def unreachable_broker(request):
    """Celery on a real Redis URL nothing answers on, as when Redis is down: "silent" accepts connections and
    never replies (a hung server, a dropped network path), "refused" has nothing listening. Yields the URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if request.param == "silent":
        listener.listen(64)  # the kernel completes the handshakes; nobody ever reads or answers
    else:
        listener.close()  # the port is free again: connections are refused
    url = f"redis://127.0.0.1:{port}/0"
    names = ("broker_url", "result_backend", "task_always_eager")
    previous = {name: celery_app.conf[name] for name in names}
    celery_app.conf.update(broker_url=url, result_backend=url, task_always_eager=False)
    _reconnect_celery()
    try:
        yield url
    finally:
        celery_app.conf.update(previous)
        _reconnect_celery()
        listener.close()


# --- Browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright (never a downloaded browser); every launch has a fresh profile."""
    if not Path(CHROMIUM).exists():
        missing_service(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--disable-quic",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server):
    """A fresh browser context (no cookies) on the live server."""
    context = chromium.new_context(base_url=live_server.url, accept_downloads=True)
    context.set_default_timeout(15_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True, scope="session")
def _var_dir():
    (REPO / "var").mkdir(exist_ok=True)
    yield


def which(cmd: str) -> str | None:
    return shutil.which(cmd)
