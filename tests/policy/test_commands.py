"""`ingest_usage FILE...` and `evaluate_deadlines`."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from licensing.models import ProductInstance
from policy.services import ack_is_authentic
from tests.factories import default_va

from .helpers import T0, TRUST, make_instance, make_license, report

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
        code = 0
    except SystemExit as exit:
        code = exit.code
    return code, out.getvalue(), err.getvalue()


def test_ingest_usage_reads_several_files_writes_the_acks_and_lists_refusals(account, tmp_path):
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    now = timezone.now()
    good = report(device, generated_at=now - timedelta(hours=1), usage={lic: 2})
    tampered = dict(report(device, generated_at=now, usage={lic: 2}), hostname="changed-after-signing")
    offline = report(None, generated_at=now, usage={lic: 1}, pid="C9200L-24T", serial_number="JAE0001")
    (tmp_path / "a.json").write_text(json.dumps([good, tampered]))
    (tmp_path / "b.jsonl").write_text(json.dumps(offline) + "\n" + json.dumps(good) + "\n")
    acks = tmp_path / "acks.json"

    code, out, err = run(
        "ingest_usage", str(tmp_path / "a.json"), str(tmp_path / "b.jsonl"),
        "--virtual-account", str(va.pk), "--acks", str(acks), "--no-progress",
    )  # fmt: skip
    assert code == 1
    assert "2 accepted, 1 already received, 1 refused." in out
    assert f"a.json #2 (report {tampered['report_id']}): [signature_invalid]" in err
    written = json.loads(acks.read_text())["acks"]
    assert len(written) == 3 and all(ack_is_authentic(ack) for ack in written)
    assert ProductInstance.objects.get(serial_number="JAE0001").virtual_account == va


def test_ingest_usage_without_a_va_refuses_unknown_instances_and_shows_progress(account, tmp_path):
    lic = make_license()
    unknown = report(None, generated_at=timezone.now(), usage={lic: 1}, pid="C9200L-24T", serial_number="JAE0002")
    path = tmp_path / "one.json"
    path.write_text(json.dumps(unknown))
    code, out, err = run("ingest_usage", str(path))
    assert code == 1 and "[unknown_instance]" in err and "Usage reports: 100%" in err


def test_ingest_usage_names_a_bad_file(tmp_path):
    (tmp_path / "bad.json").write_text("{oops")
    with pytest.raises(CommandError, match="bad.json: The file is neither JSON nor JSON Lines"):
        call_command("ingest_usage", str(tmp_path / "bad.json"))
    with pytest.raises(CommandError, match="no such file"):
        call_command("ingest_usage", str(tmp_path / "missing.json"))


def test_evaluate_deadlines_prints_the_counts_and_is_idempotent(account):
    lic = make_license()
    make_instance(default_va(account), usage={lic: 1}, first_use_at=T0)
    code, out, _ = run("evaluate_deadlines", "--now", "2026-05-01T00:00:00Z")
    assert code == 0
    assert "1 product instances: 0 OK, 0 due soon, 1 overdue, 0 not required." in out
    assert "alerts: 1 opened, 0 resolved" in out
    code, out, _ = run("evaluate_deadlines", "--now", "2026-05-01T00:00:00Z")
    assert "0 changed; alerts: 0 opened, 0 resolved." in out
    with pytest.raises(CommandError, match="UTC offset"):
        call_command("evaluate_deadlines", "--now", "2026-05-01T00:00:00")
