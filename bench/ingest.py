"""Usage-report ingestion against a PostgreSQL COPY of the same rows: one report per call through
`ingest_usage_report` (in one process and in two), and batches through `ingest_usage_reports`
(`BATCH_SIZE` reports per call and per transaction, as the device endpoint and the upload send them);
and where one report's time goes (`stages`)."""

from __future__ import annotations

import importlib
import io
import multiprocessing
import os
import time
import uuid
from contextlib import ExitStack, contextmanager
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from licensing.estate.copy import copy_text
from licensing.models import ProductInstance, ProductInstanceUsage
from policy.formats import sign_with_trust_code


def build_reports(instance_ids: list[int], change_every: int = 10) -> list[dict]:
    """A signed report per instance, generated a minute ago. Most repeat the device's current usage
    (the steady state of a fleet); one in `change_every` changes a count (a feature change)."""
    now = timezone.now().replace(microsecond=0) - timedelta(minutes=1)
    instances = {i.pk: i for i in ProductInstance.objects.filter(pk__in=instance_ids)}
    usage: dict[int, list[tuple[str, int]]] = {}
    for pid, tag, count in ProductInstanceUsage.objects.filter(product_instance_id__in=instance_ids).values_list(
        "product_instance_id", "license__tag", "count"
    ):
        usage.setdefault(pid, []).append((tag, count))
    reports = []
    for n, pk in enumerate(instance_ids):
        inst = instances[pk]
        measurements = [
            {
                "entitlement_tag": tag,
                "count": count + (1 if n % change_every == 0 and i == 0 else 0),
                "start": (now - timedelta(days=1)).isoformat().replace("+00:00", "Z"),
                "end": now.isoformat().replace("+00:00", "Z"),
            }
            for i, (tag, count) in enumerate(usage.get(pk, []))
        ]
        document = {
            "report_id": str(uuid.uuid4()),
            "udi": {"pid": inst.pid, "serial_number": inst.serial_number},
            "hostname": inst.hostname,
            "software_version": inst.software_version,
            "generated_at": now.isoformat().replace("+00:00", "Z"),
            "measurements": measurements,
        }
        reports.append(sign_with_trust_code(document, inst.trust_code))
    return reports


def _ingest(reports: list[dict]) -> tuple[int, int, float]:
    from policy.services import ingest_usage_report

    accepted = refused = 0
    start = time.perf_counter()
    for payload in reports:
        try:
            ingest_usage_report(payload=payload, source="device")
            accepted += 1
        except Exception:
            refused += 1
    return accepted, refused, time.perf_counter() - start


def _ingest_batches(reports: list[dict], batch_size: int) -> tuple[int, int, float]:
    from policy.services import ingest_usage_reports

    accepted = refused = 0
    start = time.perf_counter()
    for first in range(0, len(reports), batch_size):
        for result in ingest_usage_reports(payloads=reports[first : first + batch_size], source="device"):
            if result.status == "refused":
                refused += 1
            else:
                accepted += 1
    return accepted, refused, time.perf_counter() - start


def _worker(args) -> tuple[int, int, float]:
    # Forked from the benchmark process (Django set up, its connection closed before the fork).
    (instance_ids,) = args
    reports = build_reports(instance_ids)
    connection.close()
    return _ingest(reports)


def copy_floor(reports: list[dict]) -> float:
    """Seconds to COPY the same report and measurement rows into tables shaped (and indexed) like ours."""
    now = timezone.now()
    serial_to_id = dict(
        ProductInstance.objects.filter(serial_number__in=[r["udi"]["serial_number"] for r in reports])
        .exclude(status="removed")
        .values_list("serial_number", "pk")
    )
    account_of = dict(
        ProductInstance.objects.filter(pk__in=serial_to_id.values()).values_list("pk", "smart_account_id")
    )
    report_rows, measurement_rows = io.StringIO(), io.StringIO()
    for n, r in enumerate(reports, start=1):
        pid = serial_to_id[r["udi"]["serial_number"]]
        report_rows.write(
            "\t".join(
                copy_text(v)
                for v in (n, r["report_id"], pid, account_of[pid], "device", r["generated_at"], now, True, r, "")
            )
            + "\n"
        )
        for m in r["measurements"]:
            measurement_rows.write(
                "\t".join(copy_text(v) for v in (n, pid, account_of[pid], now, 1, m["count"], m["start"], m["end"]))
                + "\n"
            )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE floor_report (LIKE policy_usagereport INCLUDING ALL) ON COMMIT DROP")
        cursor.execute(
            "CREATE TEMP TABLE floor_measurement (LIKE policy_usagemeasurement INCLUDING ALL) ON COMMIT DROP"
        )
        report_rows.seek(0)
        measurement_rows.seek(0)
        start = time.perf_counter()
        cursor.cursor.copy_expert(
            "COPY floor_report (id, report_id, product_instance_id, smart_account_id, source, generated_at, "
            "received_at, signed, payload, software_version) FROM STDIN",
            report_rows,
        )
        cursor.cursor.copy_expert(
            "COPY floor_measurement (report_id, product_instance_id, smart_account_id, received_at, license_id, "
            'count, start, "end") FROM STDIN',
            measurement_rows,
        )
        elapsed = time.perf_counter() - start
    return elapsed


BATCH_SIZE = 1000


def run(account_id: int, reports_per_process: int = 2000) -> dict:
    n = reports_per_process
    ids = list(
        ProductInstance.objects.filter(smart_account_id=account_id, status="active", trust_code__gt="")
        .order_by("?")
        .values_list("pk", flat=True)[: n * 4]
    )
    one, two_a, two_b, batch = ids[:n], ids[n : 3 * n : 2], ids[n + 1 : 3 * n : 2], ids[3 * n :]
    reports = build_reports(one)
    floor_seconds = copy_floor(reports)
    accepted, refused, seconds = _ingest(reports)
    batch_reports = build_reports(batch)
    batch_floor_seconds = copy_floor(batch_reports)
    batch_accepted, batch_refused, batch_seconds = _ingest_batches(batch_reports, BATCH_SIZE)
    connection.close()
    ctx = multiprocessing.get_context("fork")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with ctx.Pool(2) as pool:
        results = pool.map(_worker, [(two_a,), (two_b,)])
    # Each process times its own ingest loop (after start-up); they run side by side.
    two_seconds = max(r[2] for r in results)
    two_accepted = sum(r[0] for r in results)
    one_rate = accepted / seconds
    floor_rate = len(reports) / floor_seconds
    batch_rate = batch_accepted / batch_seconds
    batch_floor_rate = len(batch_reports) / batch_floor_seconds
    breakdown = stages(account_id, reports=max(50, n // 4))
    return {
        "reports_one_process": accepted,
        "refused_one_process": refused,
        "reports_per_second_one_process": round(one_rate, 1),
        "reports_two_processes": two_accepted,
        "refused_two_processes": sum(r[1] for r in results),
        "reports_per_second_two_processes": round(two_accepted / two_seconds, 1),
        "copy_floor_reports_per_second": round(floor_rate, 1),
        "ratio_to_copy": round(floor_rate / one_rate, 2),
        "batch_size": BATCH_SIZE,
        "reports_batch": batch_accepted,
        "refused_batch": batch_refused,
        "reports_per_second_batch": round(batch_rate, 1),
        "batch_copy_floor_reports_per_second": round(batch_floor_rate, 1),
        "batch_ratio_to_copy": round(batch_floor_rate / batch_rate, 2),
        "stages": breakdown,
    }


# --- Where one report's time goes ------------------------------------------------------------------


class _Clock:
    """Seconds spent in named stages; SQL statements counted and timed by the phase of the batch that ran them."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.statements: dict[str, int] = {}
        self.phase = "other"

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def timed(self, stage: str, function, *, phase: str | None = None):
        def wrapper(*args, **kwargs):
            outer = self.phase
            if phase is not None:
                self.phase = phase
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.add(stage, time.perf_counter() - start)
                self.phase = outer

        return wrapper

    def sql(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.add(f"sql:{self.phase}", time.perf_counter() - start)
            self.statements[self.phase] = self.statements.get(self.phase, 0) + 1


@contextmanager
def _patched(target, name: str, value):
    original = getattr(target, name)
    setattr(target, name, value)
    try:
        yield
    finally:
        setattr(target, name, original)


# The stages of one report, in the order the table shows them: (key, label).
STAGES = (
    ("schema", "schema check and parsing (`parse_report`)"),
    ("hmac", "HMAC-SHA256 of the report against the trust code"),
    ("rules", "policy and rules in Python (`decide`, without HMAC and ACK)"),
    ("ack", "ACK built, canonicalised and Ed25519-signed"),
    ("sql:lock", "SQL: BEGIN, then lock the instance (with its account and VA)"),
    ("sql:read", "SQL: read what the rules need (one UNION ALL)"),
    ("sql:write", "SQL: the ledger (when a count changes) and the writes (one round trip)"),
    ("commit", "COMMIT (the WAL flushed to disk)"),
    ("rest", "the rest: Django's transaction and cursor, statements and results built"),
)


def stages(account_id: int, reports: int = 500) -> dict:
    """One report per call through `ingest_usage_report`, `reports` times, with each stage timed inside the
    calls: the service's own functions wrapped with a clock for the run, every SQL statement counted and
    timed by the phase that ran it (lock, read, write), and the COMMIT. `rest` is the
    call's time that no stage accounts for. Milliseconds per report, and each stage's share of the total."""
    import policy.services.batch as batch
    import policy.services.ingest as ingest_module
    from policy import formats
    from policy.services import ingest_usage_report

    # The module (the package's `decide` is the function of the same name).
    decide_module = importlib.import_module("policy.services.batch.decide")
    ids = list(
        ProductInstance.objects.filter(smart_account_id=account_id, status="active", trust_code__gt="")
        .order_by("?")
        .values_list("pk", flat=True)[: reports + 20]
    )
    payloads = build_reports(ids)
    for payload in payloads[:20]:  # warm up: the key loaded, the statements prepared on this connection
        ingest_usage_report(payload=payload, source="device")
    payloads = payloads[20:]
    clock = _Clock()
    with ExitStack() as stack:
        stack.enter_context(_patched(ingest_module, "parse_report", clock.timed("schema", formats.parse_report)))
        stack.enter_context(
            _patched(decide_module, "signature_matches", clock.timed("hmac", decide_module.signature_matches))
        )
        stack.enter_context(_patched(decide_module, "_ack_document", clock.timed("ack", decide_module._ack_document)))
        stack.enter_context(_patched(batch, "decide", clock.timed("decide", batch.decide)))
        for name, phase in (
            ("lock_instances", "lock"),
            ("read", "read"),
            ("write", "write"),
        ):
            stack.enter_context(_patched(batch, name, clock.timed(f"phase:{phase}", getattr(batch, name), phase=phase)))
        stack.enter_context(_patched(connection, "commit", clock.timed("commit", connection.commit, phase="commit")))
        stack.enter_context(connection.execute_wrapper(clock.sql))
        accepted = refused = 0
        start = time.perf_counter()
        for payload in payloads:
            try:
                ingest_usage_report(payload=payload, source="device")
                accepted += 1
            except ValidationError:
                refused += 1
        total = time.perf_counter() - start
    calls = accepted + refused
    seconds = dict(clock.seconds)
    seconds["rules"] = seconds.pop("decide", 0.0) - seconds.get("hmac", 0.0) - seconds.get("ack", 0.0)
    known = sum(seconds.get(key, 0.0) for key, _ in STAGES if key != "rest")
    seconds["rest"] = total - known
    statements = sum(clock.statements.values())
    rows = []
    for key, label in STAGES:
        ms = 1000 * seconds.get(key, 0.0) / calls
        row = {
            "stage": key,
            "label": label,
            "ms": round(ms, 3),
            "share_percent": round(100 * seconds.get(key, 0.0) / total, 1),
        }
        if key.startswith("sql:"):
            row["statements"] = round(clock.statements.get(key[4:], 0) / calls, 2)
        rows.append(row)
    return {
        "reports": accepted,
        "refused": refused,
        "ms_per_report": round(1000 * total / calls, 3),
        "reports_per_second": round(calls / total, 1),
        "statements_per_report": round(statements / calls, 2),
        # psycopg2 opens each transaction with a BEGIN of its own, and the COMMIT is one more.
        "round_trips_per_report": round(statements / calls + 2, 2),
        "sql_ms_per_report": round(1000 * sum(v for k, v in seconds.items() if k.startswith("sql:")) / calls, 3),
        "stages": rows,
    }
