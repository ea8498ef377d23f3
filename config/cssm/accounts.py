"""Accounts and Virtual Accounts as Cisco's API names them (CSSM_API.md §2 "Accounts").

- `GET v2/accounts[?domain=]`: the caller's accounts with their roles ("Smart Account Administrator",
  "Virtual Account User" + `virtualAccount`, ...).
- `GET v2/accounts/search`: snake_case, `status: "COMPLETE"`, each account with the VAs the caller sees.
- `GET v1/accounts/search?domain=&name=&type=&limit=&offset=`: both key spellings (`accountDomain`/`domain`,
  `accountName`/`name`, `accountStatus`/`status`).
- `GET v1/accounts/{d}[/customer|/{type}]/virtual-accounts`: `isDefault` as the string "true"/"false".
- `POST v1/accounts/{d}/virtual-accounts {"name","description"}` creates (200), `POST .../{va}/delete` deletes.
- The "Software APIs" forms (`pnp/v2/accounts`, `pnp/v2/accounts/{d}/virtual-accounts`,
  `accounts/v1/user/search-smart-accounts`).

Reads go through `smartaccounts.selectors`, writes through `smartaccounts.services`.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from smartaccounts import selectors, services
from smartaccounts.models import Role, SmartAccount, VirtualAccount

from .base import AccountlessCssmView, CssmView, as_bool, as_int, cisco_bool, ok, page

__all__ = [
    "AccountSearchV1",
    "AccountSearchV2",
    "AccountsV2",
    "ApxAccounts",
    "ApxUserSmartAccounts",
    "ApxVirtualAccounts",
    "VirtualAccountDelete",
    "VirtualAccounts",
]

_ROLE_WORD = {Role.ADMIN: "Administrator", Role.USER: "User", Role.VIEWER: "Viewer"}


def account_status(account: SmartAccount) -> str:
    return account.status.upper()  # ACTIVE | PENDING


def account_type(account: SmartAccount) -> str:
    return account.kind.upper()  # CUSTOMER | PARTNER_HOLDING | LIMITED_USE


def cisco_roles(memberships) -> list[dict]:
    roles = []
    for membership in memberships:
        word = _ROLE_WORD[membership.role]
        if membership.virtual_account is None:
            roles.append({"role": f"Smart Account {word}"})
        else:
            roles.append({"role": f"Virtual Account {word}", "virtualAccount": membership.virtual_account.name})
    return roles


def _accounts(user, *, domain: str = "", name: str = "", kind: str = ""):
    accounts = selectors.smart_accounts_for(user).order_by("name", "pk")
    if domain:
        accounts = accounts.filter(domain__iexact=domain.strip())
    if name:
        accounts = accounts.filter(name__icontains=name.strip())
    if kind:
        accounts = accounts.filter(kind__iexact=kind.strip())
    return accounts


def _vas_by_account(user, accounts) -> dict[int, list[VirtualAccount]]:
    by_account: dict[int, list[VirtualAccount]] = {a.pk: [] for a in accounts}
    for va in selectors.virtual_accounts_in(user, by_account).order_by("name", "pk"):
        by_account[va.smart_account_id].append(va)
    return by_account


class AccountsV2(AccountlessCssmView):
    """GET v2/accounts: `accounts[]{accountName, accountDomain, accountStatus, accountType, roles[]}`."""

    def get(self, request, *args, **kwargs):
        accounts = list(_accounts(request.user, domain=request.query_params.get("domain", "")))
        roles = selectors.roles_held(request.user, [a.pk for a in accounts])
        rows = [
            {
                "accountName": a.name,
                "accountDomain": a.domain,
                "accountStatus": account_status(a),
                "accountType": account_type(a),
                "roles": cisco_roles(roles[a.pk]),
            }
            for a in accounts
        ]
        return ok({"accounts": rows}, total=len(rows))


class AccountSearchV2(AccountlessCssmView):
    """GET v2/accounts/search (snake_case; `status` is "COMPLETE" as the SLP tools require)."""

    def get(self, request, *args, **kwargs):
        accounts = list(_accounts(request.user, domain=request.query_params.get("domain", "")))
        vas = _vas_by_account(request.user, accounts)
        rows = [
            {
                "account_id": str(a.pk),
                "domain": a.domain,
                "name": a.name,
                "virtual_accounts": [
                    {"default": va.is_default, "name": va.name, "virtual_account_id": str(va.pk)} for va in vas[a.pk]
                ],
            }
            for a in accounts
        ]
        return ok({"message": "", "message_code": "", "accounts": rows}, status="COMPLETE")


class AccountSearchV1(AccountlessCssmView):
    """GET v1/accounts/search?domain=&name=&type=&limit=&offset= (both spellings of each key)."""

    def get(self, request, *args, **kwargs):
        params = request.query_params
        limit, offset = page(request, {})
        accounts = _accounts(
            request.user, domain=params.get("domain", ""), name=params.get("name", ""), kind=params.get("type", "")
        )
        total = accounts.count()
        rows = []
        for a in accounts[offset : offset + limit]:
            rows.append(
                {
                    "id": str(a.pk),
                    "accountDomain": a.domain,
                    "domain": a.domain,
                    "accountName": a.name,
                    "name": a.name,
                    "accountStatus": account_status(a),
                    "status": account_status(a),
                    "accountType": account_type(a),
                    "type": account_type(a),
                }
            )
        return ok({"accounts": rows}, total=total)


def va_row(va: VirtualAccount) -> dict:
    return {
        "name": va.name,
        "description": va.description,
        "isDefault": cisco_bool(va.is_default),
        "virtualAccountId": str(va.pk),
        "parentVirtualAccount": va.parent.name if va.parent_id else None,
    }


class VirtualAccounts(CssmView):
    """GET v1/accounts/{d}[/customer|/{accountType}]/virtual-accounts lists the VAs the caller sees;
    POST v1/accounts/{d}/virtual-accounts {"name","description"[,"parentVirtualAccount"]} creates one (Admin)."""

    required_write_action = "admin"
    va_admins_allowed = True  # an Admin of a VA may create under it; the service checks the exact scope

    def get(self, request, *args, **kwargs):
        vas = list(self.visible_virtual_accounts("view").select_related("parent").order_by("name", "pk"))
        return ok({"virtualAccounts": [va_row(va) for va in vas]}, total=len(vas))

    def post(self, request, *args, **kwargs):
        body = self.body
        name = body.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ValidationError({"name": "Name the Virtual Account."}, code="invalid")
        description = body.get("description") or ""
        if not isinstance(description, str):
            raise ValidationError({"description": "The description must be text."}, code="invalid")
        parent_name = body.get("parentVirtualAccount") or body.get("parent")
        parent = self.va_named(parent_name, "admin") if parent_name else None
        va = services.create_virtual_account(
            actor=request.user, smart_account=self.smart_account, name=name, parent=parent, description=description
        )
        return ok({"virtualAccount": va_row(va)})


class VirtualAccountDelete(CssmView):
    """POST v1/accounts/{d}/virtual-accounts/{va}/delete (Ansible sends the body `null`)."""

    required_write_action = "admin"

    def post(self, request, *args, **kwargs):
        va = self.virtual_account
        services.delete_virtual_account(actor=request.user, virtual_account=va)
        return ok({"virtualAccount": {"name": va.name}})


# --- "Software APIs" (apx.cisco.com/v1/software/apis/...) ---------------------------------------------------


class ApxAccounts(AccountlessCssmView):
    """GET pnp/v2/accounts?startIdx=&rowsPerPage= → {"data":[{companyName, domainIdentifier, accountIdentifier}],
    "totalRows"}."""

    def get(self, request, *args, **kwargs):
        params = request.query_params
        start = as_int(params.get("startIdx") or 0, "startIdx", minimum=0)
        rows_per_page = as_int(params.get("rowsPerPage") or 100, "rowsPerPage", minimum=1, maximum=1000)
        accounts = _accounts(request.user)
        total = accounts.count()
        data = [
            {"companyName": a.name, "domainIdentifier": a.domain, "accountIdentifier": str(a.pk)}
            for a in accounts[start : start + rows_per_page]
        ]
        return ok({"data": data, "totalRows": total})


class ApxVirtualAccounts(CssmView):
    """GET pnp/v2/accounts/{d}/virtual-accounts → data[]{virtualAccountName, virtualAccountId, default}."""

    def get(self, request, *args, **kwargs):
        vas = list(self.visible_virtual_accounts("view").order_by("name", "pk"))
        data = [{"virtualAccountName": va.name, "virtualAccountId": str(va.pk), "default": va.is_default} for va in vas]
        return ok({"data": data, "totalRows": len(data)})


class ApxUserSmartAccounts(AccountlessCssmView):
    """GET accounts/v1/user/search-smart-accounts?userId=&addVirtualAccounts=true&addRoleDipslayName=true.

    The caller's own accounts (a `userId` naming someone else finds nothing: nobody lists another
    person's accounts), with their roles and, when asked, the VAs they see."""

    def get(self, request, *args, **kwargs):
        params = request.query_params
        user_id = (params.get("userId") or "").strip()
        accounts = list(_accounts(request.user))
        if user_id and user_id.lower() not in {request.user.email.lower(), str(request.user.pk)}:
            accounts = []
        with_vas = as_bool(params.get("addVirtualAccounts"), "addVirtualAccounts")
        roles = selectors.roles_held(request.user, [a.pk for a in accounts])
        vas = _vas_by_account(request.user, accounts) if with_vas else {}
        data = []
        for a in accounts:
            row = {
                "accountId": str(a.pk),
                "accountName": a.name,
                "accountDomain": a.domain,
                "accountStatus": account_status(a),
                "accountType": account_type(a),
                "roles": cisco_roles(roles[a.pk]),
            }
            if with_vas:
                row["virtualAccounts"] = [
                    {"virtualAccountId": str(va.pk), "virtualAccountName": va.name, "default": va.is_default}
                    for va in vas[a.pk]
                ]
            data.append(row)
        return ok({"data": data, "totalRows": len(data)})
