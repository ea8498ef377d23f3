"""The application never imports the benchmarks: `bench/` may import the app, not the other way round.

`bench/` is a measuring tool outside the deployed application; `generate_estate` and anything else the
portal runs take what they need from the application itself (the estate lives in `licensing.estate`)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APPLICATION = ("config", "smartaccounts", "licensing", "policy")


def bench_imports(source: str) -> list[int]:
    """Line numbers of the statements in `source` that import `bench` or a module of it."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        if any(name == "bench" or name.startswith("bench.") for name in names):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("import bench", [1]),
        ("import os, bench.report", [1]),
        ("def f():\n    from bench.estate import generate", [2]),
        ("from bench import pages", [1]),
        ("import benchmarks\nfrom benchmark import x\nfrom .bench import y\nbench = 1", []),
    ],
)
def test_bench_imports_are_found_wherever_they_are_written(source, found):
    assert bench_imports(source) == found


def test_no_application_module_imports_bench():
    offenders = [
        f"{path.relative_to(REPO)}:{line}"
        for package in APPLICATION
        for path in sorted((REPO / package).rglob("*.py"))
        for line in bench_imports(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "the application imports bench/: " + ", ".join(offenders)
