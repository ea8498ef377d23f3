"""Compliance: every shortage with a proposed fix, applied in one click as ledger transfers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import TemplateView

from .. import selectors, services
from ..services.compliance import FixMove
from .base import USABLE_KINDS, LicensingMixin

__all__ = ["ComplianceView"]


class ComplianceView(LicensingMixin, TemplateView):
    template_name = "licensing/compliance.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        proposals = selectors.compliance_proposals(self.scope)
        fixable = [p for p in proposals if p.moves]
        context.update(
            proposals=proposals,
            fixable=fixable,
            all_moves=[m.encode() for p in fixable for m in p.fix_moves()],
            alert_counts=selectors.license_alert_counts(self.scope),
            total_covered=sum(p.covered for p in proposals),
        )
        return context

    def post(self, request, *args, **kwargs):
        try:
            moves = [FixMove.decode(text) for text in request.POST.getlist("move")]
            moved = services.apply_compliance_fix(actor=request.user, smart_account=self.smart_account, moves=moves)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            transfers = f"{len(moves)} transfer{'s' if len(moves) != 1 else ''}"
            messages.success(request, f"Moved {moved} license{'s' if moved != 1 else ''} in {transfers}.")
        return redirect("compliance", account_id=self.smart_account.pk)
