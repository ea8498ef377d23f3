"""With Redis down, the portal still works: throttles and caching fail open and log a warning.

No mock of Redis: the cache points at a real address where nothing listens, or at a redis-server
this test starts and stops.
"""

import datetime as dt
import json
import logging
import shutil
import socket
import subprocess
import time

import pytest
import redis
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from config.cache import redis_cache_settings
from tests.conftest import missing_service
from tests.factories import PASSWORD, default_va, make_account, make_user
from tests.licensing.helpers import token_for
from tests.policy.helpers import TRUST, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_down(settings):
    """The cache is Redis at a port where nothing listens."""
    settings.CACHES = {"default": redis_cache_settings(f"redis://127.0.0.1:{free_port()}/0")}
    settings.RATE_LIMITS = dict.fromkeys(settings.RATE_LIMITS, "5/minute")
    with pytest.raises(redis.exceptions.ConnectionError):  # nothing answers there
        redis.Redis.from_url(settings.CACHES["default"]["LOCATION"], socket_connect_timeout=1).ping()


def post_json(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def cache_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "config.cache" and r.levelno == logging.WARNING]


def test_usage_reports_and_change_notices_are_accepted_with_redis_down(client, redis_down, caplog):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    lic = make_license()
    device = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST)
    now = timezone.now()
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        body = report(device, generated_at=now - dt.timedelta(days=30), usage={lic: 2})
        response = post_json(client, reverse("api_usage_reports"), body)
        assert response.status_code == 200, response.content
        assert response.json()["acknowledged_report_ids"] == [body["report_id"]]
        body = notice(device, changes=[upgrade(now - dt.timedelta(days=2))], generated_at=now)
        response = post_json(client, reverse("api_change_notices"), body)
        assert response.status_code == 201, response.content
    warnings = cache_warnings(caplog)
    assert warnings and "does not answer" in warnings[0] and "rate limits and caching are off" in warnings[0]


def test_device_registration_sign_up_and_pak_pages_work_with_redis_down(client, redis_down):
    account = make_account(name="Acme Networks", domain="acme.example.com")
    body = {"token": token_for(default_va(account)).token, "pid": "C9300-48P", "serial_number": "FOC0000C001"}
    assert post_json(client, reverse("api_device_register"), body).status_code == 201
    response = client.post(reverse("signup"), {"email": "nora@initech.example.org"})
    assert response.status_code == 302 and response["Location"] == reverse("signup_sent")
    assert client.post(reverse("password_reset"), {"email": "nora@initech.example.org"}).status_code == 302
    client.force_login(account.created_by)
    response = client.post(reverse("pak_list", kwargs={"account_id": account.pk}), {"number": "3PAK-NONE-0001"})
    assert response.status_code == 200


def test_the_login_lockout_needs_no_cache(client, redis_down):
    """django-axes keeps its failures in the database: Redis down does not open the door to guessing."""
    user = make_user("alice@acme.example.com")
    for _ in range(5):
        client.post(reverse("login"), {"username": user.email, "password": "wrong-password"})
    assert client.post(reverse("login"), {"username": user.email, "password": PASSWORD}).status_code == 429


def test_the_cache_behaves_as_an_empty_cache_that_keeps_nothing(redis_down, caplog):
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        assert cache.get("k", "fallback") == "fallback"
        assert cache.set("k", 1) is None
        assert cache.add("k", 1) is False
        assert cache.get_many(["k", "j"]) == {}
        assert cache.get_or_set("k", 7) == 7
        assert cache.has_key("k") is False
        assert cache.set_many({"a": 1, "b": 2}) == ["a", "b"]
        with pytest.raises(ValueError):
            cache.incr("k")
        cache.delete("k")
        cache.delete_many(["k"])
    # One warning, not one per call: the cache is not asked again for a while after a failure.
    assert len(cache_warnings(caplog)) == 1


@pytest.fixture
def own_redis(settings):
    """A redis-server of this test's own, to stop and start again."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server is not installed")
    port = free_port()

    def start():
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process
            except OSError:
                time.sleep(0.05)
        process.kill()
        raise RuntimeError("redis-server did not start")

    state = {"process": start()}

    def stop():
        state["process"].terminate()
        state["process"].wait(timeout=10)

    def restart():
        state["process"] = start()

    settings.CACHES = {"default": redis_cache_settings(f"redis://127.0.0.1:{port}/0")}
    yield stop, restart
    if state["process"].poll() is None:
        stop()


def test_throttling_stops_when_redis_stops_and_comes_back_with_it(client, settings, own_redis, caplog, monkeypatch):
    from config.cache import FailOpenRedisCache

    monkeypatch.setattr(FailOpenRedisCache, "RETRY_SECONDS", 0.0)  # ask Redis again at once after a failure
    stop, restart = own_redis
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "usage_reports": "2/minute"}
    url = reverse("api_usage_reports")
    assert [post_json(client, url, {}).status_code == 429 for _ in range(3)] == [False, False, True]
    stop()
    with caplog.at_level(logging.WARNING, logger="config.cache"):
        assert [post_json(client, url, {}).status_code == 429 for _ in range(3)] == [False, False, False]
        restart()  # a fresh Redis: the counts start again
        assert [post_json(client, url, {}).status_code == 429 for _ in range(3)] == [False, False, True]
    messages = cache_warnings(caplog)
    assert any("does not answer" in m for m in messages) and "answers again" in messages[-1]
