"""Compliance: every shortage in the VAs a user can see, and a proposed fix from surplus they may move.

How a fix is chosen (the page says the same): for each Virtual Account short of a license, take
licenses that are neither in use nor reserved from the Virtual Accounts the user may operate on
that hold the same license, the one with the most available first, so a shortage is usually
fixed by a single transfer. A donor never gives more than it has available, so a fix never
creates a new shortage. Larger shortages are served first; what the surplus cannot cover stays short.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import F

from smartaccounts.models import VirtualAccount
from smartaccounts.selectors import virtual_accounts_for

from ..models import License, LicenseBalance
from ..services.compliance import FixMove
from .scope import LicensingScope

__all__ = ["Proposal", "ProposedMove", "compliance_proposals"]


@dataclass(frozen=True)
class ProposedMove:
    source: VirtualAccount
    quantity: int


@dataclass
class Proposal:
    license: License
    virtual_account: VirtualAccount
    purchased: int
    in_use: int
    reserved: int
    can_operate: bool
    moves: list[ProposedMove] = field(default_factory=list)

    @property
    def shortage(self) -> int:
        return self.in_use + self.reserved - self.purchased

    @property
    def covered(self) -> int:
        return sum(m.quantity for m in self.moves)

    @property
    def uncovered(self) -> int:
        return self.shortage - self.covered

    def fix_moves(self) -> list[FixMove]:
        return [FixMove(m.source.pk, self.virtual_account.pk, self.license.pk, m.quantity) for m in self.moves]


def compliance_proposals(scope: LicensingScope) -> list[Proposal]:
    """Every (VA, license) below zero in the scope, with the transfers that would cover it. Three queries."""
    shortages = list(
        LicenseBalance.objects.filter(scope.q(), purchased__lt=F("in_use") + F("reserved"))
        .select_related("license", "virtual_account")
        .order_by("license__name", "virtual_account__name")
    )
    if not shortages:
        return []
    operable = {
        va.pk: va for va in virtual_accounts_for(scope.user, scope.smart_account, "operate").order_by("name")
    }  # fmt: skip
    surplus = (
        LicenseBalance.objects.filter(
            smart_account=scope.smart_account,
            license_id__in={s.license_id for s in shortages},
            virtual_account_id__in=list(operable),
            purchased__gt=F("in_use") + F("reserved"),
        )
        .order_by("license_id")
        .values_list("license_id", "virtual_account_id", "purchased", "in_use", "reserved")
    )
    pools: dict[int, list[list]] = {}
    for license_id, va_id, purchased, in_use, reserved in surplus:
        pools.setdefault(license_id, []).append([purchased - in_use - reserved, operable[va_id]])
    for pool in pools.values():
        pool.sort(key=lambda item: (-item[0], item[1].name.casefold()))
    proposals = [
        Proposal(
            license=b.license,
            virtual_account=b.virtual_account,
            purchased=b.purchased,
            in_use=b.in_use,
            reserved=b.reserved,
            can_operate=b.virtual_account_id in operable,
        )
        for b in shortages
    ]
    for proposal in sorted(proposals, key=lambda p: (p.license.pk, -p.shortage, p.virtual_account.name.casefold())):
        if not proposal.can_operate:
            continue
        pool = pools.get(proposal.license.pk, [])
        need = proposal.shortage
        for item in pool:
            if need == 0:
                break
            available, donor = item
            if available <= 0:
                continue
            give = min(available, need)
            proposal.moves.append(ProposedMove(source=donor, quantity=give))
            item[0] -= give
            need -= give
        pool.sort(key=lambda item: (-item[0], item[1].name.casefold()))
    return proposals
