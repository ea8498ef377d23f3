"""Licensing services: resolving compliance shortages with ledger transfers."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from smartaccounts.models import SmartAccount
from smartaccounts.params import parse_id
from smartaccounts.selectors import virtual_accounts_for
from smartaccounts.services import record_event

from .. import ledger
from ..models import License

__all__ = ["FixMove", "apply_compliance_fix"]


@dataclass(frozen=True)
class FixMove:
    """One transfer of a compliance fix: `quantity` of a license from a surplus VA to a short one."""

    source_id: int
    target_id: int
    license_id: int
    quantity: int

    def encode(self) -> str:
        return f"{self.source_id}-{self.target_id}-{self.license_id}-{self.quantity}"

    @classmethod
    def decode(cls, text: str) -> FixMove:
        parts = [parse_id(part) for part in str(text).split("-")]
        if len(parts) != 4 or None in parts or parts[0] == parts[1]:
            raise ValidationError("The proposed fix could not be read; reload the page.")
        return cls(*parts)


@transaction.atomic
def apply_compliance_fix(*, actor, smart_account: SmartAccount, moves: list[FixMove]) -> int:
    """Apply a proposed fix as ledger transfers, all in one transaction, re-validated now.

    The actor operates on every VA involved. Each balance is locked (once, in primary-key order)
    and each move re-checked against it: the source must still have the licenses available and
    the target must still be short by at least the quantity, so a fix proposed a minute ago can
    never create a new shortage or overfill one. Any failure refuses the whole fix. Returns the
    number of licenses moved.
    """
    if not moves:
        raise ValidationError("There is nothing to fix.")
    va_ids = {m.source_id for m in moves} | {m.target_id for m in moves}
    vas = {va.pk: va for va in virtual_accounts_for(actor, smart_account, "operate").filter(pk__in=va_ids)}
    if va_ids - vas.keys():
        raise ValidationError(
            "The fix involves Virtual Accounts you cannot operate on (or that no longer exist); reload the page."
        )
    licenses = License.objects.in_bulk({m.license_id for m in moves})
    if len(licenses) != len({m.license_id for m in moves}):
        raise ValidationError("The proposed fix names an unknown license; reload the page.")
    balances = ledger.lock_balances(
        {(smart_account.pk, va, m.license_id) for m in moves for va in (m.source_id, m.target_id)}
    )
    movement = ledger.new_movement()
    moved = 0
    for move in moves:
        source, target = balances[(move.source_id, move.license_id)], balances[(move.target_id, move.license_id)]
        license = licenses[move.license_id]
        if move.quantity > source.available:
            raise ValidationError(
                f"{vas[move.source_id].name} now has only {source.available} {license.name} available, "
                f"not {move.quantity}. Nothing was transferred; review the new proposal."
            )
        if move.quantity > -target.balance:
            raise ValidationError(
                f"{vas[move.target_id].name} is no longer short of {move.quantity} {license.name} "
                f"(its balance is {target.balance}). Nothing was transferred; review the new proposal."
            )
        ledger.move_between_vas(
            source=source,
            target=target,
            quantity=move.quantity,
            movement=movement,
            actor=actor,
            note=f"Compliance fix: {vas[move.source_id].name} → {vas[move.target_id].name}",
        )
        moved += move.quantity
        message = (
            f"{actor.email} transferred {move.quantity} × {license.name} from {vas[move.source_id].name} "
            f"to {vas[move.target_id].name} to resolve a shortage."
        )
        details = {
            "license": license.tag,
            "quantity": move.quantity,
            "from": vas[move.source_id].name,
            "to": vas[move.target_id].name,
            "movement": str(movement),
            "compliance_fix": True,
        }
        for va, action in ((vas[move.source_id], "license.transferred"), (vas[move.target_id], "license.received")):
            record_event(
                actor=actor, smart_account=smart_account, virtual_account=va, action=action, message=message,
                details=details,
            )  # fmt: skip
    return moved
