"""Celery tasks of the policy app. Tasks are thin: they take ids and call services.

Beat runs `policy.evaluate_reporting_deadlines` hourly and `policy.send_overdue_digests` daily
(rows created by migration 0005, editable in the admin under Periodic tasks), and
`policy.ensure_usage_partitions` daily (migration 0011). Transient database
errors (a lost connection, a deadlock victim, a serialisation failure) are retried with a backoff;
`acks_late` gives a task whose worker died to another worker (config/settings.py: the visibility
timeout and the time limits). The evaluation commits batch by batch and a retried or redelivered
one resumes where it stopped (`policy.deadlines`, `DeadlineEvaluationRun`).
"""

import socket
from datetime import datetime

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.db import InterfaceError, OperationalError

from config.celery import enqueue_on_commit

from .deadlines import evaluate_reporting_deadlines
from .models import WorkerHeartbeat
from .partitions import ensure_partitions
from .services.digests import accounts_with_pending_digest, send_overdue_digest

TRANSIENT = (OperationalError, InterfaceError)
RETRY = {
    "autoretry_for": TRANSIENT,
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}


@shared_task(name="policy.health_ping", acks_late=True)
def health_ping() -> int:
    """Write a heartbeat row: proof that a worker took a task and reached the database."""
    task_id = health_ping.request.id or ""
    beat = WorkerHeartbeat.objects.create(hostname=socket.gethostname(), task_id=task_id)
    return beat.pk


# Past the soft time limit the evaluation is retried too: its committed batches stay, and the retry
# (same task id) resumes after them.
@shared_task(
    bind=True,
    name="policy.evaluate_reporting_deadlines",
    **{**RETRY, "autoretry_for": (*TRANSIENT, SoftTimeLimitExceeded)},
)
def evaluate_reporting_deadlines_task(self, now: str | None = None) -> dict:
    """Evaluate every reporting deadline (`now`: an ISO time, for replaying a missed run).

    The task id names the run: a delivery of the same message again, or a retry, resumes it.
    """
    return evaluate_reporting_deadlines(now=datetime.fromisoformat(now) if now else None, run_key=self.request.id)


@shared_task(name="policy.ensure_usage_partitions", **RETRY)
def ensure_usage_partitions() -> list[str]:
    """Create the month partitions of usage reports and measurements ahead (PostgreSQL; idempotent)."""
    return ensure_partitions()


@shared_task(name="policy.send_overdue_digests", **RETRY)
def send_overdue_digests() -> int:
    """Queue one digest task per account with newly overdue instances; returns how many were queued."""
    account_ids = accounts_with_pending_digest()
    for account_id in account_ids:
        enqueue_account_digest(account_id)
    return len(account_ids)


@shared_task(name="policy.send_account_overdue_digest", **RETRY)
def send_account_overdue_digest(smart_account_id: int) -> int:
    return send_overdue_digest(smart_account_id=smart_account_id)


def enqueue_account_digest(smart_account_id: int) -> None:
    """Queue one account's digest. A digest the broker did not take is not lost: its alerts stay un-named,
    so the next day's `send_overdue_digests` queues it again."""
    enqueue_on_commit(send_account_overdue_digest, smart_account_id)
