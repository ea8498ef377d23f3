"""`make loadtest` (bench/loadtest/): the Locust file imports, and every request of its mix resolves to a view
that answers 200 for the plan's signed-in Admin and API client. No server: the Django test client."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import resolve

from bench.loadtest import mix
from bench.loadtest.__main__ import (
    LOCUSTFILE,
    REPO,
    build_plan,
    gunicorn_settings,
    gunicorn_workers,
    summarise,
    summarise_floor,
)
from tests.factories import account_admin, make_account

PAGES = {"account_home", "licenses", "instances", "virtual_accounts", "account_events"}
API_READS = {"api_licenses", "api_product_instances"}

# Importing Locust patches the standard library (gevent): done in a child process, as Locust itself runs it.
IMPORT = """
import json, sys
sys.path.insert(0, {repo!r})
import importlib.util
from locust import LoadTestShape, User
spec = importlib.util.spec_from_file_location("locustfile", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
users = {{name: obj.weight for name, obj in vars(module).items()
         if isinstance(obj, type) and issubclass(obj, User) and obj.__module__ == module.__name__}}
shapes = [name for name, obj in vars(module).items()
          if isinstance(obj, type) and issubclass(obj, LoadTestShape) and obj is not LoadTestShape]
print(json.dumps({{"paths": module.request_paths(module.PLAN), "users": users, "shapes": shapes}}))
"""


@pytest.fixture
def plan(db, tmp_path):
    accounts = [make_account(), make_account()]
    built = build_plan([(account, account_admin(account)) for account in accounts])
    reports = tmp_path / "reports.json"
    reports.write_text("[]")
    path = tmp_path / "plan.json"
    path.write_text(json.dumps({**built, "reports_file": str(reports)}))
    return built, path


def locustfile_view(plan_path: Path) -> dict:
    env = {**os.environ, "LOADTEST_PLAN": str(plan_path)}
    env.pop("LOADTEST_LOG", None)
    code = IMPORT.format(repo=str(REPO), path=str(LOCUSTFILE))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_locustfile_imports_with_its_three_kinds_of_user_the_floor_and_its_steps(plan):
    view = locustfile_view(plan[1])

    assert view["users"] == {**mix.WEIGHTS, mix.FLOOR_USER: 1}
    assert set(mix.MIX_USERS) == set(mix.WEIGHTS)  # the runner names the mix's users, the floor's alone
    assert view["shapes"] == ["Steps"]


def test_every_request_of_the_mix_resolves_and_answers_200(plan):
    built, path = plan
    paths = locustfile_view(path)["paths"]

    names = {resolve(p.split("?")[0]).url_name for p in paths}
    assert names == PAGES | API_READS | {"api_account", "api_usage_reports"}
    assert paths[-1] == mix.REPORTS_PATH
    for session in built["sessions"]:
        client = Client()
        client.cookies[session["cookie_name"]] = session["cookie"]
        for page in session["pages"]:
            assert client.get(page).status_code == 200, page
    for api_client in built["api_clients"]:
        client = Client()
        answer = client.post(
            "/as/token.oauth2",
            {
                "grant_type": "client_credentials",
                "client_id": api_client["client_id"],
                "client_secret": api_client["secret"],
            },
        )
        assert answer.status_code == 200, answer.content
        bearer = {"HTTP_AUTHORIZATION": f"Bearer {answer.json()['access_token']}"}
        for api_path in api_client["paths"]:
            assert client.get(api_path, **bearer).status_code == 200, api_path


def test_the_summary_gives_each_step_and_the_highest_rate_within_the_p95_target():
    schedule = [(10, 0, 10), (20, 10, 20), (30, 20, 30)]
    lines = []
    for second in range(30):
        slow = second >= 20  # the third step is past the target
        for n in range(5 if second < 10 else 10):
            lines.append({"t": 1000.0 + second + n / 20, "name": "page /a/", "ms": 300.0 if slow else 50.0, "ok": True})
    lines.append({"t": 1015.5, "name": "device usage report", "ms": 20.0, "ok": False})

    summary = summarise(lines, schedule)

    assert [s["requests_per_second"] for s in summary["steps"]] == [5.0, 10.1, 10.0]
    assert [s["errors"] for s in summary["steps"]] == [0, 1, 0]
    assert summary["steps"][2]["p95_ms"] == 300.0
    # The second step has an error, the third a p95 over 200 ms: the first is the highest within the target.
    assert summary["requests_per_second_p95_under_target"] == 5.0
    assert summary["peak_requests_per_second"] == 10.1
    assert summary["errors"] == 1 and summary["requests"] == 251
    assert summary["p95_ms_by_kind"] == {"device reports": 20.0, "pages": 300.0}
    # At the lightest step (the first) every page took 50 ms.
    assert summary["p50_ms_by_kind_lightest_step"] == {"pages": 50.0}


def test_the_floor_counts_its_requests_once_every_user_has_started():
    lines = [
        {"t": 2000.0 + n / 10, "name": "floor", "ms": 400.0, "ok": True} for n in range(mix.FLOOR_SETTLE_SECONDS * 10)
    ]
    settled = (mix.FLOOR_SECONDS - mix.FLOOR_SETTLE_SECONDS) * 100
    start = 2000.0 + mix.FLOOR_SETTLE_SECONDS
    lines += [{"t": start + n / 100, "name": "floor", "ms": 20.0, "ok": True} for n in range(settled)]

    floor = summarise_floor(lines)

    assert floor["requests_per_second"] == 100.0  # the slow start is left out
    assert floor["requests"] == settled and floor["p95_ms"] == 20.0 and floor["errors"] == 0
    assert floor["users"] == mix.STEPS[-1]


@pytest.mark.parametrize(("threads", "worker_class"), [("1", "sync"), ("4", "gthread")])
def test_the_workers_are_what_the_production_config_makes_of_the_environment(threads, worker_class):
    env = {**gunicorn_settings(2, 8123), "GUNICORN_THREADS": threads}

    workers = gunicorn_workers(env)

    assert workers["worker_class"] == worker_class and workers["threads"] == int(threads)
    assert "GUNICORN_BIND" not in os.environ or os.environ["GUNICORN_BIND"] != "127.0.0.1:8123"
