"""The request mix of `make loadtest` (Locust). The runner (`python -m bench.loadtest`) writes a plan (JSON, its
path in LOADTEST_PLAN): session cookies and the pages of each signed-in user, Bearer tokens and the API paths
of each API client, and a file of signed usage reports. Each simulated user is one of three kinds:

- a person in the portal: pages of their account (home, licenses, product instances, VA tree, event log);
- a device: POSTs one signed usage report at a time to /api/v1/usage/reports/, each report sent once;
- a script: native API reads (licenses, product instances) with an OAuth2 Bearer token.

The load rises in steps (`STEPS` users for `STEP_SECONDS` each, every user pacing itself to
`REQUESTS_PER_USER` requests/s), so one run gives the throughput and the latency at each offered load.

With LOADTEST_PHASE=floor (and `FloorUser` named on the command line), the floor instead: `STEPS[-1]` users
each asking for one account's detail through the API (an OAuth2 Bearer token checked, the client's role
resolved, one small JSON answer, the cheapest authenticated request) again as soon as answered, for
`FLOOR_SECONDS`: what the server gives for the least a request can cost, at the same concurrency.

The users are Locust's FastHttpUser (geventhttpclient): Locust runs on the same cores as the server, and it
spends a fraction of the CPU per request of the `requests`-based HttpUser. Every request's outcome is also
written, one JSON line each, to LOADTEST_LOG for the runner's summaries.
"""

from __future__ import annotations

import json
import os
import random
import time

from locust import FastHttpUser, LoadTestShape, constant, constant_throughput, events, task

from bench.loadtest.mix import (  # noqa: F401
    FLOOR_SECONDS,
    REPORTS_PATH,
    REQUESTS_PER_USER,
    STEP_SECONDS,
    STEPS,
    WEIGHTS,
)


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
    paths += [client["floor_path"] for client in plan["api_clients"]]
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


class PortalUser(FastHttpUser):
    weight = WEIGHTS["PortalUser"]
    wait_time = constant_throughput(REQUESTS_PER_USER)

    def on_start(self):
        session = random.choice(PLAN["sessions"])
        self.headers = {"Cookie": f"{session['cookie_name']}={session['cookie']}"}
        self.pages = session["pages"]

    @task
    def page(self):
        path = random.choice(self.pages)
        with self.client.get(
            path, name=f"page {path}", headers=self.headers, allow_redirects=False, catch_response=True
        ) as response:
            _check(response)


class ApiUser(FastHttpUser):
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


class DeviceUser(FastHttpUser):
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


class FloorUser(FastHttpUser):
    """The cheapest authenticated request, asked again as soon as answered (the runner names the users of each
    phase on Locust's command line: the floor's alone, or the mix's three)."""

    wait_time = constant(0)

    def on_start(self):
        client = random.choice(PLAN["api_clients"])
        self.headers = {"Authorization": f"Bearer {client['token']}", "Accept": "application/json"}
        self.path = client["floor_path"]

    @task
    def read(self):
        with self.client.get(self.path, name="floor", headers=self.headers, catch_response=True) as response:
            _check(response)


class Steps(LoadTestShape):
    """STEPS users, STEP_SECONDS each, then stop; for the floor (LOADTEST_PHASE=floor), the last step's users
    at once for FLOOR_SECONDS."""

    use_common_options = False

    def tick(self):
        if os.environ.get("LOADTEST_PHASE") == "floor":
            return (STEPS[-1], STEPS[-1]) if self.get_run_time() < FLOOR_SECONDS else None
        step = int(self.get_run_time() // STEP_SECONDS)
        if step >= len(STEPS):
            return None
        return STEPS[step], STEPS[-1]
