"""Which Virtual Accounts a licensing page reads: the permission-scoped filter every licensing read starts from."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q

from smartaccounts import access
from smartaccounts.models import Role, SmartAccount, VirtualAccount

from ..models import (
    InstanceCount,
    LedgerEntry,
    LicenseBalance,
    LicenseLot,
    ProductInstance,
    ProductInstanceUsage,
    RegistrationToken,
    Reservation,
)

__all__ = ["LicensingScope", "scope_for"]

# How licensing rows reach their account and VA, for `smartaccounts.access.restrict`.
for _model in (InstanceCount, LedgerEntry, LicenseBalance, LicenseLot, ProductInstance, Reservation):
    access.register(_model)
access.register(ProductInstanceUsage, access.path_for(ProductInstance).through("product_instance__"))
access.register(RegistrationToken, access.AccessPath(smart_account="virtual_account__smart_account_id"))


@dataclass(frozen=True)
class LicensingScope:
    """One VA, a VA and its subtree, or every VA of an account a user may see.

    `q(prefix)` filters any model with `smart_account` and `virtual_account` fields (balances,
    lots, entries, product instances; `prefix` reaches them through a relation). Who sees what is
    `smartaccounts.access`: a role on the account sees the whole account with a plain index-friendly
    filter; people with VA roles only get a subquery of the VAs their roles reach.
    """

    smart_account: SmartAccount
    virtual_account: VirtualAccount | None = None
    include_subtree: bool = False
    account_wide: bool = True  # the user's role covers the whole account
    user: object = None

    def q(self, prefix: str = "") -> Q:
        p = prefix
        base = Q(**{f"{p}smart_account_id": self.smart_account.pk})
        va = self.virtual_account
        if va is not None and not self.include_subtree:
            return base & Q(**{f"{p}virtual_account_id": va.pk})
        if va is not None:
            return (
                base
                & access.in_subtree_of(va, f"{p}virtual_account__")
                & Q(**{f"{p}virtual_account__deleted_at__isnull": True})
            )
        if self.account_wide:
            return base
        return access.reach(
            access.AccessPath().through(p), self.user, "view", smart_account=self.smart_account, account_role=None
        )

    @property
    def label(self) -> str:
        if self.virtual_account is None:
            return "All Virtual Accounts" if self.account_wide else "Your Virtual Accounts"
        return f"{self.virtual_account.name}{' and its sub-accounts' if self.include_subtree else ''}"


def scope_for(
    user,
    smart_account: SmartAccount,
    virtual_account: VirtualAccount | None = None,
    *,
    include_subtree: bool = False,
    role_on_account: Role | None | bool = False,
) -> LicensingScope:
    """The scope of `user` in `smart_account`. `virtual_account` must already be one the user may view
    (resolved through the selectors, as AccountScopedMixin does). `role_on_account`: the user's role on
    the account if the caller knows it (saves a query); False: look it up."""
    if role_on_account is False:
        role_on_account = access.account_roles(user, smart_account).on_account
    return LicensingScope(
        smart_account=smart_account,
        virtual_account=virtual_account,
        include_subtree=include_subtree and virtual_account is not None,
        account_wide=role_on_account is not None,
        user=user,
    )
