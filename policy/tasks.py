"""Celery tasks of the policy app. Tasks are thin: they take ids and call services."""

import socket

from celery import shared_task

from .models import WorkerHeartbeat


@shared_task(name="policy.health_ping", acks_late=True)
def health_ping() -> int:
    """Write a heartbeat row: proof that a worker took a task and reached the database."""
    task_id = health_ping.request.id or ""
    beat = WorkerHeartbeat.objects.create(hostname=socket.gethostname(), task_id=task_id)
    return beat.pk
