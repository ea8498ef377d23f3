"""The Celery application. Workers: `celery -A config worker`; beat: `celery -A config beat`."""

import logging
import os

from celery import Celery
from django.db import transaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("smartaccounts")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger("smartaccounts.tasks")


def enqueue_on_commit(task, *args, **kwargs) -> None:
    """Send `task(*args, **kwargs)` to the workers once the current transaction commits (never for one
    rolled back; at once outside a transaction).

    What committed stays committed: when the broker is down or does not answer, the task is not sent
    and a warning is logged, and the request or task that queued it goes on. Only tasks whose work a
    scheduled run picks up again may be queued this way (a lost digest goes out with the next day's).
    """

    def send() -> None:
        if task.app.conf.task_always_eager:  # no broker: the task runs here, its errors are its own
            task.apply_async(args=args, kwargs=kwargs)
            return
        try:
            # One attempt, bounded by the broker's socket timeouts: a request must not wait on retries. Nobody
            # waits for the result either, so the send does not subscribe to it on the result backend (that
            # subscription retries a Redis that does not answer for minutes).
            task.apply_async(args=args, kwargs=kwargs, retry=False, ignore_result=True)
        except Exception as exc:
            logger.warning(
                "Could not queue %s%r: the broker did not take it (%s: %s). The next scheduled run does its work.",
                task.name,
                args,
                type(exc).__name__,
                exc,
            )

    transaction.on_commit(send)
