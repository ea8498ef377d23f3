"""The benchmark targets, and the markdown of what a run measured (tables and lines)."""

from __future__ import annotations

PAGE_P95_MS = 150
PAGE_QUERIES = 15
PAGE_RATIO = 3
INGEST_PER_SECOND = 500
INGEST_COPY_RATIO = 10
EVALUATION_SECONDS = 60
EVALUATION_RATIO = 3
TRANSFERS_PER_SECOND = 200
PERMISSION_MS = 20
WEB_MB = 300
# With three years of usage history, each ingestion rate and page time within this factor of before.
HISTORY_RATIO = 1.5


def targets(r: dict) -> list[dict]:
    """Each target with whether the run met it and what it measured. `key` names the target for the
    reasons bench/performance.md.in gives when it is missed: `page:<page>`, `ingest-one`, `ingest-batch`,
    `evaluation`, `transfers`, `permissions`, `memory-web`."""
    out = []

    def add(key, name, met, measured):
        out.append({"key": key, "target": name, "met": bool(met), "measured": measured})

    for row in r["pages"]:
        add(
            f"page:{row['page']}",
            f"page '{row['page']}': p95 < {PAGE_P95_MS} ms, ≤ {PAGE_QUERIES} queries, large/small < {PAGE_RATIO}",
            row["large_p95_ms"] < PAGE_P95_MS
            and row["large_queries"] <= PAGE_QUERIES
            and row["ratio_p95"] < PAGE_RATIO,
            f"{row['large_p95_ms']} ms, {row['large_queries']} queries, ratio {row['ratio_p95']}",
        )
    ing = r["ingest"]
    add(
        "ingest-one",
        f"ingestion, one report per call: ≥ {INGEST_PER_SECOND} reports/s in one process, within "
        f"{INGEST_COPY_RATIO}× of COPY",
        ing["reports_per_second_one_process"] >= INGEST_PER_SECOND and ing["ratio_to_copy"] <= INGEST_COPY_RATIO,
        f"{ing['reports_per_second_one_process']}/s, {ing['ratio_to_copy']}× COPY",
    )
    if "reports_per_second_batch" in ing:
        add(
            "ingest-batch",
            f"ingestion, batches of {ing['batch_size']:,}: ≥ {INGEST_PER_SECOND} reports/s in one process, within "
            f"{INGEST_COPY_RATIO}× of COPY",
            ing["reports_per_second_batch"] >= INGEST_PER_SECOND and ing["batch_ratio_to_copy"] <= INGEST_COPY_RATIO,
            f"{ing['reports_per_second_batch']}/s, {ing['batch_ratio_to_copy']}× COPY",
        )
    last = r["deadlines"][-1]
    add(
        "evaluation",
        f"evaluation of {last['instances']:,} instances < {EVALUATION_SECONDS} s, "
        f"within {EVALUATION_RATIO}× of one UPDATE, same results",
        last["evaluation_seconds"] < EVALUATION_SECONDS
        and last["ratio_to_update"] <= EVALUATION_RATIO
        and last["mismatches"] == 0,
        f"{last['evaluation_seconds']} s, {last['ratio_to_update']}×, {last['mismatches']} mismatches",
    )
    t = r["transfers"]
    add(
        "transfers",
        f"transfers ≥ {TRANSFERS_PER_SECOND}/s, no conservation error, no unhandled deadlock, ledger clean",
        t["transfers_per_second"] >= TRANSFERS_PER_SECOND
        and t["conservation_errors"] == 0
        and t["unhandled_errors"] == 0
        and t["negative_balances"] == 0
        and t["verify_ledger_differences"] == 0,
        f"{t['transfers_per_second']}/s, {t['conservation_errors']} conservation errors, "
        f"{t['unhandled_errors']} unhandled, {t['verify_ledger_differences']} ledger differences",
    )
    p = r["permissions"]
    add(
        "permissions",
        f"permission resolution: one query, < {PERMISSION_MS} ms",
        p["queries"] == 1 and p["p50_ms"] < PERMISSION_MS,
        f"{p['queries']} query, {p['p50_ms']} ms",
    )
    add(
        "memory-web",
        f"web process peak memory < {WEB_MB} MB",
        r["memory_web"]["peak_rss_mb"] < WEB_MB,
        f"{r['memory_web']['peak_rss_mb']} MB",
    )
    h = r.get("history")
    if h:
        add(
            "history",
            f"{h['months']} months of usage history: ingestion and pages within {HISTORY_RATIO}× of before",
            h["worst_ratio"] <= HISTORY_RATIO,
            f"worst ratio {h['worst_ratio']}× ({h['reports']:,} reports, {h['measurements']:,} measurements added)",
        )
    return out


def _table(headers: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines


def render_results(r: dict) -> str:
    """The run's measurements and its targets table, in markdown (stdout and bench/results/latest-*.md)."""
    return render_measurements(r) + "\n" + "\n".join(["**Targets**:", "", *targets_table(r)]) + "\n"


def render_measurements(r: dict) -> str:
    """What the run measured: the machine and estate, then a table or a line per benchmark."""
    sections = [
        [f"Measured {r['date']} on {r['machine']} ({r['mode']} run, scale {r['scale']}).", "", _estate_line(r)],
        _pages(r),
        _ingestion(r),
        _evaluation(r),
        _transfers(r),
        _permissions_and_memory(r),
        _kept_sql(r),
        _history(r),
    ]
    sections = [lines for lines in sections if lines]
    return "\n\n".join("\n".join(lines) for lines in sections) + "\n"


def targets_table(r: dict) -> list[str]:
    return _table(
        ["Target", "Met", "Measured"],
        [[t["target"], "yes" if t["met"] else "**no**", t["measured"]] for t in targets(r)],
    )


def _estate_line(r: dict) -> str:
    e = r["estate"]
    return (
        f"Estate: {e.get('virtual_accounts', 0):,} VAs, {e.get('licenses', 0)} licenses, "
        f"{e.get('product_instances', 0):,} product instances, "
        f"{e.get('usage_measurements', 0):,} usage measurements, "
        f"{e.get('usage_reports', 0):,} reports, {e.get('events', 0):,} events; "
        f"generated in {r['generate_seconds']} s."
    )


def _pages(r: dict) -> list[str]:
    caption = "**Pages** (server time over the requests after two warm-up requests; queries of one request):"
    headers = ["Page", "Large p50 ms", "Large p95 ms", "Large queries", "Small p95 ms", "Small queries"]
    keys = ["page", "large_p50_ms", "large_p95_ms", "large_queries", "small_p95_ms", "small_queries", "ratio_p95"]
    rows = [[p[k] for k in keys] for p in r["pages"]]
    return [caption, "", *_table([*headers, "Large/small p95"], rows)]


def _ingestion(r: dict) -> list[str]:
    ing = r["ingest"]
    rows = [
        [
            "`ingest_usage_report`, one report per call",
            f"{ing['reports_per_second_one_process']}/s",
            f"{ing['reports_per_second_two_processes']}/s",
            f"{ing['copy_floor_reports_per_second']}/s",
            f"{ing['ratio_to_copy']}×",
        ]
    ]
    if "reports_per_second_batch" in ing:
        rows.append(
            [
                f"`ingest_usage_reports`, batches of {ing['batch_size']:,}",
                f"{ing['reports_per_second_batch']}/s",
                "",
                f"{ing['batch_copy_floor_reports_per_second']}/s",
                f"{ing['batch_ratio_to_copy']}×",
            ]
        )
    headers = ["Path", "One process", "Two processes", "COPY of the same rows", "COPY / one process"]
    caption = "**Ingestion** (signed device reports; the floor is a PostgreSQL COPY of the same rows):"
    return [caption, "", *_table(headers, rows)]


def _history(r: dict) -> list[str]:
    """Ingestion and pages before and after years of usage history (bench/history.py); none in older results."""
    h = r.get("history")
    if not h:
        return []
    caption = (
        f"**Data that grows for years** ({h['months']} months of history added by COPY: {h['reports']:,} reports "
        f"and {h['measurements']:,} measurements in {h['copy_seconds']} s, {h['total_reports']:,} reports in "
        f"{h['partitions']} month partitions; the ratio is how many times slower after, 1 is flat; a page's "
        "ratio is divided by the control page's, which reads no usage data, to take out the machine's load "
        "moving between the two measurements; the raw ratio beside it):"
    )
    headers = ["Measured", "Before", "With the history", "Ratio", "Raw ratio"]
    rows = [
        [row["what"], row["before"], row["after"], f"{row['ratio']}×", f"{row.get('raw_ratio', row['ratio'])}×"]
        for row in h["rows"]
    ]
    return [caption, "", *_table(headers, rows)]


def _evaluation(r: dict) -> list[str]:
    caption = (
        "**Deadline evaluation** (every deadline recomputed and written, alerts opened; then the hourly re-run), "
        "against one hand-written UPDATE of the instances that computes the same deadlines (the computation "
        "alone: the same statement into a scratch table, whose results the evaluation's are checked against):"
    )
    headers = [
        "Instances",
        "Evaluation s",
        "Second run s (rows written)",
        "One UPDATE in place s",
        "Ratio",
        "The UPDATE's computation alone s",
        "Mismatches",
    ]
    rows = [
        [
            f"{d['instances']:,}",
            d["evaluation_seconds"],
            f"{d['second_run_seconds']} ({d['second_run_rows_written']})",
            d["reference_update_seconds"],
            f"{d['ratio_to_update']}×",
            d.get("computation_only_seconds", ""),
            d["mismatches"],
        ]
        for d in r["deadlines"]
    ]
    return [caption, "", *_table(headers, rows)]


def _transfers(r: dict) -> list[str]:
    t = r["transfers"]
    caption = f"**Concurrent transfers** ({t['processes']} processes × {t['transfers_attempted'] // t['processes']}):"
    columns = {
        "Transfers/s": "transfers_per_second",
        "Done": "transfers_done",
        "Refused (not available)": "refused_insufficient",
        "Retries": "retries",
        "Deadlocks": "deadlocks",
        "Unhandled": "unhandled_errors",
        "Conservation errors": "conservation_errors",
        "verify_ledger differences": "verify_ledger_differences",
    }
    return [caption, "", *_table(list(columns), [[t[key] for key in columns.values()]])]


def _kept_sql(r: dict) -> list[str]:
    """A row per statement kept written out beside its reference (bench/kept_sql.py); none in older results."""
    rows = r.get("kept_sql")
    if not rows:
        return []
    names = {t["key"]: t["target"] for t in targets(r)}
    caption = (
        "**SQL kept beside its reference** (each statement against its Python/ORM reference on the same input, "
        f"called alternately, p50 over {_repetitions(rows)} calls each; writes rolled back):"
    )
    headers = ["Rule / statement", "Where", "Reference ms (p50)", "SQL ms (p50)", "Speed-up", "Serves the target"]
    table = [
        [
            row["rule"] + ("" if row.get("same_results") is not False else " (**results differ**)"),
            f"`{row['where']}`",
            row["reference_p50_ms"],
            row["sql_p50_ms"],
            f"{row['speedup']}×" if row["speedup"] is not None else "",
            names.get(row["target"], row["target"]),
        ]
        for row in rows
    ]
    return [caption, "", *_table(headers, table)]


def _repetitions(rows: list[dict]) -> str:
    counts = sorted({row["repetitions"] for row in rows})
    return str(counts[0]) if len(counts) == 1 else f"{counts[0]}–{counts[-1]}"


def _permissions_and_memory(r: dict) -> list[str]:
    p, web, evaluation = r["permissions"], r["memory_web"], r["memory_evaluation"]
    return [
        "**Permission resolution**: `virtual_accounts_for` for a VA-scoped user reaching "
        f"{p['virtual_accounts_reached']} of {p['virtual_accounts_in_tree']} VAs: {p['queries']} query, "
        f"{p['p50_ms']} ms (p50), {p['max_ms']} ms (max).",
        "",
        f"**Memory**: web process (gunicorn, one worker) serving '{web['page']}': {web['peak_rss_mb']} MB peak; "
        f"evaluation of {evaluation['instances']:,} instances: {evaluation['peak_rss_mb']} MB peak.",
    ]
