"""The request mix of `make loadtest` (Locust). The runner (`python -m bench.loadtest`) writes a plan (JSON, its
path in LOADTEST_PLAN): session cookies and the pages of each signed-in user, Bearer tokens and the API paths
of each API client, and a file of signed usage reports. Each simulated user is one of three kinds:

- a person in the portal: pages of their account (home, licenses, product instances, VA tree, event log);
- a device: POSTs one signed usage report at a time to /api/v1/usage/reports/, each report sent once;
- a script: native API reads (licenses, product instances) with an OAuth2 Bearer token.

The load rises in steps (`STEPS` users for `STEP_SECONDS` each, every user pacing itself to
`REQUESTS_PER_USER` requests/s), so one run gives the throughput and the latency at each offered load.
Every request's outcome is also written, one JSON line each, to LOADTEST_LOG for the runner's per-step summary.
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import HttpUser, LoadTestShape, constant_throughput, events, task

from bench.loadtest.mix import REPORTS_PATH, REQUESTS_PER_USER, STEP_SECONDS, STEPS, WEIGHTS  # noqa: F401


def load_plan() -> dict:
    path = os.environ.get("LOADTEST_PLAN")
    if not path:
        return {"sessions": [], "api_clients": [], "reports": []}
    with open(path, encoding="utf-8") as handle:
        plan = json.load(handle)
    with open(plan["reports_file"], encoding="utf-8") as handle:
        plan["reports"] = json.load(handle)
    return plan


def request_paths(plan: dict) -> list[str]:
    """Every path the mix requests for `plan` (the test checks that each resolves)."""
    paths = [page for session in plan["sessions"] for page in session["pages"]]
    paths += [path for client in plan["api_clients"] for path in client["paths"]]
    return [*paths, REPORTS_PATH]


PLAN = load_plan()
_reports = iter(PLAN["reports"])
_log = open(os.environ["LOADTEST_LOG"], "w", encoding="utf-8") if os.environ.get("LOADTEST_LOG") else None  # noqa: SIM115


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, context, **kwargs):
    if _log is not None:
        _log.write(json.dumps({"t": time.time(), "name": name, "ms": response_time, "ok": exception is None}) + "\n")


@events.quitting.add_listener
def _close(environment, **kwargs):
    if _log is not None:
        _log.flush()


def _check(response, expected: int = 200) -> None:
    if response.status_code != expected:
        response.failure(f"answered {response.status_code}: {response.text[:200]}")


class PortalUser(HttpUser):
    weight = WEIGHTS["PortalUser"]
    wait_time = constant_throughput(REQUESTS_PER_USER)

    def on_start(self):
        session = random.choice(PLAN["sessions"])
        self.client.cookies.set(session["cookie_name"], session["cookie"])
        self.pages = session["pages"]

    @task
    def page(self):
        path = random.choice(self.pages)
        with self.client.get(path, name=f"page {path}", allow_redirects=False, catch_response=True) as response:
            _check(response)


class ApiUser(HttpUser):
    weight = WEIGHTS["ApiUser"]
    wait_time = constant_throughput(REQUESTS_PER_USER)

    def on_start(self):
        client = random.choice(PLAN["api_clients"])
        self.headers = {"Authorization": f"Bearer {client['token']}", "Accept": "application/json"}
        self.paths = client["paths"]

    @task
    def read(self):
        path = random.choice(self.paths)
        with self.client.get(path, name=f"api {path}", headers=self.headers, catch_response=True) as response:
            _check(response)


class DeviceUser(HttpUser):
    weight = WEIGHTS["DeviceUser"]
    wait_time = constant_throughput(REQUESTS_PER_USER)

    @task
    def report(self):
        report = next(_reports, None)
        if report is None:  # the plan holds more reports than a run sends; refuse to resend one silently
            raise RuntimeError("the plan's usage reports are used up")
        with self.client.post(REPORTS_PATH, json=report, name="device usage report", catch_response=True) as response:
            _check(response)
            if response.status_code == 200 and "signature" not in response.text:
                response.failure("no signed ACK in the answer")


class Steps(LoadTestShape):
    """STEPS users, STEP_SECONDS each, then stop."""

    use_common_options = False

    def tick(self):
        step = int(self.get_run_time() // STEP_SECONDS)
        if step >= len(STEPS):
            return None
        return STEPS[step], STEPS[-1]
