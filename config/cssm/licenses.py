"""License usage, subscriptions and license transfers as Cisco's API names them (CSSM_API.md §2).

- `POST v1/accounts/{d}/licenses {"virtualAccounts":[...],"limit","offset"}`: one row per VA and license
  (`[]` or no list: every VA the caller sees), each with its `licenseDetails` (one per lot of licenses).
- `POST v1/accounts/{d}/license-subscriptions {"virtualAccounts":[...],"status":["Active"]}`: the
  time-bound lots (term and subscription licenses).
- `POST v1/accounts/{d}/virtual-accounts/{va}/licenses/transfer {"licenses":[{license, licenseType,
  quantity, targetVirtualAccount}]}`: every line through `licensing.services.transfer_licenses`, all in
  one transaction: a refused line leaves nothing moved and the answer names it.

Values we do not keep are null (`subscriptionId`, `billToPo`, `endCustomerPo`, `shipTo`); `reserved`
counts licenses held by reservations; `pendingQuantity` is 0 (licenses on their way to a customer sit in
the partner's hand-over, not in a VA) and `licenseSubstitutions` is empty (no substitution rules here).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from licensing import selectors as licensing_selectors
from licensing import services as licensing_services
from licensing.models import LicenseBalance, LicenseLot

from .base import CssmView, as_int, iso_z, ok, page

__all__ = ["LicenseSubscriptions", "LicenseTransfer", "Licenses", "lot_status"]

MAX_TRANSFER_LINES = 100


def lot_status(lot: LicenseLot, today: dt.date) -> str:
    """Active | Expired | Future, from the lot's term."""
    if lot.end_date is not None and lot.end_date < today:
        return "Expired"
    if lot.start_date is not None and lot.start_date > today:
        return "Future"
    return "Active"


def _billing(license) -> str:
    return license.billing.upper()  # PREPAID | USAGE


def _detail(lot: LicenseLot, today: dt.date) -> dict:
    line = lot.order_line
    order = line.order if line is not None else None
    return {
        "licenseType": lot.license.get_license_type_display(),
        "quantity": lot.quantity,
        "startDate": iso_z(lot.start_date),
        "endDate": iso_z(lot.end_date),
        "status": lot_status(lot, today),
        "subscriptionId": None,
        "licenseSku": line.sku.code if line is not None else None,
        "orderNumber": order.number if order is not None else None,
        "orderLineIdentifier": str(line.line_number) if line is not None else None,
        "billToPo": None,
        "endCustomerPo": None,
        "customer": (order.end_customer or None) if order is not None else None,
        "shipTo": None,
    }


def license_row(balance: LicenseBalance, details: list[dict]) -> dict:
    license = balance.license
    available = balance.purchased - balance.in_use - balance.reserved
    return {
        "license": license.name,
        "quantity": balance.purchased,
        "inUse": balance.in_use,
        "available": available,
        "reserved": balance.reserved,
        "pendingQuantity": 0,
        "ahaApps": False,
        "billingType": _billing(license),
        "isPortable": False,
        "status": "In Compliance" if available >= 0 else "Out Of Compliance",
        "virtualAccount": balance.virtual_account.name,
        "licenseSubstitutions": [],
        "licenseDetails": details,
    }


class Licenses(CssmView):
    """POST v1/accounts/{d}/licenses: a read sent as a POST (Viewers may)."""

    required_write_action = "view"

    def post(self, request, *args, **kwargs):
        body = self.body
        vas = self.vas_named(body.get("virtualAccounts"), "view")
        limit, offset = page(request, body)
        balances = licensing_selectors.balances_in(vas)
        total = balances.count()
        rows = list(balances[offset : offset + limit])
        today = timezone.localdate()
        details: dict[tuple[int, int], list[dict]] = {}
        for lot in licensing_selectors.lots_of_balances(rows) if rows else []:
            details.setdefault((lot.virtual_account_id, lot.license_id), []).append(_detail(lot, today))
        licenses = [license_row(b, details.get((b.virtual_account_id, b.license_id), [])) for b in rows]
        return ok({"licenses": licenses}, total=total)


class LicenseSubscriptions(CssmView):
    """POST v1/accounts/{d}/license-subscriptions: the time-bound lots of the VAs, optionally by status."""

    required_write_action = "view"

    def post(self, request, *args, **kwargs):
        body = self.body
        vas = self.vas_named(body.get("virtualAccounts"), "view")
        limit, offset = page(request, body)
        wanted = body.get("status") or []
        if isinstance(wanted, str):
            wanted = [wanted]
        if not isinstance(wanted, list) or not all(isinstance(s, str) for s in wanted):
            raise ValidationError({"status": "Send a list of statuses (Active, Expired, Future)."}, code="invalid")
        wanted = {s.strip().lower() for s in wanted}
        today = timezone.localdate()
        balances = list(licensing_selectors.balances_in(vas))
        lots = licensing_selectors.lots_of_balances(balances, time_bound_only=True) if balances else []
        rows = []
        for lot in lots:
            status = lot_status(lot, today)
            if wanted and status.lower() not in wanted:
                continue
            rows.append(
                {
                    "license": lot.license.name,
                    "quantity": lot.quantity,
                    "billingType": _billing(lot.license),
                    "subscriptionId": None,
                    "virtualAccount": lot.virtual_account.name,
                    "startDate": iso_z(lot.start_date),
                    "endDate": iso_z(lot.end_date),
                    "status": status,
                }
            )
        return ok({"licenseSubscriptions": rows[offset : offset + limit]}, total=len(rows))


class LicenseTransfer(CssmView):
    """POST v1/accounts/{d}/virtual-accounts/{fromVa}/licenses/transfer (User on both VAs)."""

    def post(self, request, *args, **kwargs):
        lines = self.body.get("licenses")
        if not isinstance(lines, list) or not lines:
            raise ValidationError({"licenses": "List the licenses to transfer."}, code="invalid")
        if len(lines) > MAX_TRANSFER_LINES:
            raise ValidationError(
                {"licenses": f"Send at most {MAX_TRANSFER_LINES} licenses in one request."}, code="invalid"
            )
        source = self.virtual_account
        held = list(licensing_selectors.balances_in([source]))
        by_key = {}
        for balance in held:
            by_key.setdefault(balance.license.name.lower(), balance.license)
            by_key.setdefault(balance.license.tag.lower(), balance.license)
        done = []
        with transaction.atomic():
            for number, line in enumerate(lines, start=1):
                try:
                    done.append(self._transfer(line, source, by_key))
                except ValidationError as error:
                    where = f"licenses[{number}]"
                    if isinstance(line, dict) and isinstance(line.get("license"), str):
                        where += f" ({line['license']})"
                    raise ValidationError(
                        f"{where}: {' '.join(error.messages)} Nothing was transferred.",
                        code=getattr(error, "code", None) or "invalid",
                    ) from None
        return ok({"licenses": done})

    def _transfer(self, line, source, by_key) -> dict:
        if not isinstance(line, dict):
            raise ValidationError("Each line is an object with license, quantity and targetVirtualAccount.")
        name = line.get("license")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError("Name the license.")
        license = by_key.get(name.strip().lower())
        if license is None:
            raise ValidationError(f"{source.name} holds no license named {name.strip()}.")
        license_type = line.get("licenseType")
        if license_type not in (None, "") and str(license_type).strip().lower() != license.license_type:
            raise ValidationError(
                f"{license.name} is a {license.get_license_type_display().lower()} license, not {license_type}."
            )
        quantity = as_int(line.get("quantity"), "quantity", minimum=1)
        target = self.va_named(line.get("targetVirtualAccount"), "operate")
        licensing_services.transfer_licenses(
            actor=self.request.user, source=source, target=target, license=license, quantity=quantity
        )
        return {
            "license": license.name,
            "licenseType": license.license_type.upper(),
            "quantity": quantity,
            "targetVirtualAccount": target.name,
            "status": "SUCCESS",
            "statusMessage": "",
        }
