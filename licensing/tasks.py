"""Celery tasks of the licensing app. Tasks are thin: they take ids and call services."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .services import expire_term_lots as expire_term_lots_service


@shared_task(
    name="licensing.expire_term_lots",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=5,
)
def expire_term_lots() -> dict:
    """Daily (beat): expire term lots past their end date as ledger entries. Idempotent."""
    result = expire_term_lots_service()
    return {"lots": result.lots, "licenses": result.licenses, "accounts": len(result.accounts)}


@shared_task(
    name="licensing.expire_stale_hand_overs",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=5,
)
def expire_stale_hand_overs() -> dict:
    """Hourly (beat): decline partner hand-overs pending for 30 days; their licenses go back. Idempotent."""
    from .services import expire_stale_hand_overs as expire_stale_hand_overs_service

    return {"expired": expire_stale_hand_overs_service()}
