"""System checks of the Celery settings the deadline evaluation relies on (`manage.py check`)."""

from django.conf import settings
from django.core.checks import Warning, register

# The longest countdown a task's retry waits (policy.tasks.RETRY's retry_backoff_max).
LONGEST_RETRY_COUNTDOWN = 300
# The shortest expiry of a beat entry (the hourly evaluation's, created by migration 0005).
SHORTEST_BEAT_EXPIRY = 3600


@register()
def celery_visibility_timeout(app_configs, **kwargs):
    """On Redis, an unacknowledged message goes to another worker after the visibility timeout."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return []
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    longest = (settings.CELERY_TASK_TIME_LIMIT or 0) + LONGEST_RETRY_COUNTDOWN
    problems = []
    if timeout <= longest:
        problems.append(
            Warning(
                f"CELERY_VISIBILITY_TIMEOUT ({timeout} s) is not longer than a task may run and wait "
                f"(CELERY_TASK_TIME_LIMIT + {LONGEST_RETRY_COUNTDOWN} s of retry countdown = {longest} s): Redis "
                "would give a task that is still running or waiting to a second worker.",
                hint=f"Set CELERY_VISIBILITY_TIMEOUT above {longest}.",
                id="policy.W001",
            )
        )
    if timeout >= SHORTEST_BEAT_EXPIRY:
        problems.append(
            Warning(
                f"CELERY_VISIBILITY_TIMEOUT ({timeout} s) is not shorter than the hourly evaluation's expiry "
                f"({SHORTEST_BEAT_EXPIRY} s): the evaluation of a worker that died would come back expired and "
                "be dropped.",
                hint=f"Set CELERY_VISIBILITY_TIMEOUT below {SHORTEST_BEAT_EXPIRY}.",
                id="policy.W002",
            )
        )
    return problems
