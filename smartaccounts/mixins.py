"""The one gate every account page goes through.

`AccountScopedMixin` resolves the Smart Account (URL kwarg `account_id`) and, when present,
the Virtual Account (`va_id`) through the permission-scoped selectors:
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
from django.db.models import Case, IntegerField, OuterRef, Subquery, Value, When
from django.http import Http404
from django.utils.functional import cached_property

from . import selectors
from .models import (
    Role,
    SmartAccount,
    SmartAccountUserObjectPermission,
    VirtualAccount,
    VirtualAccountUserObjectPermission,
)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AccountScopedMixin(LoginRequiredMixin):
    required_action = "view"
    required_write_action = "operate"
    # Pages that make sense only for some kinds of account (e.g. no devices in a partner holding account).
    allowed_kinds: tuple[str, ...] | None = None
    # On a page without a VA, let an Admin of some VAs through `admin` checks (forms then offer only their VAs).
    va_admins_allowed = False

    smart_account: SmartAccount
    virtual_account: VirtualAccount | None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.smart_account = self.resolve_smart_account(kwargs)
        self.virtual_account = self.resolve_virtual_account(kwargs)
        if self.allowed_kinds is not None and self.smart_account.kind not in self.allowed_kinds:
            raise Http404("This page does not exist for this kind of account.")
        self.check_action(self.action_for(request.method))
        return super().dispatch(request, *args, **kwargs)

    def action_for(self, method: str) -> str:
        return self.required_action if method in SAFE_METHODS else self.required_write_action

    def resolve_smart_account(self, kwargs) -> SmartAccount:
        """The account, if the user holds a role in it, read with those roles in the same query."""
        user = self.request.user
        try:
            account = (
                selectors.smart_accounts_for(user).annotate(**_role_annotations(user)).get(pk=kwargs["account_id"])
            )
        except SmartAccount.DoesNotExist:
            raise Http404("No such Smart Account.") from None
        on_account = _role(account.role_on_account)
        strongest = max(
            filter(None, (on_account, _role(account.strongest_va_role))), key=lambda r: r.rank, default=None
        )
        self.__dict__["_account_roles"] = (on_account, strongest)
        return account

    def resolve_virtual_account(self, kwargs) -> VirtualAccount | None:
        if "va_id" not in kwargs:
            return None
        try:
            return selectors.virtual_accounts_for(self.request.user, self.smart_account, "view").get(pk=kwargs["va_id"])
        except VirtualAccount.DoesNotExist:
            raise Http404("No such Virtual Account.") from None

    @cached_property
    def _account_roles(self) -> tuple[Role | None, Role | None]:
        return selectors.roles_in_account(self.request.user, self.smart_account)

    @cached_property
    def account_role(self) -> Role | None:
        """The role held on the account itself (None for people with VA roles only)."""
        return self._account_roles[0]

    @cached_property
    def role(self) -> Role | None:
        """The role that governs this page: on the VA when there is one, else the strongest in the account."""
        if self.virtual_account is not None:
            return selectors.effective_role(self.request.user, self.virtual_account)
        return self._account_roles[1]

    def can(self, action: str) -> bool:
        if action == "admin" and self.virtual_account is None and not self.va_admins_allowed:
            return self.account_role is not None and self.account_role.allows("admin")
        return self.role is not None and self.role.allows(action)

    def check_action(self, action: str) -> None:
        if not self.can(action):
            raise PermissionDenied("Your role does not allow this.")

    def visible_virtual_accounts(self, action: str = "view"):
        return selectors.virtual_accounts_for(self.request.user, self.smart_account, action)

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
        )
        return context


def _role_annotations(user) -> dict:
    """The role `user` holds on the account itself and the strongest one on its live VAs (as codenames),
    for annotating the account query: what `selectors.roles_in_account` answers, without a query of its own."""
    rank = Case(
        *[When(permission__codename=role.codename, then=Value(role.rank)) for role in Role],
        default=Value(0),
        output_field=IntegerField(),
    )
    on_account = SmartAccountUserObjectPermission.objects.filter(user=user, content_object=OuterRef("pk"))
    on_vas = VirtualAccountUserObjectPermission.objects.filter(
        user=user, content_object__smart_account=OuterRef("pk"), content_object__deleted_at__isnull=True
    ).order_by(rank.desc())
    return {
        "role_on_account": Subquery(on_account.values("permission__codename")[:1]),
        "strongest_va_role": Subquery(on_vas.values("permission__codename")[:1]),
    }


def _role(codename: str | None) -> Role | None:
    return Role(codename.removeprefix("role_")) if codename else None
