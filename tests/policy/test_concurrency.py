"""Reports arriving at the same time, in several OS processes on PostgreSQL."""

import json
import os
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.utils import timezone

from licensing.models import LicenseBalance, ProductInstanceUsage
from policy.models import Acknowledgement, UsageMeasurement, UsageReport
from tests.conftest import REPO
from tests.factories import default_va, make_account

from .helpers import TRUST, make_instance, make_license, report

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

SCRIPT = """
import json, sys, time
import django
django.setup()
from policy.formats import Refusal
from policy.services import ingest_usage_report
payload = json.load(open(sys.argv[1]))
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
va = None
if len(sys.argv) > 3:
    from smartaccounts.models import VirtualAccount
    va = VirtualAccount.objects.get(pk=int(sys.argv[3]))
try:
    ack = ingest_usage_report(payload=payload, source="command" if va else "device", virtual_account=va)
    print(json.dumps({"ack": str(ack.ack_id)}))
except Refusal as refusal:
    print(json.dumps({"refused": refusal.reason}))
"""


def run_at_once(tmp_path, payloads: list[dict], va=None) -> list[dict]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
    }
    start = time.time() + 4  # every process is up and waiting by then
    processes = []
    for i, payload in enumerate(payloads):
        path = tmp_path / f"report-{i}.json"
        path.write_text(json.dumps(payload))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-c", SCRIPT, str(path), str(start), *([str(va.pk)] if va else [])],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        )
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_the_same_report_sent_by_four_processes_at_once_is_applied_once(tmp_path, postgres):
    account = make_account(name="Race Networks", domain="race.example.com")
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST)
    payload = report(device, generated_at=timezone.now(), usage={lic: 7})
    results = run_at_once(tmp_path, [payload] * 4)
    assert len({r["ack"] for r in results}) == 1  # everyone got the same ACK
    assert UsageReport.objects.count() == 1 and Acknowledgement.objects.count() == 1
    assert UsageMeasurement.objects.count() == 1
    assert LicenseBalance.objects.get(virtual_account=va, license=lic).in_use == 7


def test_different_reports_of_one_instance_at_once_never_count_usage_twice(tmp_path, postgres):
    account = make_account(name="Race Networks", domain="race.example.com")
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST)
    now = timezone.now()
    payloads = [report(device, generated_at=now, usage={lic: count}) for count in (3, 5, 8, 13)]
    results = run_at_once(tmp_path, payloads)
    assert all("ack" in r for r in results)
    final = ProductInstanceUsage.objects.get(product_instance=device).count
    assert final in (3, 5, 8, 13)
    assert LicenseBalance.objects.get(virtual_account=va, license=lic).in_use == final


def test_four_processes_creating_the_same_unknown_device_make_one_instance(tmp_path, postgres):
    """The UDI's unique constraint lets one create it; the others retry and find it (a replay)."""
    from licensing.models import ProductInstance

    account = make_account(name="Race Networks", domain="race.example.com")
    va = default_va(account)
    lic = make_license()
    payload = report(None, generated_at=timezone.now(), usage={lic: 2}, pid="C9300-24T", serial_number="RACE0001")
    results = run_at_once(tmp_path, [payload] * 4, va=va)
    assert len({r.get("ack") for r in results}) == 1, results
    assert ProductInstance.objects.filter(serial_number="RACE0001").count() == 1
    assert LicenseBalance.objects.get(virtual_account=va, license=lic).in_use == 2
