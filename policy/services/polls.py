"""Results of Cisco SLUP requests kept for the client's poll (`policy.models.DevicePoll`)."""

from __future__ import annotations

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from smartaccounts.models import User, VirtualAccount

from ..models import DevicePoll

__all__ = ["POLL_ID_DIGITS", "mark_polled", "record_device_poll"]

POLL_ID_DIGITS = 18


def _new_poll_id() -> int:
    low = 10 ** (POLL_ID_DIGITS - 1)
    return low + secrets.randbelow(9 * low)


def record_device_poll(*, actor: User, virtual_account: VirtualAccount, action: str, result: list) -> DevicePoll:
    """Keep `result` for the poll of `actor`'s request in `virtual_account`; a new random 18-digit poll id."""
    if action not in DevicePoll.Action.values:
        raise ValueError(f"Unknown poll action {action!r}.")
    for attempt in range(5):
        try:
            with transaction.atomic():
                return DevicePoll.objects.create(
                    poll_id=_new_poll_id(),
                    smart_account_id=virtual_account.smart_account_id,
                    virtual_account=virtual_account,
                    action=action,
                    result=result,
                    created_by=actor,
                )
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


def mark_polled(poll: DevicePoll) -> None:
    if poll.polled_at is None:
        DevicePoll.objects.filter(pk=poll.pk, polled_at__isnull=True).update(polled_at=timezone.now())
