"""Years of usage history: ingestion and pages measured, then three years of monthly reports and measurements
added by COPY (into the month partitions), then measured again. Partitioned by month, the ratios after/before
stay about 1: a new report goes to this month's partition whatever the older months hold, and the pages read
the instance and its latest reports through indexes."""

from __future__ import annotations

import io
import time
from datetime import timedelta

from django.db import connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench import ingest as bench_ingest
from bench.pages import time_page
from licensing.estate.copy import copy_text
from licensing.models import ProductInstance, ProductInstanceUsage
from policy import partitions
from smartaccounts.models import SmartAccount, User

MONTHS = 36
# A page that reads no usage report nor measurement: how much slower it got says how much the machine's
# load moved between the two measurements (a shared machine), and the pages' ratios are also given
# divided by it.
CONTROL = "account licenses (control: reads no usage data)"
# Reports a device sends a year in the history (with a measurement per license it uses): at 200,000 devices
# about 1.2M reports and 1.6M measurements a year.
REPORTS_PER_YEAR = 6
REPORT_COLUMNS = (
    "id, report_id, product_instance_id, smart_account_id, source, generated_at, received_at, signed, "
    "software_version, payload"
)
MEASUREMENT_COLUMNS = 'report_id, product_instance_id, smart_account_id, received_at, license_id, count, start, "end"'


def _pages(account: SmartAccount) -> dict[str, str]:
    a = account.pk
    instance = (
        ProductInstance.objects.filter(smart_account=account, status="active", last_report_at__isnull=False)
        .order_by("pk")
        .first()
    )
    return {
        "account home": reverse("account_home", args=[a]),
        "instances, first page": reverse("instances", args=[a]),
        "one instance's reports": reverse("policy_instance_reporting", args=[a, instance.pk]),
        "usage reports (API list)": reverse("api_usage_report_list", args=[a]),
        CONTROL: reverse("licenses", args=[a]),
    }


def _measure(account: SmartAccount, instance_ids: list[int], batch_ids: list[int], requests: int) -> dict:
    reports = bench_ingest.build_reports(instance_ids)
    accepted, _, seconds = bench_ingest._ingest(reports)
    batch_reports = bench_ingest.build_reports(batch_ids)
    batch_accepted, _, batch_seconds = bench_ingest._ingest_batches(batch_reports, bench_ingest.BATCH_SIZE)
    client = Client()
    client.force_login(User.objects.get(email=f"admin@{account.domain}"))
    pages = {name: time_page(client, url, requests) for name, url in _pages(account).items()}
    return {
        "one_per_call": round(accepted / seconds, 1),
        "batch": round(batch_accepted / batch_seconds, 1),
        "pages": pages,
    }


def add_history(months: int = MONTHS, per_year: int = REPORTS_PER_YEAR) -> dict:
    """COPY `months` months of reports (and a measurement per license used) for every reporting device into
    the month partitions; returns the rows written and the seconds."""
    now = timezone.now().replace(microsecond=0)
    first_month = partitions.add_months(partitions.month_start(now), -months)
    partitions.ensure_partitions(since=first_month)
    instances = list(ProductInstance.objects.filter(last_report_at__isnull=False).values_list("pk", "smart_account_id"))
    usage: dict[int, list[tuple[int, int]]] = {}
    for pid, lic, count in ProductInstanceUsage.objects.values_list("product_instance_id", "license_id", "count"):
        usage.setdefault(pid, []).append((lic, count))
    total_reports = len(instances) * per_year * months // 12
    with connection.cursor() as cursor:
        sequence = f"pg_get_serial_sequence('{partitions.REPORTS}', 'id')"
        cursor.execute(f"SELECT setval({sequence}, nextval({sequence}) + %s)", [total_reports])
        first_id = cursor.fetchone()[0] - total_reports
    span = timedelta(days=months * 365 / 12)
    step = span / max(1, per_year * months // 12)
    report_pk = first_id
    written = measured = 0
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        reports, measurements = io.StringIO(), io.StringIO()

        def flush():
            for name, buffer, columns in (
                (partitions.REPORTS, reports, REPORT_COLUMNS),
                (partitions.MEASUREMENTS, measurements, MEASUREMENT_COLUMNS),
            ):
                buffer.seek(0)
                cursor.cursor.copy_expert(f"COPY {name} ({columns}) FROM STDIN", buffer)
                buffer.seek(0)
                buffer.truncate()

        for n, (pk, account_id) in enumerate(instances):
            offset = timedelta(seconds=(n * 7919) % int(step.total_seconds()))
            for k in range(per_year * months // 12):
                received = now - span + offset + k * step
                if received >= now - timedelta(days=1):
                    break
                generated = received - timedelta(minutes=3)
                row = (report_pk, f"00000000-0000-4000-8000-{report_pk:012d}", pk, account_id, "device",
                       generated, received, True, "", {"history": True})  # fmt: skip
                reports.write("\t".join(copy_text(v) for v in row) + "\n")
                for lic, count in usage.get(pk, []):
                    row = (report_pk, pk, account_id, received, lic, count, generated - timedelta(days=1), generated)
                    measurements.write("\t".join(copy_text(v) for v in row) + "\n")
                    measured += 1
                report_pk += 1
                written += 1
            if n % 5000 == 4999:
                flush()
        flush()
    return {
        "months": months,
        "reports": written,
        "measurements": measured,
        "copy_seconds": round(time.perf_counter() - start, 1),
    }


def run(account_id: int, *, reports: int = 500, requests: int = 20, settle=None) -> dict:
    """Ingestion (one per call, `reports`; a batch of 1,000 or `reports` when fewer) and four pages of the
    account, before and after the history; `settle` (VACUUM ANALYZE) after the history as after any bulk
    phase."""
    account = SmartAccount.objects.get(pk=account_id)
    batch = max(reports, min(bench_ingest.BATCH_SIZE, 2 * reports))
    ids = list(
        ProductInstance.objects.filter(smart_account_id=account_id, status="active", trust_code__gt="")
        .order_by("?")
        .values_list("pk", flat=True)[: 2 * (reports + batch)]
    )
    half = len(ids) // 2
    before_ids, after_ids = ids[:half], ids[half:]
    before = _measure(account, before_ids[:reports], before_ids[reports:], requests)
    history = add_history()
    if settle is not None:
        settle()
    after = _measure(account, after_ids[:reports], after_ids[reports:], requests)
    rows = [
        {"what": "ingestion, one report per call (reports/s)", "before": before["one_per_call"],
         "after": after["one_per_call"], "ratio": round(before["one_per_call"] / after["one_per_call"], 2)},
        {"what": f"ingestion, batches of {bench_ingest.BATCH_SIZE:,} (reports/s)", "before": before["batch"],
         "after": after["batch"], "ratio": round(before["batch"] / after["batch"], 2)},
    ]  # fmt: skip
    control = after["pages"][CONTROL]["p50_ms"] / max(before["pages"][CONTROL]["p50_ms"], 0.1)
    for name, page in before["pages"].items():
        later = after["pages"][name]
        ratio = later["p50_ms"] / max(page["p50_ms"], 0.1)
        rows.append(
            {
                "what": f"page '{name}' (p50 ms, queries {later['queries']})",
                "before": page["p50_ms"],
                "after": later["p50_ms"],
                "raw_ratio": round(ratio, 2),
                "ratio": round(ratio / control, 2),
                "before_p95_ms": page["p95_ms"],
                "after_p95_ms": later["p95_ms"],
            }
        )
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {partitions.REPORTS}")
        total_reports = cursor.fetchone()[0]
    return {
        **history,
        "total_reports": total_reports,
        "partitions": len(partitions.month_partitions(partitions.REPORTS)),
        "rows": rows,
        "control_ratio": round(control, 2),
        "worst_ratio": max(row["ratio"] for row in rows),
    }
