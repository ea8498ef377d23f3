"""Account tabs and home-page panels of the hand-over, PAK and reservation pages.

`register()` is called once from LicensingConfig.ready().
"""

from __future__ import annotations

from smartaccounts.models import SmartAccount
from smartaccounts.navigation import NavItem, Panel, register_panel, register_va_tab, remember_badge
from smartaccounts.navigation import register as register_tab

from .models import HandOver
from .selectors.handover import holding_totals, incoming_hand_overs, outgoing_hand_overs, pending_incoming

CUSTOMER = SmartAccount.Kind.CUSTOMER
PARTNER = SmartAccount.Kind.PARTNER_HOLDING
LIMITED = SmartAccount.Kind.LIMITED_USE


def may_decide_hand_overs(view) -> bool:
    """Whether the person may accept (the User role somewhere) or decline (Admin of the account) a hand-over:
    the Review buttons show only then; the accept and decline pages refuse everyone else."""
    return view.can("operate") or (view.account_role is not None and view.account_role.allows("admin"))


def _incoming_panel(view) -> dict:
    pending = list(incoming_hand_overs(view.smart_account).filter(status=HandOver.Status.PENDING)[:5])
    if len(pending) < 5:  # every pending one is listed: the tab's badge needs no count of its own
        remember_badge(view.request, "hand_overs_incoming", len(pending))
    return {"pending": pending, "smart_account": view.smart_account, "can_decide": may_decide_hand_overs(view)}


def _holdings_panel(view) -> dict:
    totals = holding_totals(view.smart_account, view.visible_virtual_accounts())
    return {
        "smart_account": view.smart_account,
        "held": totals["held"],
        "in_transit": totals["in_transit"],
        "pending": outgoing_hand_overs(view.smart_account).filter(status=HandOver.Status.PENDING).count(),
    }


def register() -> None:
    register_tab(NavItem("Held orders", "partner_holdings", action="view", kinds=(PARTNER,), order=20,
                         active_for=("hand_over_create",)))  # fmt: skip
    register_tab(NavItem("Hand-overs", "hand_overs_outgoing", action="view", kinds=(PARTNER,), order=21,
                         active_for=("hand_over_outgoing_detail",)))  # fmt: skip
    register_tab(NavItem("Incoming licenses", "hand_overs_incoming", action="view", kinds=(CUSTOMER,), order=45,
                         active_for=("hand_over_incoming_detail",), badge=pending_incoming))  # fmt: skip
    register_tab(NavItem("PAKs", "pak_list", action="operate", kinds=(CUSTOMER, LIMITED), order=55,
                         active_for=("pak_convert",)))  # fmt: skip
    register_tab(NavItem("Reservations", "reservation_list", action="view", kinds=(CUSTOMER,), order=56,
                         active_for=("reservation_detail", "reservation_create", "reservation_update",
                                     "reservation_release", "reservation_remove", "reservation_rehost")))  # fmt: skip
    register_va_tab(NavItem("Reservations", "va_reservations", kinds=(CUSTOMER,), order=40))
    register_panel(Panel("workflows.incoming", "licensing/handover/panel_incoming.html", context=_incoming_panel,
                         action="view", kinds=(CUSTOMER,), order=15))  # fmt: skip
    register_panel(Panel("workflows.holdings", "licensing/handover/panel_holdings.html", context=_holdings_panel,
                         action="view", kinds=(PARTNER,), order=15))  # fmt: skip
