"""Batches of reports arriving at the same time, in several OS processes on PostgreSQL.

Each batch locks its instances in primary-key order whatever the order of its reports, and the
ledger locks balances in the standard order after them: overlapping batches wait for each other,
never deadlock, apply every report once, and leave the ledger consistent.
"""

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from licensing.models import LicenseBalance, ProductInstanceUsage
from licensing.verification import verify_ledger
from policy.models import Acknowledgement, UsageReport
from tests.conftest import REPO
from tests.factories import default_va, make_account, make_va

from .helpers import TRUST, make_instance, make_license, report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SCRIPT = """
import json, sys, time
import django
django.setup()
from policy.services import ingest_usage_report, ingest_usage_reports
payloads = json.load(open(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
if sys.argv[3] == "batch":
    results = ingest_usage_reports(payloads=payloads, source="device")
    acks = [str(r.acknowledgement.ack_id) if r.acknowledgement else None for r in results]
    print(json.dumps([[r.status, r.code, ack] for r, ack in zip(results, acks)]))
else:
    answers = []
    for payload in payloads:
        try:
            answers.append(["accepted", "", str(ingest_usage_report(payload=payload, source="device").ack_id)])
        except Exception as error:
            answers.append(["refused", getattr(error, "reason", type(error).__name__), None])
    print(json.dumps(answers))
"""


def run_at_once(tmp_path, jobs: list[tuple[str, list[dict]]]) -> list[list]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    start = time.time() + 4  # every process is up and waiting by then
    processes = []
    for i, (mode, payloads) in enumerate(jobs):
        path = tmp_path / f"batch-{i}.json"
        path.write_text(json.dumps(payloads))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, str(path), str(start), mode],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for process in processes:
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.fixture
def fleet(postgres):
    account = make_account(name="Race Networks", domain="race.example.com")
    lab, branch = default_va(account), make_va(account, "Branch")
    licenses = [make_license(), make_license(license_type="subscription")]
    devices = [make_instance(lab if n % 2 else branch, usage={licenses[0]: 1}, trust_code=TRUST) for n in range(12)]
    return account, licenses, devices


def assert_usage_matches_balances(account, licenses):
    for balance in LicenseBalance.objects.filter(smart_account=account):
        used = ProductInstanceUsage.objects.filter(
            product_instance__virtual_account_id=balance.virtual_account_id, license_id=balance.license_id
        )
        assert balance.in_use == sum(u.count for u in used)
    assert verify_ledger(smart_account=account) == []


def test_overlapping_batches_in_opposite_orders_never_deadlock_and_apply_each_report_once(tmp_path, fleet):
    account, (a, b), devices = fleet
    now = timezone.now()
    # Two batches naming the same instances in opposite orders, and reports one at a time beside them.
    first = [report(d, generated_at=now - timedelta(seconds=30), usage={a: 2, b: n % 3}) for n, d in enumerate(devices)]
    second = [report(d, generated_at=now, usage={a: 3, b: 1}) for d in reversed(devices)]
    single = [report(d, generated_at=now - timedelta(seconds=10), usage={b: 4}) for d in devices[::3]]
    results = run_at_once(tmp_path, [("batch", first), ("batch", second), ("single", single)])

    for answers in results:
        # Whatever the interleaving, each report is accepted or, behind a newer one, out of date.
        assert {status for status, _, _ in answers} <= {"accepted", "refused"}
        assert {code for status, code, _ in answers if status == "refused"} <= {"out_of_date"}
    assert all(status == "accepted" for status, _, _ in results[1])  # the newest reports always win
    accepted = sum(status == "accepted" for answers in results for status, _, _ in answers)
    assert UsageReport.objects.count() == accepted == Acknowledgement.objects.count()
    for device in devices:
        assert dict(ProductInstanceUsage.objects.filter(product_instance=device).values_list("license", "count")) == {
            a.pk: 3,
            b.pk: 1,
        }
    assert_usage_matches_balances(account, (a, b))


def test_the_same_batch_sent_by_three_processes_is_applied_once_with_the_same_acks(tmp_path, fleet):
    account, (a, b), devices = fleet
    now = timezone.now()
    batch = [report(d, generated_at=now, usage={a: 1 + n % 4}) for n, d in enumerate(devices)]
    results = run_at_once(tmp_path, [("batch", batch)] * 3)

    for n in range(len(batch)):
        assert len({answers[n][2] for answers in results}) == 1  # one ACK per report, whoever sent it
    assert sorted(answers[0][0] for answers in results) == ["accepted", "already received", "already received"]
    assert UsageReport.objects.count() == len(batch) == Acknowledgement.objects.count()
    assert_usage_matches_balances(account, (a, b))
