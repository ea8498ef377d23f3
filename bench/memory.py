"""Peak memory of a real web process (gunicorn, one worker) serving the largest page, and of the evaluation."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _session_cookie(user) -> str:
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return store.session_key


def web_process(user, paths: list[str], requests: int = 20) -> dict:
    """Serve each path `requests` times from one gunicorn worker; its peak resident memory."""
    port = _free_port()
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "WEB_CONCURRENCY": "1",
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    # The session is signed with the server's key only through its id: the DB session store needs no signing.
    cookie = _session_cookie(user)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "config/gunicorn.conf.py",
            "--access-logfile",
            "/dev/null",
            "config.wsgi:application",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not start: {proc.stderr.read().decode()[-2000:]}") from None
                time.sleep(0.3)
        workers = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        for path in paths:
            for _ in range(requests):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{path}",
                    headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={cookie}"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:
                    if response.status != 200 or "/login/" in response.url:
                        raise RuntimeError(f"{path} answered {response.status} at {response.url}")
                    response.read()
        return {
            "paths": paths,
            "requests_each": requests,
            "peak_rss_mb": round(max(_peak_rss_mb(w) for w in workers), 1),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def evaluation_process() -> dict:
    """Run the evaluation in a fresh process; its peak resident memory.

    Read from the process's own memory map (VmHWM), not from `getrusage`: Linux carries the parent's
    high-water mark into `ru_maxrss` across the fork and exec that start the process, so `ru_maxrss`
    would report this benchmark process (which has just generated a million-instance estate) instead."""
    code = (
        "import django; django.setup();"
        "from policy.deadlines import evaluate_reporting_deadlines as e; e();"
        "print(next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM:')))"
    )
    env = {**os.environ, "DEBUG": "0", "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50)}
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])
    return {"peak_rss_mb": round(int(result.stdout.strip().splitlines()[-1]) / 1024, 1)}
