"""The markdown of a load test's results (bench/results/latest-loadtest.json): the "Throughput under concurrency"
section of docs/performance.md and bench/results/latest-loadtest.md. Every figure stands beside its floor from the
same run (the cheapest authenticated request at the same concurrency) and the ratio to it."""

from __future__ import annotations

TARGET = "requests/s at p95 < 200 ms, error rate 0, and how requests/s grows from 1 to 2 worker processes"
MISSING = (
    "No load test results here: `make loadtest` writes them (bench/results/latest-loadtest.json), and the "
    "next `python -m bench.document` puts them on this page."
)
KINDS = ("pages", "API reads", "device reports")


def render_throughput(results: dict | None) -> str:
    """The section's text for a load test's results, or a sentence saying there are none."""
    if not results:
        return MISSING + "\n"
    parts = [
        _setting(results),
        [f"**Target**: {TARGET}.", "", *_verdict(results)],
        _runs_table(results),
        _kinds_table(results),
        _steps_table(results),
    ]
    return "\n\n".join("\n".join(lines) for lines in parts if lines) + "\n"


def _setting(r: dict) -> list[str]:
    g = r.get("gunicorn", {"worker_class": "sync", "threads": 1})
    threads = "1 thread" if g["threads"] == 1 else f"{g['threads']} threads"
    lines = [
        f"Load test {r['date']} on {r['machine']}; estate: {r['estate_text']} (scale {r['scale']}).",
        f"gunicorn with the production config (config/gunicorn.conf.py): {g['worker_class']} workers, "
        f"{threads} each. Mix: {r['mix']}. Steps of {r['step_seconds']} s at {_users(r['steps_users'])} users, "
        f"each user {r['requests_per_user']:g} requests/s at most.",
    ]
    if "floor_request" in r:
        lines.append(
            f"Floor: {r['floor_request']}, {r['steps_users'][-1]} users each asking again as soon as answered, "
            f"for {r['floor_seconds']} s after the mix, on the same server."
        )
    return lines


def _users(steps: list[int]) -> str:
    return ", ".join(str(n) for n in steps[:-1]) + f" and {steps[-1]}" if len(steps) > 1 else str(steps[0])


def _times(ratio: float | None) -> str:
    return "–" if ratio is None else f"{ratio}×"


def _runs_table(r: dict) -> list[str]:
    rows = [
        "| gunicorn workers | requests/s at p95 < 200 ms | × floor | peak requests/s | × floor "
        "| floor requests/s (p95 ms) | error rate | CPU ms per request, gunicorn+PostgreSQL: mix / floor "
        "| Locust CPU ms per request: mix / floor | load average before |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in r["runs"]:
        floor = run.get("floor")
        ratio = run.get("ratio_to_floor", {})
        floor_cell = f"{floor['requests_per_second']} ({floor['p95_ms']})" if floor else "–"
        floor_cpu = floor["server_cpu_ms_per_request"] if floor else "–"
        locust = str(run["locust_cpu_ms_per_request"])
        if floor and "locust_cpu_ms_per_request" in floor:
            locust += f" / {floor['locust_cpu_ms_per_request']}"
        rows.append(
            f"| {run['workers']} | {_within_target(run)} | {_times(ratio.get('p95_under_target'))} "
            f"| {run['peak_requests_per_second']} | {_times(ratio.get('peak'))} | {floor_cell} "
            f"| {run['error_rate']:.2%} ({run['errors']} of {run['requests']:,}) "
            f"| {run['server_cpu_ms_per_request']} / {floor_cpu} | {locust} "
            f"| {run['load_average_before']} |"
        )
    growth = r.get("growth")
    if growth:
        within = "–" if growth["p95_under_target"] is None else f"×{growth['p95_under_target']}"
        floor = f", the floor ×{growth['floor']}" if growth.get("floor") is not None else ""
        rows += ["", f"From 1 to 2 workers: requests/s at p95 < 200 ms {within}, peak ×{growth['peak']}{floor}."]
    return rows


def _within_target(run: dict) -> str:
    if run["requests_per_second_p95_under_target"]:
        return str(run["requests_per_second_p95_under_target"])
    first = run["steps"][0]
    return f"none (already {first['p95_ms']} ms p95 at {first['requests_per_second']}/s)"


def _kinds_table(r: dict) -> list[str]:
    runs = [run for run in r["runs"] if "p50_ms_alone_by_kind" in run]
    if not runs:
        return []
    users = r["steps_users"][0]
    rows = [
        "Per kind of request: p50 asked alone (one request at a time, the kinds in turn: what each costs "
        f"unqueued) and as a multiple of the floor's request asked alone; p50 at the lightest step ({users} users) "
        "and p95 over the whole run, in the mix.",
        "",
        f"| gunicorn workers | request | p50 ms alone | × floor | p50 ms at {users} users | p95 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        rows.append(f"| {run['workers']} | floor | {run['floor']['p50_ms_alone']} | 1× | – | – |")
        ratios = run["ratio_to_floor"]["p50_alone_by_kind"]
        light = run.get("p50_ms_by_kind_lightest_step", {})
        for kind in KINDS:
            if kind in run["p50_ms_alone_by_kind"]:
                rows.append(
                    f"| {run['workers']} | {kind} | {run['p50_ms_alone_by_kind'][kind]} | {_times(ratios.get(kind))} "
                    f"| {light.get(kind, '–')} | {run['p95_ms_by_kind'].get(kind, '–')} |"
                )
    return rows


def _steps_table(r: dict) -> list[str]:
    rows = ["| workers | users | requests/s | p50 ms | p95 ms | errors |", "| --- | --- | --- | --- | --- | --- |"]
    for run in r["runs"]:
        for step in run["steps"]:
            rows.append(
                f"| {run['workers']} | {step['users']} | {step['requests_per_second']} | {step['p50_ms']} "
                f"| {step['p95_ms']} | {step['errors']} |"
            )
    return rows


def _verdict(r: dict) -> list[str]:
    """Whether the run met the target, and for each part it missed what was measured in its way."""
    lines = []
    errors = sum(run["errors"] + run.get("floor", {}).get("errors", 0) for run in r["runs"])
    requests = sum(run["requests"] for run in r["runs"])
    if errors:
        lines.append(f"- **Not met**: {errors:,} of {requests:,} requests failed (see bench/results/loadtest/).")
    else:
        lines.append(f"- Error rate 0: every one of {requests:,} requests succeeded.")
    for run in r["runs"]:
        workers = f"{run['workers']} worker{'s' if run['workers'] > 1 else ''}"
        if run["requests_per_second_p95_under_target"]:
            lines.append(
                f"- {workers}: {run['requests_per_second_p95_under_target']} requests/s with p95 < 200 ms "
                f"(peak {run['peak_requests_per_second']} requests/s)."
            )
        else:
            first = run["steps"][0]
            lines.append(
                f"- **Not met with {workers}**: p95 was already {first['p95_ms']} ms at the lightest step "
                f"({first['requests_per_second']} requests/s); load average {run['load_average_before']} before it."
            )
    growth = r.get("growth")
    if growth and growth.get("floor") is not None:
        lines.append(f"- From 1 to 2 workers the peak grew ×{growth['peak']}; the floor ×{growth['floor']}{_why(r)}.")
    return lines


def _why(r: dict) -> str:
    """What stands in the way of a second worker, when the floor itself does not double."""
    growth = r["growth"]
    if growth["floor"] >= 1.6:
        return ""
    loads = " and ".join(str(run["load_average_before"]) for run in r["runs"])
    return (
        f": a second worker only helps when a core is idle for it, and on this machine ({r['machine'].split(',')[0]}, "
        f"load average {loads} before the runs, Locust and PostgreSQL on the same cores) the cheapest request did "
        "not double either"
    )
