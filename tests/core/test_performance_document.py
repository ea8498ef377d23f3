"""docs/performance.md is written by the benchmark run from bench/performance.md.in and the results.

The fixture holds the results of a full run (tests/core/data/bench-results-full.json): four targets
missed (one page, both ingestion paths, the 1,000,000-instance evaluation), the others met."""

import copy
import json
import re
from argparse import Namespace
from pathlib import Path

import pytest

import bench.__main__ as bench_main
from bench import document
from bench.report import targets

FIXTURE = Path(__file__).parent / "data" / "bench-results-full.json"
TEMPLATE = document.TEMPLATE.read_text(encoding="utf-8")
EVALUATION_TARGET = (
    "evaluation of 1,000,000 instances < 60 s, within 1.5× of the computation alone, same results, peak memory < 300 MB"
)


@pytest.fixture
def results() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def section(page: str, heading: str) -> str:
    """The text under `## heading`, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.MULTILINE | re.DOTALL)
    assert match, f"no section '{heading}'"
    return match.group(1).strip()


def missed_items(page: str) -> list[str]:
    """The targets listed under "Targets not met here, and why", by their name."""
    return re.findall(r"^- \*(.+?)\*: measured ", section(page, "Targets not met here, and why"), re.MULTILINE)


def test_the_page_carries_the_measured_tables(results):
    page = document.render_document(results, TEMPLATE)

    measured = section(page, "Measured here")
    assert measured.startswith("Measured 2026-11-28 14:01 UTC on 2 cores")
    assert "(full run, scale 1.0)" in measured
    assert "Estate: 2,250 VAs, 300 licenses, 210,000 product instances" in measured
    assert "| VA licenses with subtree | 124.6 | 150.7 | 13 | 78.4 | 13 | 1.92 |" in measured
    assert "| `ingest_usage_reports`, batches of 1,000 | 475.9/s |  | 17186.9/s | 36.11× |" in measured
    assert "| 1,000,000 | 123.51 | 24.49 | 5.04× | 11.46 (0) | 206.65 | 0 |" in measured
    assert "| 279.8 | 1670 | 330 | 0 | 0 | 0 | 0 | 0 |" in measured
    assert "reaching 295 of 2000 VAs: 1 query, 18.91 ms (p50)" in measured
    # The prose that does not change comes from the template.
    assert "## How to run" in page and "## The estate" in page and "## What is measured" in page
    assert "- Permission resolution: the VAs a VA-scoped role reaches" in section(page, "What was changed to get there")
    assert page.startswith("<!-- Written by `make bench`")
    assert "{{" not in page and "<!-- reason:" not in page


def test_the_sql_kept_beside_its_reference_has_a_row_per_statement_with_its_target(results):
    measured = section(document.render_document(results, TEMPLATE), "Measured here")
    caption = next(line for line in measured.splitlines() if line.startswith("**SQL kept beside its reference**"))
    table = measured.split(caption, 1)[1].strip().split("\n\n")[0].splitlines()

    assert "p50 over 200 calls each" in caption
    assert table[:2] == [
        "| Rule / statement | Where | Reference ms (p50) | SQL ms (p50) | Speed-up | Serves the target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    serves = "| transfers ≥ 200/s, no conservation error, no unhandled deadlock, ledger clean |"
    assert table[2:] == [
        f"| `record_events`: a transfer's two events | `smartaccounts.services.events` | 2.412 | 0.297 | 8.1× {serves}",
        "| `roles_reaching`: the VA-scoped region User, two VAs | `smartaccounts.queries` | 4.106 | 0.512 "
        f"| 8.0× {serves}",
        f"| `roles_reaching`: the account Admin, two VAs | `smartaccounts.queries` | 3.287 | 0.431 | 7.6× {serves}",
    ]


def test_a_statement_whose_results_differ_from_its_reference_says_so(results):
    results["kept_sql"][1]["same_results"] = False
    results["kept_sql"][2]["repetitions"] = 20

    measured = section(document.render_document(results, TEMPLATE), "Measured here")

    assert "| `roles_reaching`: the VA-scoped region User, two VAs (**results differ**) |" in measured
    assert "| `record_events`: a transfer's two events |" in measured  # no comparison: nothing said
    assert "p50 over 20–200 calls each" in measured


def test_results_of_a_run_without_the_phase_are_written_without_its_table(results):
    del results["kept_sql"]

    page = document.render_document(results, TEMPLATE)

    assert "SQL kept beside its reference**" not in page
    assert "| VA licenses with subtree | 124.6 | 150.7 |" in section(page, "Measured here")


def test_the_targets_table_says_which_targets_were_met(results):
    table = section(document.render_document(results, TEMPLATE), "Targets").splitlines()

    assert table[:2] == ["| Target | Met | Measured |", "| --- | --- | --- |"]
    rows = {row.split(" | ")[0].lstrip("| "): row.split(" | ")[1] for row in table[2:]}
    assert len(rows) == len(targets(results)) == 16
    assert rows["page 'VA licenses with subtree': p95 < 50 ms small, < 100 ms large, ≤ 12 queries"] == "**no**"
    assert rows["page 'VA tree': p95 < 50 ms small, < 100 ms large, ≤ 12 queries"] == "yes"
    assert rows[EVALUATION_TARGET] == "**no**"
    assert rows["permission resolution: one query, < 20 ms"] == "yes"


def test_each_missed_target_is_listed_with_its_measured_value_and_its_reason(results):
    page = document.render_document(results, TEMPLATE)
    not_met = section(page, "Targets not met here, and why")

    assert missed_items(page) == [
        "page 'VA licenses with subtree': p95 < 50 ms small, < 100 ms large, ≤ 12 queries",
        "ingestion, one report per call: ≥ 300 reports/s in one process",
        "ingestion, batches of 1,000: ≥ 1,000 reports/s in one process",
        EVALUATION_TARGET,
    ]
    assert "measured small 78.4 ms, large 150.7 ms, 13 queries." in not_met
    assert "measured 123.51 s, 5.04× of 24.49 s, 0 mismatches, 599.0 MB." in not_met
    # The reasons come from the template, their values from the results.
    assert "most of its time is building those rows" in not_met
    assert "206.65 s" in not_met  # the UPDATE in place: not in the measured value, only in the reason
    assert "unlogged and without indexes) takes 24.49 s." in not_met
    assert "No reason is written down" not in not_met


def test_a_met_target_loses_its_reason_and_a_missed_one_without_a_reason_says_so(results):
    better = copy.deepcopy(results)
    better["deadlines"][-1].update(evaluation_seconds=30.2, ratio_to_computation=1.23)
    better["memory_evaluation"]["peak_rss_mb"] = 180.0
    next(p for p in better["pages"] if p["page"] == "VA licenses with subtree").update(
        small_p95_ms=41.0, large_p95_ms=92.0, small_queries=11, large_queries=11
    )
    better["transfers"]["transfers_per_second"] = 150.2

    page = document.render_document(better, TEMPLATE)
    not_met = section(page, "Targets not met here, and why")

    assert missed_items(page) == [
        "ingestion, one report per call: ≥ 300 reports/s in one process",
        "ingestion, batches of 1,000: ≥ 1,000 reports/s in one process",
        "transfers ≥ 200/s, no conservation error, no unhandled deadlock, ledger clean",
    ]
    assert "206.65" not in not_met and "building those rows" not in not_met
    assert "measured 150.2/s, 0 conservation errors" in not_met
    assert "No reason is written down for it yet (`<!-- reason: transfers -->` in the template)." in not_met
    assert "| 1,000,000 | 30.2 |" in section(page, "Measured here")


def test_a_run_that_meets_every_target_says_so(results):
    good = copy.deepcopy(results)
    good["deadlines"][-1].update(evaluation_seconds=30.2, ratio_to_computation=1.23)
    good["memory_evaluation"]["peak_rss_mb"] = 180.0
    for row in good["pages"]:
        row.update(small_p95_ms=min(row["small_p95_ms"], 49.0), large_p95_ms=min(row["large_p95_ms"], 99.0))
        row.update(small_queries=min(row["small_queries"], 12), large_queries=min(row["large_queries"], 12))
    good["ingest"].update(
        reports_per_second_one_process=2000.0,
        ratio_to_copy=8.7,
        reports_per_second_batch=2500.0,
        batch_ratio_to_copy=6.9,
    )

    page = document.render_document(good, TEMPLATE)

    assert section(page, "Targets not met here, and why") == "Every target was met in this run."
    assert "**no**" not in section(page, "Targets")


def test_reasons_are_read_by_target_key_and_kept_out_of_the_page():
    template = (
        "# P\n\n{{ targets_not_met }}\n\n<!-- Reasons: not copied. -->\n\n"
        "<!-- reason: evaluation -->\nSlow writes ({{ deadlines.-1.instances }} rows).\n\n"
        "<!-- reason: page:alerts -->\nFirst line\nsecond line.\n"
    )
    body, reasons = document.split_template(template)

    assert body == "# P\n\n{{ targets_not_met }}\n"
    assert reasons == {
        "evaluation": "Slow writes ({{ deadlines.-1.instances }} rows).",
        "page:alerts": "First line\nsecond line.",
    }


def test_a_template_naming_a_value_the_results_lack_is_refused(results):
    with pytest.raises(document.TemplateError, match="no value at 'deadlines.-1.no_such_value'"):
        document.render_document(results, "{{ deadlines.-1.no_such_value }}\n")


def test_the_page_is_written_again_from_saved_results_to_the_output_given(tmp_path):
    output = tmp_path / "docs" / "performance.md"

    assert document.main([str(FIXTURE), "--output", str(output)]) == 0

    assert "| VA licenses with subtree | 124.6 | 150.7 |" in output.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("smoke", "output", "expected"),
    [(False, None, bench_main.DOCUMENT), (True, None, None), (False, "/tmp/p.md", Path("/tmp/p.md"))],
)
def test_a_full_run_writes_docs_performance_md_and_a_smoke_run_does_not(smoke, output, expected):
    args = Namespace(smoke=smoke, output=Path(output) if output else None)
    assert bench_main.document_path(args) == expected
    assert bench_main.DOCUMENT.relative_to(bench_main.REPO) == Path("docs/performance.md")


def test_a_smoke_run_writes_its_results_and_page_under_bench_results_only(results, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench_main, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(bench_main, "DOCUMENT", tmp_path / "docs" / "performance.md")
    smoke = {**results, "mode": "smoke"}

    bench_main.write_results(smoke, document=bench_main.document_path(Namespace(smoke=True, output=None)))

    written = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert "latest-smoke.json" in written and "latest-smoke.md" in written and len(written) == 4
    assert not (tmp_path / "docs").exists()
    assert json.loads((tmp_path / "results" / "latest-smoke.json").read_text())["mode"] == "smoke"
    assert "## Targets not met here, and why" in (tmp_path / "results" / "latest-smoke.md").read_text()


def test_the_ingestion_targets_are_rates_each_given_with_its_ratio_to_copy(results):
    fast = copy.deepcopy(results)
    fast["ingest"].update(reports_per_second_one_process=310.0, reports_per_second_batch=999.9, ratio_to_copy=140.2)
    met = {t["key"]: t for t in targets(fast)}
    assert met["ingest-one"]["met"] and met["ingest-one"]["measured"] == "310.0/s, 140.2× COPY"
    assert not met["ingest-batch"]["met"] and met["ingest-batch"]["measured"].endswith("× COPY")
    fast["ingest"]["reports_per_second_batch"] = 1000.0
    assert all(t["met"] for t in targets(fast) if t["key"].startswith("ingest"))


def test_where_one_reports_time_goes_is_a_table_with_each_stages_share(results):
    page = document.render_document(results, TEMPLATE)
    assert section(page, "Where one report's time goes").startswith("Not measured in this run.")

    staged = copy.deepcopy(results)
    staged["ingest"]["stages"] = {
        "reports": 500, "refused": 0, "ms_per_report": 4.0, "reports_per_second": 250.0,
        "statements_per_report": 3.5, "round_trips_per_report": 5.5, "sql_ms_per_report": 2.0,
        "stages": [
            {"stage": "hmac", "label": "HMAC-SHA256", "ms": 0.04, "share_percent": 1.0},
            {"stage": "sql:read", "label": "SQL: read", "ms": 1.0, "share_percent": 25.0, "statements": 1.0},
            {"stage": "commit", "label": "COMMIT", "ms": 2.96, "share_percent": 74.0},
        ],
    }  # fmt: skip
    where = section(document.render_document(staged, TEMPLATE), "Where one report's time goes")
    assert "500 signed device reports" in where and "5.5 round trips per report" in where
    assert "| Stage | ms per report | Share | SQL statements |" in where
    assert "| SQL: read | 1.0 | 25.0% | 1.0 |" in where and "| COMMIT | 2.96 | 74.0% |  |" in where
    assert "| **one report, in all** | **4.0** | 100% | 3.5 |" in where


def test_a_page_meets_its_target_with_both_accounts_under_their_times_and_twelve_queries(results):
    key = "page:account home"
    row = next(p for p in results["pages"] if p["page"] == "account home")

    def met(**change) -> bool:
        changed = copy.deepcopy(results)
        next(p for p in changed["pages"] if p["page"] == "account home").update(change)
        return next(t for t in targets(changed) if t["key"] == key)["met"]

    assert met() and (row["small_p95_ms"], row["large_p95_ms"], row["small_queries"]) == (45.0, 95.0, 12)
    assert not met(small_p95_ms=50.0)
    assert not met(large_p95_ms=100.0)
    assert not met(small_queries=13)  # either account's count
    assert not met(large_queries=13)
    assert met(ratio_p95=9.0)  # the large/small ratio is context, not a target


def test_the_pages_floor_and_where_a_small_pages_time_goes_are_tabled_when_measured(results):
    assert "The pages' floor" not in document.render_document(results, TEMPLATE)  # older results have neither
    for row in results["pages"]:
        row.update(large_floor_ratio=2.5, small_floor_ratio=1.5)
    results["page_floor"] = [
        {"page": "minimal signed-in page (the floor)", "large_p50_ms": 6.1, "large_p95_ms": 7.0, "large_queries": 3,
         "small_p50_ms": 5.9, "small_p95_ms": 6.8, "small_queries": 3},
    ]  # fmt: skip
    results["page_breakdown"] = [
        {"page": "account home", "requests": 20, "total_ms": 21.5, "sql_ms": 6.2, "queries": 11,
         "parts": [{"part": "middleware: SessionMiddleware", "ms": 0.05, "queries": 0, "sql_ms": 0.0},
                   {"part": "view code (access checks, selectors, context)", "ms": 9.1, "queries": 10, "sql_ms": 5.7}]},
    ]  # fmt: skip
    measured = section(document.render_document(results, TEMPLATE), "Measured here")

    assert "| Large p95 / floor | Small p95 / floor |" in measured and "| 1.92 | 2.5 | 1.5 |" in measured
    assert "| minimal signed-in page (the floor) | 6.1 | 7.0 | 3 | 5.9 | 6.8 | 3 |" in measured
    assert "**Where a small page's time goes** (the small account's Admin, mean ms per request over 20" in measured
    assert "| Part | account home |" in measured
    assert "| view code (access checks, selectors, context) | 9.1 (+ 10 queries, 5.7 ms) |" in measured
    assert "| SQL, in all (queries, ms) | 11 queries, 6.2 ms |" in measured
    assert "| **the request, in all** | **21.5** |" in measured


def loadtest_run(workers: int, within: float, peak: float, floor: float, errors: int = 0) -> dict:
    """One worker count's results as bench.loadtest writes them (two steps, the floor, the ratios)."""
    return {
        "workers": workers,
        "load_average_before": 1.5,
        "requests": 1200,
        "errors": errors,
        "error_rate": round(errors / 1200, 4),
        "requests_per_second_p95_under_target": within,
        "peak_requests_per_second": peak,
        "steps": [
            {"users": 10, "requests": 240, "requests_per_second": 20.0, "p50_ms": 30.0, "p95_ms": 80.0, "errors": 0},
            {"users": 50, "requests": 960, "requests_per_second": peak, "p50_ms": 700.0, "p95_ms": 900.0, "errors": 0},
        ],
        "p95_ms_by_kind": {"API reads": 850.0, "device reports": 640.0, "pages": 910.0},
        "p50_ms_by_kind_lightest_step": {"API reads": 30.0, "device reports": 22.0, "pages": 41.0},
        "p50_ms_alone_by_kind": {"API reads": 24.0, "device reports": 18.0, "pages": 36.0},
        "server_cpu_ms_per_request": 14.2,
        "locust_cpu_ms_per_request": 0.6,
        "floor": {
            "users": 50,
            "requests": 1800,
            "requests_per_second": floor,
            "p50_ms": 330.0,
            "p95_ms": 410.0,
            "errors": 0,
            "p50_ms_alone": 6.0,
            "server_cpu_ms_per_request": 4.1,
            "locust_cpu_ms_per_request": 0.3,
        },
        "ratio_to_floor": {
            "p95_under_target": round(within / floor, 2),
            "peak": round(peak / floor, 2),
            "p50_alone_by_kind": {"API reads": 4.0, "device reports": 3.0, "pages": 6.0},
        },
    }


@pytest.fixture
def loadtest() -> dict:
    return {
        "date": "2026-12-06 02:30 UTC",
        "machine": "2 cores, PostgreSQL 16.4, Python 3.11.9; Locust on the same machine",
        "scale": 0.05,
        "estate_text": "105 virtual accounts, 10,000 product instances",
        "mix": "4 in 10 users browse pages, 3 in 10 users send device reports, 3 in 10 users read the API",
        "steps_users": [10, 50],
        "step_seconds": 12,
        "requests_per_user": 2.0,
        "p95_target_ms": 200.0,
        "gunicorn": {"worker_class": "gthread", "threads": 4, "keepalive": 2},
        "floor_request": "one account's detail through the API",
        "floor_seconds": 15,
        "runs": [loadtest_run(1, 20.0, 48.0, 120.0), loadtest_run(2, 40.0, 90.0, 228.0)],
        "growth": {"p95_under_target": 2.0, "peak": 1.88, "floor": 1.9},
    }


def throughput(results: dict, loadtest: dict | None, tmp_path: Path) -> str:
    path = tmp_path / "latest-loadtest.json"
    if loadtest is not None:
        path.write_text(json.dumps(loadtest), encoding="utf-8")
    return section(document.render_document(results, TEMPLATE, loadtest_path=path), "Throughput under concurrency")


def test_the_throughput_section_gives_each_figure_with_its_floor_and_ratio(results, loadtest, tmp_path):
    text = throughput(results, loadtest, tmp_path)

    assert "**Target**: requests/s at p95 < 200 ms, error rate 0, and how requests/s grows from 1 to 2" in text
    assert "gunicorn with the production config (config/gunicorn.conf.py): gthread workers, 4 threads each." in text
    # workers | at p95 < 200 ms, × floor | peak, × floor | floor (p95) | errors | CPU: server, Locust | load
    rest = "| 0.00% (0 of 1,200) | 14.2 / 4.1 | 0.6 / 0.3 | 1.5 |"
    assert f"| 1 | 20.0 | 0.17× | 48.0 | 0.4× | 120.0 (410.0) {rest}" in text
    assert f"| 2 | 40.0 | 0.18× | 90.0 | 0.39× | 228.0 (410.0) {rest}" in text
    assert "From 1 to 2 workers: requests/s at p95 < 200 ms ×2.0, peak ×1.88, the floor ×1.9." in text
    # Each kind of request asked alone against the floor's request alone, then every step.
    assert "| 1 | floor | 6.0 | 1× | – | – |" in text
    assert "| 1 | pages | 36.0 | 6.0× | 41.0 | 910.0 |" in text
    assert "| 2 | device reports | 18.0 | 3.0× | 22.0 | 640.0 |" in text
    assert "| 2 | 50 | 90.0 | 700.0 | 900.0 | 0 |" in text
    assert "- Error rate 0: every one of 2,400 requests succeeded." in text
    assert "- 1 worker: 20.0 requests/s with p95 < 200 ms (peak 48.0 requests/s)." in text
    assert "not double" not in text  # the floor doubled: nothing stood in the second worker's way
    assert "kept by hand" not in text and "{{" not in text


def test_the_throughput_section_says_what_was_missed_and_what_stood_in_the_way(results, loadtest, tmp_path):
    loadtest["runs"] = [loadtest_run(1, 0.0, 30.0, 60.0, errors=3), loadtest_run(2, 22.0, 33.0, 66.0)]
    loadtest["runs"][0]["ratio_to_floor"]["p95_under_target"] = None
    loadtest["growth"] = {"p95_under_target": None, "peak": 1.1, "floor": 1.1}

    text = throughput(results, loadtest, tmp_path)

    assert "| 1 | none (already 80.0 ms p95 at 20.0/s) | – | 30.0 | 0.5× | 60.0 (410.0) | 0.25% (3 of 1,200) |" in text
    assert "- **Not met**: 3 of 2,400 requests failed" in text
    assert "- **Not met with 1 worker**: p95 was already 80.0 ms at the lightest step (20.0 requests/s)" in text
    assert "From 1 to 2 workers: requests/s at p95 < 200 ms –, peak ×1.1, the floor ×1.1." in text
    assert "the floor ×1.1: a second worker only helps when a core is idle for it" in text
    assert "load average 1.5 and 1.5 before the runs" in text


def test_without_load_test_results_the_section_says_so(results, tmp_path):
    text = throughput(results, None, tmp_path)

    assert "No load test results here: `make loadtest` writes them (bench/results/latest-loadtest.json)" in text
    assert "| gunicorn workers |" not in text


def test_the_page_is_written_again_with_the_load_test_results_given(loadtest, tmp_path):
    (tmp_path / "loadtest.json").write_text(json.dumps(loadtest), encoding="utf-8")
    output = tmp_path / "performance.md"

    assert document.main([str(FIXTURE), "--output", str(output), "--loadtest", str(tmp_path / "loadtest.json")]) == 0

    text = section(output.read_text(encoding="utf-8"), "Throughput under concurrency")
    assert "| 2 | 40.0 | 0.18× | 90.0 | 0.39× | 228.0 (410.0) |" in text
