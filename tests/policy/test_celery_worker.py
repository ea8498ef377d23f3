"""The beat-scheduled evaluation on a REAL Celery worker (Redis broker, the test PostgreSQL database)."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.celery import app as celery_app
from licensing.models import ProductInstance
from policy.models import Alert
from tests.conftest import REPO
from tests.factories import default_va, make_account

from .helpers import make_instance, make_license

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.redis, pytest.mark.postgres]


def overdue_estate():
    account = make_account(name="Beat Networks", domain="beat.example.com")
    lic = make_license()
    long_ago = timezone.now() - timedelta(days=200)
    instance = make_instance(default_va(account), usage={lic: 1}, first_use_at=long_ago, hostname="beat-core")
    return account, instance


def test_the_periodic_task_rows_name_the_tasks_the_worker_runs():
    evaluation = PeriodicTask.objects.get(name="Evaluate reporting deadlines")
    assert (evaluation.task, evaluation.interval.every, evaluation.interval.period) == (
        "policy.evaluate_reporting_deadlines",
        1,
        "hours",
    )
    assert evaluation.expire_seconds == 3600 and evaluation.enabled
    digest = PeriodicTask.objects.get(name="Overdue reporting digest")
    assert digest.task == "policy.send_overdue_digests" and digest.crontab.hour == "6"
    celery_app.loader.import_default_modules()  # what a worker does at start: import every app's tasks
    assert {evaluation.task, digest.task} <= set(celery_app.tasks)


def test_the_scheduled_evaluation_runs_on_a_real_worker_and_the_alerts_appear(celery_worker_process):
    account, instance = overdue_estate()
    row = PeriodicTask.objects.get(name="Evaluate reporting deadlines")
    result = celery_app.send_task(
        row.task, args=json.loads(row.args), kwargs=json.loads(row.kwargs), queue=celery_worker_process
    )
    counts = result.get(timeout=90)
    assert counts["overdue"] == 1 and counts["alerts_opened"] == 1
    instance.refresh_from_db()
    assert instance.reporting_status == ProductInstance.ReportingStatus.OVERDUE
    alert = Alert.objects.get(product_instance=instance, resolved_at__isnull=True)
    assert alert.kind == "overdue" and alert.smart_account == account
    log = (REPO / "var" / f"worker-{celery_worker_process}.log").read_text()
    assert "policy.evaluate_reporting_deadlines" in log and "succeeded" in log


def test_celery_beat_sends_the_evaluation_from_its_row_to_the_worker(celery_worker_process, redis_url):
    """Beat itself (the database scheduler) reads the row and sends the task; the worker runs it."""
    _, instance = overdue_estate()
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(name="Evaluate reporting deadlines").update(
        interval=every_two_seconds, queue=celery_worker_process, last_run_at=None
    )
    PeriodicTask.objects.exclude(name="Evaluate reporting deadlines").update(enabled=False)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": redis_url,
    }
    log_path = REPO / "var" / f"beat-{celery_worker_process}.log"
    with open(log_path, "w") as log:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "beat", "--loglevel=INFO", "--pidfile=",
             "-S", "django_celery_beat.schedulers:DatabaseScheduler", "--max-interval=1"],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 90
            while not Alert.objects.filter(product_instance=instance, kind="overdue").exists():
                assert beat.poll() is None, log_path.read_text()[-3000:]
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.5)
        finally:
            os.killpg(beat.pid, signal.SIGTERM)
            beat.wait(timeout=20)
    assert "Sending due task Evaluate reporting deadlines (policy.evaluate_reporting_deadlines)" in log_path.read_text()
    instance.refresh_from_db()
    assert instance.reporting_status == "overdue"
