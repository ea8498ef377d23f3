"""The benchmark targets, and the markdown of what a run measured (tables and lines)."""

from __future__ import annotations

PAGE_P95_MS_SMALL = 50
PAGE_P95_MS_LARGE = 100
PAGE_QUERIES = 12
INGEST_ONE_PER_SECOND = 300
INGEST_BATCH_PER_SECOND = 1000
EVALUATION_SECONDS = 60
EVALUATION_RATIO = 1.5  # to the computation alone (the same deadlines into a scratch table)
EVALUATION_MB = 300
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
        queries = max(row["large_queries"], row["small_queries"])
        add(
            f"page:{row['page']}",
            f"page '{row['page']}': p95 < {PAGE_P95_MS_SMALL} ms small, < {PAGE_P95_MS_LARGE} ms large, "
            f"≤ {PAGE_QUERIES} queries",
            row["small_p95_ms"] < PAGE_P95_MS_SMALL
            and row["large_p95_ms"] < PAGE_P95_MS_LARGE
            and queries <= PAGE_QUERIES,
            f"small {row['small_p95_ms']} ms, large {row['large_p95_ms']} ms, {queries} queries",
        )
    ing = r["ingest"]
    # Each ingestion figure is also given as a ratio to a PostgreSQL COPY of the same rows in the same
    # run (the floor: storing the rows with none of the rules); the targets are the rates.
    add(
        "ingest-one",
        f"ingestion, one report per call: ≥ {INGEST_ONE_PER_SECOND} reports/s in one process",
        ing["reports_per_second_one_process"] >= INGEST_ONE_PER_SECOND,
        f"{ing['reports_per_second_one_process']}/s, {ing['ratio_to_copy']}× COPY",
    )
    if "reports_per_second_batch" in ing:
        add(
            "ingest-batch",
            f"ingestion, batches of {ing['batch_size']:,}: ≥ {INGEST_BATCH_PER_SECOND:,} reports/s in one process",
            ing["reports_per_second_batch"] >= INGEST_BATCH_PER_SECOND,
            f"{ing['reports_per_second_batch']}/s, {ing['batch_ratio_to_copy']}× COPY",
        )
    last = {**r["deadlines"][-1], "ratio_to_computation": computation_ratio(r["deadlines"][-1])}
    memory = r["memory_evaluation"]["peak_rss_mb"]
    add(
        "evaluation",
        f"evaluation of {last['instances']:,} instances < {EVALUATION_SECONDS} s, "
        f"within {EVALUATION_RATIO}× of the computation alone, same results, peak memory < {EVALUATION_MB} MB",
        last["evaluation_seconds"] < EVALUATION_SECONDS
        and last["ratio_to_computation"] <= EVALUATION_RATIO
        and last["mismatches"] == 0
        and memory < EVALUATION_MB,
        f"{last['evaluation_seconds']} s, {last['ratio_to_computation']}× of {last['computation_only_seconds']} s, "
        f"{last['mismatches']} mismatches, {memory} MB",
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
    """The run's measurements, where one report's time goes and the targets table, in markdown (stdout)."""
    stages = "**Where one report's time goes**:\n\n" + ingest_stages(r) + "\n\n"
    return render_measurements(r) + "\n" + stages + "\n".join(["**Targets**:", "", *targets_table(r)]) + "\n"


def ingest_stages(r: dict) -> str:
    """The table of one report's stages (`bench.ingest.stages`): milliseconds per report and share of the
    total, SQL statements per report; a line saying so for results measured before it existed."""
    s = r.get("ingest", {}).get("stages")
    if not s:
        return "Not measured in this run."
    rows = [[row["label"], row["ms"], f"{row['share_percent']}%", row.get("statements", "")] for row in s["stages"]]
    rows.append(["**one report, in all**", f"**{s['ms_per_report']}**", "100%", s["statements_per_report"]])
    caption = (
        f"{s['reports']:,} signed device reports, one per `ingest_usage_report` call, each stage timed inside "
        f"the calls: {s['ms_per_report']} ms per report ({s['reports_per_second']}/s with the clocks running), "
        f"{s['statements_per_report']} SQL statements and {s['round_trips_per_report']} round trips per report "
        f"(psycopg2's BEGIN and the COMMIT included), {s['sql_ms_per_report']} ms of SQL."
    )
    return "\n".join([caption, "", *_table(["Stage", "ms per report", "Share", "SQL statements"], rows)])


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
    """The pages table, then (in results that have them) the floor and where a small page's time goes."""
    caption = "**Pages** (server time over the requests after two warm-up requests; queries of one request):"
    headers = ["Page", "Large p50 ms", "Large p95 ms", "Large queries", "Small p95 ms", "Small queries"]
    keys = ["page", "large_p50_ms", "large_p95_ms", "large_queries", "small_p95_ms", "small_queries", "ratio_p95"]
    headers.append("Large/small p95")
    floor = r.get("page_floor")
    if floor:
        headers += ["Large p95 / floor", "Small p95 / floor"]
        keys += ["large_floor_ratio", "small_floor_ratio"]
    rows = [[p.get(k, "") for k in keys] for p in r["pages"]]
    lines = [caption, "", *_table(headers, rows)]
    if floor:
        lines += ["", *_page_floor(floor)]
    if r.get("page_breakdown"):
        lines += ["", *_page_breakdown(r["page_breakdown"])]
    return lines


def page_lines(r: dict) -> list[str]:
    """The pages' tables alone (`python -m bench.pages`)."""
    return _pages(r)


def _page_floor(floor: list[dict]) -> list[str]:
    caption = (
        "**The pages' floor** (the same request cycle for a page with no data of its own: the base template "
        "for a signed-in user, and an account page with nothing on it; each page's p95 above is divided by "
        "the first, for the same user):"
    )
    headers = ["Floor page", "Large p50 ms", "Large p95 ms", "Large queries"]
    headers += ["Small p50 ms", "Small p95 ms", "Small queries"]
    keys = ["page", "large_p50_ms", "large_p95_ms", "large_queries", "small_p50_ms", "small_p95_ms", "small_queries"]
    return [caption, "", *_table(headers, [[row[k] for k in keys] for row in floor])]


def _page_breakdown(pages: list[dict]) -> list[str]:
    """Where a small page's time goes: a row per part of the request cycle, a column per page."""
    requests = pages[0]["requests"]
    caption = (
        f"**Where a small page's time goes** (the small account's Admin, mean ms per request over {requests} "
        "requests with every part timed; each part without the SQL it ran, whose queries and time follow it "
        "in brackets; the middleware in the order a request passes them):"
    )
    labels: list[str] = []
    for page in pages:
        labels += [part["part"] for part in page["parts"] if part["part"] not in labels]
    cells = {label: [] for label in labels}
    for page in pages:
        by_label = {part["part"]: part for part in page["parts"]}
        for label in labels:
            part = by_label.get(label)
            if part is None:
                cells[label].append("")
            elif part["queries"]:
                cells[label].append(f"{part['ms']} (+ {part['queries']:g} queries, {part['sql_ms']} ms)")
            else:
                cells[label].append(str(part["ms"]))
    rows = [[label, *cells[label]] for label in labels]
    rows.append(["SQL, in all (queries, ms)", *[f"{p['queries']:g} queries, {p['sql_ms']} ms" for p in pages]])
    rows.append(["**the request, in all**", *[f"**{p['total_ms']}**" for p in pages]])
    return [caption, "", *_table(["Part", *[p["page"] for p in pages]], rows)]


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
        "against its floor: one hand-written UPDATE computing the same deadlines into a narrow scratch table "
        "(the computation alone, whose results the evaluation's are checked against); the same UPDATE in place "
        "on the deadline table (its indexes and counting triggers) for context:"
    )
    headers = [
        "Instances",
        "Evaluation s",
        "Computation alone s",
        "Ratio",
        "Second run s (rows written)",
        "One UPDATE in place s",
        "Mismatches",
    ]
    rows = [
        [
            f"{d['instances']:,}",
            d["evaluation_seconds"],
            d.get("computation_only_seconds", ""),
            f"{computation_ratio(d)}×",
            f"{d['second_run_seconds']} ({d['second_run_rows_written']})",
            d["reference_update_seconds"],
            d["mismatches"],
        ]
        for d in r["deadlines"]
    ]
    return [caption, "", *_table(headers, rows)]


def computation_ratio(d: dict) -> float:
    """The evaluation's seconds over the computation alone's (its floor), as the run wrote it or worked out."""
    return d.get("ratio_to_computation") or round(
        d["evaluation_seconds"] / max(d["computation_only_seconds"], 0.001), 2
    )


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
