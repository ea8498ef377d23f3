"""Licensing services: term lots past their end date expire as ledger entries."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.services import record_event

from .. import ledger
from ..models import License, LicenseLot

__all__ = ["ExpiryResult", "expire_term_lots"]


@dataclass
class ExpiryResult:
    lots: int = 0
    licenses: int = 0
    accounts: set[int] = field(default_factory=set)


def expire_term_lots(*, today: dt.date | None = None, batch_size: int = 500) -> ExpiryResult:
    """Expire every lot in a VA whose term ended before `today` (default: today, UTC). Idempotent.

    A lot's licenses are valid through its end date and expire the day after. Each expired lot
    becomes an EXPIRY entry and an empty lot (its `expired_quantity` keeps what expired); the
    balance's Purchased drops, so licenses still in use show as a shortage. Batches of lots are
    expired one transaction each, the balances locked first as every ledger writer does.
    Running it again finds nothing left to expire.
    """
    today = today or timezone.localdate()
    result = ExpiryResult()
    while True:
        with transaction.atomic():
            rows = list(
                LicenseLot.objects.filter(virtual_account__isnull=False, quantity__gt=0, end_date__lt=today)
                .order_by("pk")
                .values_list("pk", "smart_account_id", "virtual_account_id", "license_id")[:batch_size]
            )
            if not rows:
                return result
            balances = ledger.lock_balances((a, v, lic) for _, a, v, lic in rows)
            # Re-read under the balance locks (ledger rule 2): a transfer may have emptied a lot meanwhile.
            lots = LicenseLot.objects.filter(pk__in=[r[0] for r in rows], quantity__gt=0, end_date__lt=today)
            movement = ledger.new_movement()
            expired: dict[tuple[int, int, int], int] = defaultdict(int)
            for lot in lots.order_by("pk"):
                quantity = ledger.expire_lot(
                    balance=balances[(lot.virtual_account_id, lot.license_id)],
                    lot=lot,
                    movement=movement,
                    note=f"Term ended {lot.end_date:%Y-%m-%d}",
                )
                if quantity:
                    expired[(lot.smart_account_id, lot.virtual_account_id, lot.license_id)] += quantity
                    result.lots += 1
                    result.licenses += quantity
            _record(expired)
            result.accounts |= {a for a, _, _ in expired}


def _record(expired: dict[tuple[int, int, int], int]) -> None:
    if not expired:
        return
    accounts = SmartAccount.objects.in_bulk({a for a, _, _ in expired})
    vas = VirtualAccount.objects.in_bulk({v for _, v, _ in expired})
    licenses = License.objects.in_bulk({lic for _, _, lic in expired})
    by_va: dict[tuple[int, int], list[tuple[License, int]]] = defaultdict(list)
    for (a, v, lic), quantity in sorted(expired.items()):
        by_va[(a, v)].append((licenses[lic], quantity))
    for (a, v), items in by_va.items():
        text = ", ".join(f"{q} × {lic.name}" for lic, q in items)
        record_event(
            actor=None,
            smart_account=accounts[a],
            virtual_account=vas[v],
            action="license.expired",
            message=f"Term licenses expired in {vas[v].name}: {text}.",
            details={"expired": {lic.tag: q for lic, q in items}},
        )
