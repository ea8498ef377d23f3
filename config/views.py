"""Operational endpoints."""

import logging

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpResponsePermanentRedirect, JsonResponse
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

# The public answer names the failing part only: exception texts carry host names, ports, user
# names and driver versions, which an anonymous caller has no business reading. They go to the log.
ERROR = "error"


def _check_database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("Health check: the database does not answer")
        return ERROR
    return "ok"


def _check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager"
    try:
        client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=2, socket_timeout=2)
        client.ping()
        client.close()
    except Exception:
        logger.exception("Health check: the broker does not answer")
        return ERROR
    return "ok"


@require_GET
def favicon(request):
    """Browsers ask for /favicon.ico on every page (the admin's too): send them to the static file."""
    return HttpResponsePermanentRedirect(static("favicon.ico"))


@never_cache
@require_GET
def healthz(request):
    """200 when the database and the broker answer; 503 with `"error"` for the part that does not (details: log)."""
    body = {"database": _check_database(), "broker": _check_broker()}
    healthy = body["database"] == "ok" and body["broker"] in ("ok", "eager")
    return JsonResponse(body, status=200 if healthy else 503)
