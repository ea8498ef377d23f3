"""The shape of the load test's mix, without importing Locust (which patches the standard library with gevent
on import: the runner, which uses Django and threads, reads these numbers from here)."""

from __future__ import annotations

import itertools

REPORTS_PATH = "/api/v1/usage/reports/"
P95_TARGET_MS = 200.0
STEPS = (10, 20, 30, 40, 50)
STEP_SECONDS = 12
# Each user's pace: 50 users offer 100 requests/s, more than one worker serves, so the steps find where the
# p95 passes the target and the peak is what the server gives, not what the users ask for.
REQUESTS_PER_USER = 2.0
# Of every 10 users: 4 people browsing, 3 devices reporting, 3 scripts reading the API.
WEIGHTS = {"PortalUser": 4, "DeviceUser": 3, "ApiUser": 3}
MIX_USERS = tuple(WEIGHTS)
# The floor: as many users as the last step, each asking again as soon as answered, for the cheapest
# authenticated request; requests/s counted after the first FLOOR_SETTLE_SECONDS.
FLOOR_USER = "FloorUser"
FLOOR_SECONDS = 15
FLOOR_SETTLE_SECONDS = 3


def schedule() -> list[tuple[int, float, float]]:
    """(users, start second, end second) of each step."""
    return [(users, n * STEP_SECONDS, (n + 1) * STEP_SECONDS) for n, users in enumerate(STEPS)]


def reports_needed() -> int:
    """An upper bound of the reports one run sends (every device user at its pace through every step)."""
    share = WEIGHTS["DeviceUser"] / sum(WEIGHTS.values())
    return int(sum(itertools.starmap(lambda u, a, b: (u * share + 1) * REQUESTS_PER_USER * (b - a), schedule())))
