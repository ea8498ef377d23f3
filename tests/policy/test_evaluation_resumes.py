"""A deadline evaluation stopped half-way (a killed worker) resumes where it stopped and ends as an
uninterrupted run would have: batches commit one by one, the run's progress commits with each, and
the task's message comes back to a worker (acks_late, Redis's visibility timeout) before its beat
entry expires."""

import math
import time
from collections import Counter
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.checks import run_checks
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from config.celery import app as celery_app
from licensing.models import InstanceDeadline, ProductInstance
from policy import models as policy_models
from policy.deadlines import evaluate_reporting_deadlines
from policy.models import Alert
from policy.tasks import evaluate_reporting_deadlines_task
from smartaccounts.models import Event
from tests.factories import default_va, make_va

from .helpers import make_instance, make_license

D = timedelta(days=1)
ALERT_EVENTS = ("policy.alert_opened", "policy.alert_resolved")


def last_event() -> int:
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def state(events_after: int) -> dict:
    """What an evaluation writes: every instance's deadline and status, the alerts, the alert events (those
    written after event `events_after`: the log is append-only)."""
    return {
        "instances": sorted(
            InstanceDeadline.objects.values_list("pk", "next_due_at", "reporting_status", "reporting_status_changed_at")
        ),
        "alerts": sorted(
            Alert.objects.values_list("product_instance_id", "kind", "virtual_account_id", "due_at", "resolved_at")
        ),
        "events": Counter(
            Event.objects.filter(pk__gt=events_after, action__in=ALERT_EVENTS).values_list(
                "action", "virtual_account_id", "message"
            )
        ),
    }


def uninterrupted(now, batch_size: int) -> tuple[dict, dict]:
    """The result and the state of an uninterrupted run from the current state (rolled back afterwards)."""
    with transaction.atomic():
        mark = last_event()
        result = evaluate_reporting_deadlines(now=now, batch_size=batch_size)
        expected = state(mark)
        transaction.set_rollback(True)
    return result, expected


class CrashAtBatch:
    """Make the batch that would commit as number `n` fail, as a worker killed during it leaves the run: its
    writes are rolled back with the checkpoint they would have committed with (Django's execute wrapper)."""

    def __init__(self, n: int, error: Exception | None = None):
        self.left = n
        self.error = error or RuntimeError("worker killed")

    def __call__(self, execute, sql, params, many, context):
        if sql.startswith(f'UPDATE "{policy_models.DeadlineEvaluationRun._meta.db_table}" SET "next_id"'):
            self.left -= 1
            if self.left == 0:
                raise self.error
        return execute(sql, params, many, context)


@pytest.mark.django_db
def test_a_run_stopped_half_way_resumes_after_its_committed_batches_as_of_its_first_time(account, other_account):
    lic, now = make_license(), timezone.now()
    vas = [default_va(account), make_va(account, "Plant"), default_va(other_account)]
    for i in range(30):  # first used 0..290 days ago: ok, due soon, overdue; every fifth uses no license
        make_instance(vas[i % 3], usage=None if i % 5 == 0 else {lic: 1}, first_use_at=now - (i * 10) * D)
    stale = make_instance(vas[0], usage={lic: 1}, first_use_at=now - 400 * D)
    evaluate_reporting_deadlines(now=now - 200 * D)  # long ago: alerts that no longer apply now (to resolve)
    ProductInstance.objects.filter(pk=stale.pk).update(status="removed")
    batch_size = 4
    batches = math.ceil((ProductInstance.objects.latest("pk").pk - ProductInstance.objects.earliest("pk").pk + 1) / 4)
    expected_result, expected = uninterrupted(now, batch_size)
    mark = last_event()

    with connection.execute_wrapper(CrashAtBatch(4)), pytest.raises(RuntimeError, match="worker killed"):
        evaluate_reporting_deadlines(now=now, batch_size=batch_size, run_key="task-1")
    run = policy_models.DeadlineEvaluationRun.objects.get(key="task-1")
    assert (run.batches, run.finished_at, run.now) == (3, None, now)
    assert state(mark) != expected  # half-way: the first three batches only

    with connection.execute_wrapper(counter := CrashAtBatch(batches + 1)):
        later = evaluate_reporting_deadlines(batch_size=batch_size, run_key="task-1")  # no `now`: the run's
    assert later == expected_result
    assert state(mark) == expected  # every status changed "as of" the first call's time, alerts, events
    run.refresh_from_db()
    assert (run.batches, run.attempts, run.result) == (batches, 2, expected_result)
    assert batches + 1 - counter.left == batches - 3  # the committed batches were not done again

    before = state(mark)
    assert evaluate_reporting_deadlines(batch_size=batch_size, run_key="task-1") == expected_result
    assert state(mark) == before  # the message of a finished run, delivered again: nothing to do


@pytest.mark.django_db
def test_past_its_soft_time_limit_the_task_is_retried_and_the_retry_resumes_the_run(account):
    lic, now = make_license(), timezone.now()
    for i in range(12):
        make_instance(default_va(account), usage={lic: 1}, first_use_at=now - (i * 20) * D)
    expected_result, expected = uninterrupted(now, 2)
    mark = last_event()
    with override_settings(DEADLINE_BATCH_SIZE=2), connection.execute_wrapper(CrashAtBatch(3, SoftTimeLimitExceeded())):
        outcome = evaluate_reporting_deadlines_task.apply(kwargs={"now": now.isoformat()}, throw=False)
    assert outcome.get() == expected_result  # the retry (same task id) finished the run
    run = policy_models.DeadlineEvaluationRun.objects.get(key=outcome.id)
    assert run.attempts == 2 and run.finished_at is not None
    assert state(mark) == expected


def test_the_task_is_acknowledged_late_and_comes_back_before_its_beat_entry_expires(db):
    celery_app.loader.import_default_modules()
    task = celery_app.tasks["policy.evaluate_reporting_deadlines"]
    assert task.acks_late and task.reject_on_worker_lost
    assert task.acks_on_timeout  # a task its hard time limit killed is not run again and again
    assert 0 < celery_app.conf.task_soft_time_limit < celery_app.conf.task_time_limit
    visibility = celery_app.conf.broker_transport_options["visibility_timeout"]
    expiry = PeriodicTask.objects.get(name="Evaluate reporting deadlines").expire_seconds
    assert celery_app.conf.task_time_limit + 300 < visibility < expiry
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["socket_timeout"] <= 10


def test_the_system_check_warns_of_a_visibility_timeout_that_loses_or_doubles_tasks():
    def warnings(visibility: int) -> set[str]:
        options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "visibility_timeout": visibility}
        with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:6379/0", CELERY_BROKER_TRANSPORT_OPTIONS=options):
            return {m.id for m in run_checks() if m.id.startswith("policy.")}

    assert warnings(1200) == set()
    assert warnings(3600) == {"policy.W002"}  # the redelivered evaluation would come back expired
    assert warnings(300) == {"policy.W001"}  # a task still running would be given to a second worker


# --- A real worker killed with SIGKILL (PostgreSQL, Redis) ---------------------------------------------


def cold_estate() -> None:
    """The benchmark estate, small (about 6,000 instances), every deadline forgotten and no alert."""
    from licensing.estate import EstateSpec, generate

    generate(EstateSpec().scaled(0.03), seed=11)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE licensing_instancedeadline SET next_due_at = NULL, reporting_status = 'not_required', "
            "reporting_status_changed_at = NULL"
        )
    Alert.objects.all().delete()


def uninterrupted_from_cold(now, batch_size: int) -> tuple[dict, dict]:
    """An uninterrupted run from the cold estate, as of `now` (rolled back afterwards)."""
    with transaction.atomic():
        cold = InstanceDeadline.objects.all()
        cold.update(next_due_at=None, reporting_status="not_required", reporting_status_changed_at=None)
        Alert.objects.all().delete()
        mark = last_event()
        result = evaluate_reporting_deadlines(now=now, batch_size=batch_size)
        expected = state(mark)
        transaction.set_rollback(True)
    return result, expected


@pytest.mark.django_db(transaction=True)  # with the default policy (tests/policy/conftest.py)
@pytest.mark.redis
@pytest.mark.postgres
def test_a_worker_killed_mid_evaluation_is_replaced_and_the_run_ends_as_an_uninterrupted_one(celery_worker_factory):
    cold_estate()
    mark = last_event()
    batch_size = 100
    first = celery_worker_factory(env={"DEADLINE_BATCH_SIZE": str(batch_size)})
    # As beat sends it: no arguments, expiring after the entry's 3,600 s.
    result = celery_app.send_task(
        "policy.evaluate_reporting_deadlines", expires=3600, queue=celery_worker_factory.queue
    )
    deadline = time.monotonic() + 90
    while True:
        run = policy_models.DeadlineEvaluationRun.objects.filter(key=result.id).first()
        if run is not None and run.batches >= 3:
            break
        assert time.monotonic() < deadline, first.log_path.read_text()[-3000:]
        time.sleep(0.02)
    first.kill()  # SIGKILL to the whole worker: nothing acknowledged, nothing cleaned up
    run.refresh_from_db()
    assert run.finished_at is None
    total = math.ceil((ProductInstance.objects.latest("pk").pk - ProductInstance.objects.earliest("pk").pk + 1) / 100)
    assert run.batches < total
    rest = ProductInstance.objects.filter(pk__gte=run.next_id)
    assert not rest.filter(
        deadline__next_due_at__isnull=False
    ).exists()  # nothing past the committed batches was written

    # The message is still unacknowledged in Redis; a worker with a short visibility timeout takes it back.
    celery_worker_factory(env={"DEADLINE_BATCH_SIZE": str(batch_size), "CELERY_VISIBILITY_TIMEOUT": "3",
                               "CELERY_RESTORE_INTERVAL": "1"})  # fmt: skip
    counts = result.get(timeout=120)
    run.refresh_from_db()
    assert run.finished_at is not None and run.attempts == 2
    assert run.batches == total  # the batches committed before the kill were not done again
    expected_result, expected = uninterrupted_from_cold(run.now, batch_size)
    assert counts == expected_result
    assert state(mark) == expected
    assert rest.filter(deadline__next_due_at__isnull=False).count() > 1000  # what the second worker did
