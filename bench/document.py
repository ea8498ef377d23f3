"""docs/performance.md, written from bench/performance.md.in and a run's results.

The template is markdown with placeholders: `{{ measurements }}` (what the run measured, tables and
lines), `{{ ingest_stages }}` (where one report's time goes), `{{ targets }}` (the targets table),
`{{ targets_not_met }}` (each missed target with its measured value and the reason the template gives
for it), `{{ throughput }}` (the load test's results, bench/results/latest-loadtest.json of
`make loadtest`, when there are any), and `{{ a.b.-1.c }}`, a value of the results (keys and list
indexes, dotted). The template ends with the reasons, each after a line `<!-- reason: <target key> -->`
(the keys are `bench.report.targets`'): they are shown only when their target is missed, and nothing
from the first reason's comment on is copied to the page.

    python -m bench.document bench/results/latest-full.json [--output docs/performance.md] [--loadtest FILE]

writes the page again from saved results (after editing the template, say) without measuring.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from bench.loadtest.report import render_throughput
from bench.report import ingest_stages, render_measurements, targets, targets_table

BENCH = Path(__file__).resolve().parent
TEMPLATE = BENCH / "performance.md.in"
DOCUMENT = BENCH.parent / "docs" / "performance.md"
LOADTEST_RESULTS = BENCH / "results" / "latest-loadtest.json"

NOTICE = (
    "<!-- Written by `make bench` (bench/document.py) from bench/performance.md.in and the run's results: "
    "edit the template, not this file. -->\n\n"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([\w.:-]+)\s*\}\}")
_REASON = re.compile(r"^<!-- reason: (.+?) -->$", re.MULTILINE)
# The comment that introduces the reasons: everything from it on stays out of the page.
_REASONS_START = re.compile(r"^<!-- Reasons\b", re.MULTILINE)


class TemplateError(ValueError):
    """The template names a value the results do not have."""


def split_template(template: str) -> tuple[str, dict[str, str]]:
    """The page's text and {target key: reason} from a template."""
    start = _REASONS_START.search(template) or _REASON.search(template)
    if start is None:
        return template, {}
    body, tail = template[: start.start()], template[start.start() :]
    parts = _REASON.split(tail)  # [text before the first, key, reason, key, reason, ...]
    reasons = {key.strip(): text.strip() for key, text in zip(parts[1::2], parts[2::2], strict=True)}
    return body.rstrip() + "\n", reasons


def value_at(results: dict, path: str):
    """The value at a dotted path of the results (`deadlines.-1.instances`)."""
    value = results
    for part in path.split("."):
        try:
            value = value[int(part)] if isinstance(value, list) else value[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise TemplateError(f"The results have no value at '{path}' (the template names it).") from None
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _fill(text: str, results: dict, sections: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: sections.get(m.group(1)) or value_at(results, m.group(1)), text)


def targets_not_met(results: dict, reasons: dict[str, str]) -> str:
    """A list item per missed target: the target, what was measured, and its reason when there is one."""
    missed = [t for t in targets(results) if not t["met"]]
    if not missed:
        return "Every target was met in this run."
    items = []
    for target in missed:
        reason = reasons.get(target["key"])
        if reason is None:
            reason = f"No reason is written down for it yet (`<!-- reason: {target['key']} -->` in the template)."
        text = f"*{target['target']}*: measured {target['measured']}.\n{_fill(reason, results, {})}"
        items.append("- " + text.replace("\n", "\n  "))
    return "\n".join(items)


def load_loadtest(path: Path = LOADTEST_RESULTS) -> dict | None:
    """The load test's results (`make loadtest`), None when it has not run here."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def render_document(results: dict, template: str, loadtest_path: Path = LOADTEST_RESULTS) -> str:
    """The page for `results` (a run's results, as in bench/results/*.json) and the load test's at `loadtest_path`."""
    body, reasons = split_template(template)
    sections = {
        "measurements": render_measurements(results).rstrip("\n"),
        "targets": "\n".join(targets_table(results)),
        "targets_not_met": targets_not_met(results, reasons),
        "ingest_stages": ingest_stages(results),
        "throughput": render_throughput(load_loadtest(loadtest_path)).rstrip("\n"),
    }
    return NOTICE + _fill(body, results, sections)


def write_document(
    results: dict, output: Path, template: Path = TEMPLATE, loadtest_path: Path = LOADTEST_RESULTS
) -> str:
    text = render_document(results, template.read_text(encoding="utf-8"), loadtest_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.document", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="A run's results, e.g. bench/results/latest-full.json.")
    parser.add_argument("--output", type=Path, default=DOCUMENT, help=f"Default: {DOCUMENT}.")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help=f"Default: {TEMPLATE}.")
    parser.add_argument(
        "--loadtest", type=Path, default=LOADTEST_RESULTS, help=f"The load test's results. Default: {LOADTEST_RESULTS}."
    )
    args = parser.parse_args(argv)
    write_document(json.loads(args.results.read_text(encoding="utf-8")), args.output, args.template, args.loadtest)
    print(f"Written: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
