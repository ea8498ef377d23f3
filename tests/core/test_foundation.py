"""The foundation: settings, health check, Celery, authentication pages."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

from policy.models import WorkerHeartbeat
from policy.tasks import health_ping
from tests.conftest import REPO
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def clean_env(**overrides) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE")}
    env.update(overrides)
    return env


def test_production_mode_refuses_to_start_without_secret_key():
    result = run_manage("check", env=clean_env(DEBUG="0"))
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_mode_passes_check_deploy_without_warnings():
    secret = "k" + "".join(chr(65 + (i * 7) % 26) + str(i % 10) for i in range(40))
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        env=clean_env(DEBUG="0", SECRET_KEY=secret, ALLOWED_HOSTS="portal.example.com"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_healthz_reports_database_and_eager_broker(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "eager"}


def test_healthz_says_only_error_for_an_unreachable_broker_and_logs_why(client, settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # the discard port: nothing listens there
    with caplog.at_level("ERROR", logger="config.views"):
        response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "error"}
    assert "127.0.0.1" not in response.content.decode()
    logged = [r for r in caplog.records if r.name == "config.views"]
    assert logged and "broker" in logged[0].getMessage() and logged[0].exc_info  # the details are in the log


def test_healthz_says_only_error_for_an_unreachable_database_and_logs_why():
    # A separate process whose database really is unreachable (nothing listens on port 9).
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz');"
        "print(r.status_code, r.content.decode())"
    )
    env = clean_env(DJANGO_SETTINGS_MODULE="config.test_settings", DATABASE_URL="postgres://nobody@127.0.0.1:9/none")
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    status, _, body = result.stdout.strip().partition(" ")
    assert status == "503", result.stdout + result.stderr
    assert json.loads(body) == {"database": "error", "broker": "eager"}
    assert "127.0.0.1" not in body and "port" not in body  # nothing of the connection's address
    assert "database does not answer" in result.stderr and "port 9" in result.stderr  # the log has the details


def test_health_ping_writes_a_heartbeat_in_eager_mode():
    result = health_ping.delay()
    assert WorkerHeartbeat.objects.filter(pk=result.get()).exists()


@pytest.mark.django_db(transaction=True)
def test_health_ping_runs_on_a_real_worker(celery_worker_process):
    result = health_ping.delay()
    heartbeat_id = result.get(timeout=60)
    beat = WorkerHeartbeat.objects.get(pk=heartbeat_id)
    assert beat.task_id == result.id
    assert beat.hostname


def test_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in" in response.content


def test_home_requires_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_log_in_with_email_case_insensitively_and_log_out(client):
    make_user("Ada@Acme.example.com")
    response = client.post(reverse("login"), {"username": "ADA@acme.example.com", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get(reverse("home")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("home")).status_code == 302


def test_password_change(client):
    user = make_user()
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-longer-password-42",
            "new_password2": "a-new-longer-password-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-longer-password-42")


def test_password_reset_sends_a_working_link(client, mailoutbox):
    user = make_user("reset@acme.example.com")
    client.post(reverse("password_reset"), {"email": "reset@acme.example.com"})
    assert len(mailoutbox) == 1
    link = next(line for line in mailoutbox[0].body.splitlines() if "/password/reset/" in line)
    path = link.split("://", 1)[1].split("/", 1)[1]
    response = client.get("/" + path, follow=True)
    assert response.status_code == 200
    form_url = response.redirect_chain[-1][0]
    response = client.post(
        form_url, {"new_password1": "brand-new-password-77", "new_password2": "brand-new-password-77"}
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("brand-new-password-77")


def test_static_vendor_files_carry_their_licence_headers():
    for name in ("htmx.min.js", "chart.umd.min.js"):
        head = (REPO / "static" / "vendor" / name).read_text(encoding="utf-8")[:600]
        assert "licen" in head.lower(), name


def test_admin_is_served(admin_client):
    assert admin_client.get("/admin/").status_code == 200


def test_sqlite_default_database_file_is_ignored_by_git():
    ignored = Path(REPO / ".gitignore").read_text()
    assert "*.sqlite3" in ignored


def test_collectstatic_works_in_production_mode(tmp_path):
    # The manifest storage rewrites every reference in the CSS and JS; a dangling one fails the build.
    secret = "s" + "".join(chr(65 + (i * 11) % 26) + str(i % 7) for i in range(40))
    env = clean_env(DEBUG="0", SECRET_KEY=secret, STATIC_ROOT=str(tmp_path / "static"))
    result = run_manage("collectstatic", "--no-input", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert "vendor/htmx.min.js" in manifest and "css/portal.css" in manifest


def test_the_device_api_is_described_by_an_openapi_document(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.")
    assert {"/api/v1/devices/register/", "/api/v1/usage/reports/", "/api/v1/usage/change-notices/"} <= set(
        document["paths"]
    )


def test_openapi_document_generates_without_warnings(tmp_path):
    env = clean_env(DEBUG="1")
    result = run_manage("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
