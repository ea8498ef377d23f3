"""Usage-report ingestion against a PostgreSQL COPY of the same rows: one report per call through
`ingest_usage_report` (in one process and in two), and batches through `ingest_usage_reports`
(`BATCH_SIZE` reports per call and per transaction, as the device endpoint and the upload send them)."""

from __future__ import annotations

import io
import multiprocessing
import os
import time
import uuid
from datetime import timedelta

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
    }
