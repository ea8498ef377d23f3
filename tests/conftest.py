"""Fixtures shared by the whole suite.

Service fixtures (`postgres`, `redis_url`, `celery_worker_process`) skip when their service is
not configured, unless REQUIRE_SERVICES is set: then a missing service fails the test, so
CI cannot go green by skipping.
"""

from __future__ import annotations

import os
import shutil
import signal
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
def _celery_eager_by_default(request):
    """Tests run tasks in-process unless they ask for the real worker."""
    if "celery_worker_process" in request.fixturenames:
        yield
        return
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates)
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = previous


@pytest.fixture
def celery_worker_process(redis_url, postgres, transactional_db):
    """A real `celery worker` process on Redis, against this test's PostgreSQL database.

    It consumes a queue of its own, so a stray worker elsewhere cannot take its tasks.
    Yields the queue name; tasks sent with `.delay()` go there.
    """
    queue = f"test-{uuid.uuid4().hex[:10]}"
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
        "PYTHONUNBUFFERED": "1",
    }
    log = open(REPO / "var" / f"worker-{queue}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--concurrency=1",
         "--without-gossip", "--without-mingle", "--loglevel=INFO", "-Q", queue, "-n", f"{queue}@%h"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    previous = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + 60
        while True:
            replies = celery_app.control.ping(destination=[f"{queue}@{os.uname().nodename}"], timeout=1.0)
            if replies:
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"The Celery worker did not start:\n{Path(log.name).read_text()[-3000:]}")
        yield queue
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = previous
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


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
