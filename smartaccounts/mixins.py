"""The one gate every account page goes through.

`AccountScopedMixin` resolves the Smart Account (URL kwarg `account_id`) and, when present,
the Virtual Account (`va_id`) through `smartaccounts.access`, each with the user's roles in the same query:
- anonymous: redirect to the login page;
- no role that reaches the object: 404 (nobody learns what exists elsewhere);
- a role too low for the action: 403.

Views declare the action a GET needs (`required_action`, default `view`) and the action
other methods need (`required_write_action`, default `operate`). On a page without a VA,
`view` and `operate` are satisfied by a role on the account or on any of its VAs (forms then
offer only the VAs the user may use); `admin` needs the Admin role on the account itself,
unless the view sets `va_admins_allowed` (pages where an Admin of some VAs manages just those:
the tree, the Users page). The services still check every write against its exact scope.
"""

from __future__ import annotations

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.utils.functional import cached_property

from . import access, navigation, selectors
from .models import Role, SmartAccount, VirtualAccount

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccountScopeMixin:
    """The account (and VA) of the request, the user's roles in it, and the action checks.

    No dispatch of its own: pages use `AccountScopedMixin` (below), the JSON API
    `smartaccounts.api.base.AccountApiView`; both resolve and check through these methods.
    """

    required_action = "view"
    required_write_action = "operate"
    # Pages that make sense only for some kinds of account (e.g. no devices in a partner holding account).
    allowed_kinds: tuple[str, ...] | None = None
    # On a page without a VA, let an Admin of some VAs through `admin` checks (forms then offer only their VAs).
    va_admins_allowed = False

    smart_account: SmartAccount
    virtual_account: VirtualAccount | None

    def resolve_scope(self, request, kwargs) -> None:
        """Resolve account and VA from the URL (404 when no role reaches them) and check the method's action (403)."""
        self.smart_account = self.resolve_smart_account(kwargs)
        self.virtual_account = self.resolve_virtual_account(kwargs)
        if self.allowed_kinds is not None and self.smart_account.kind not in self.allowed_kinds:
            raise Http404("This page does not exist for this kind of account.")
        self.check_action(self.action_for(request.method))

    def action_for(self, method: str) -> str:
        return self.required_action if method in SAFE_METHODS else self.required_write_action

    def account_lookup(self, kwargs) -> dict:
        """How the URL names the account (by id; the Cisco-compatible paths name it by domain)."""
        return {"pk": kwargs["account_id"]}

    def va_lookup(self, kwargs) -> dict | None:
        """How the URL names the VA, or None when it names none (by id; the Cisco-compatible paths by name)."""
        return {"pk": kwargs["va_id"]} if "va_id" in kwargs else None

    def resolve_smart_account(self, kwargs) -> SmartAccount:
        """The account, if the user holds a role in it, read with those roles in the same query."""
        user = self.request.user
        accounts = access.with_account_roles(access.restrict(SmartAccount.objects.all(), user, "view"), user)
        accounts = self.annotate_account(accounts)
        try:
            account = accounts.get(**self.account_lookup(kwargs))
        except SmartAccount.DoesNotExist:
            raise Http404("No such Smart Account.") from None
        self.__dict__["_account_roles"] = access.roles_of(account)
        return account

    def annotate_account(self, accounts):
        """What else the query that reads the account reads (pages: the header's tab badges)."""
        return accounts

    def resolve_virtual_account(self, kwargs) -> VirtualAccount | None:
        """The VA, if a role reaches it, read with the role that governs it in the same query."""
        lookup = self.va_lookup(kwargs)
        if lookup is None:
            return None
        user = self.request.user
        vas = access.with_va_roles(selectors.live_virtual_accounts().filter(smart_account=self.smart_account), user)
        va = vas.filter(**lookup).first()
        role = access.va_role(va) if va is not None else None
        if role is None:
            raise Http404("No such Virtual Account.")
        self.__dict__["role"] = role
        return va

    @cached_property
    def _account_roles(self) -> access.AccountRoles:
        return access.account_roles(self.request.user, self.smart_account)

    @cached_property
    def account_role(self) -> Role | None:
        """The role held on the account itself (None for people with VA roles only)."""
        return self._account_roles.on_account

    @cached_property
    def role(self) -> Role | None:
        """The role that governs this page: on the VA when there is one, else the strongest in the account."""
        if self.virtual_account is not None:
            return access.roles_for(self.request.user, [self.virtual_account])[self.virtual_account.pk]
        return self._account_roles.strongest

    def can(self, action: str) -> bool:
        if action == "admin" and self.virtual_account is None and not self.va_admins_allowed:
            return self.account_role is not None and self.account_role.allows("admin")
        return self.role is not None and self.role.allows(action)

    def check_action(self, action: str) -> None:
        if not self.can(action):
            raise PermissionDenied("Your role does not allow this.")

    def visible_virtual_accounts(self, action: str = "view"):
        return selectors.virtual_accounts_for(self.request.user, self.smart_account, action)

    def include_subtree(self) -> bool:
        """`?subtree=1` on a Virtual Account's page: its sub-accounts too ("Include sub-accounts")."""
        return self.virtual_account is not None and self.request.GET.get("subtree") in ("1", "on", "true")

    def page_virtual_accounts(self):
        """The VAs a list page shows: its VA (with its sub-accounts when asked), else every VA the user sees.
        A role on a VA reaches its whole subtree, so the VA's subtree needs no further check."""
        va = self.virtual_account
        if va is None:
            return self.visible_virtual_accounts()
        if self.include_subtree():
            return selectors.subtree_of(va)
        return selectors.live_virtual_accounts().filter(smart_account_id=va.smart_account_id, pk=va.pk)

    def va_ancestors(self) -> list:
        """The Virtual Accounts above this page's VA that the user can see, top first (the breadcrumbs)."""
        va = self.virtual_account
        if va is None or va.parent_id is None:
            return []
        return list(
            self.visible_virtual_accounts()
            .filter(tree_id=va.tree_id, lft__lt=va.lft, rght__gt=va.rght)
            .order_by("lft")
            .only("id", "name")
        )


class AccountScopedMixin(LoginRequiredMixin, AccountScopeMixin):
    """Pages: anonymous people go to the login page; then `resolve_scope` (404/403)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.resolve_scope(request, kwargs)
        navigation.remember_badges(request, self.smart_account)
        return super().dispatch(request, *args, **kwargs)

    def annotate_account(self, accounts):
        # The tabs' badge counts in the same query: the header asks none of its own.
        return navigation.with_badges(accounts)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            smart_account=self.smart_account,
            virtual_account=self.virtual_account,
            role=self.role,
            account_role=self.account_role,
            can_operate=self.can("operate"),
            can_admin=self.can("admin"),
            is_account_admin=self.account_role is not None and self.account_role.allows("admin"),
            # Called by the template only on a Virtual Account's page (its breadcrumbs).
            va_ancestors=self.va_ancestors,
        )
        return context
