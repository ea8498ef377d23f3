"""Who may do what, and where: the one place the portal's permission rule is written.

The rule
- A role (Admin, User, Viewer) is held on a Smart Account or on a Virtual Account (django-guardian,
  one row per person and scope). A role allows the actions of `Role.for_action` (`view`, `operate`, `admin`).
- A role on an account reaches every VA of it. A role on a live VA reaches that VA and its descendants:
  the VAs of the same account whose MPTT range (`tree_id`, `lft`, `rght`) lies inside its range.
  A role on a deleted VA reaches nothing. Where several roles reach a VA, the strongest counts.
- Only signed-in, active people hold roles. Staff status grants nothing here: a staff member with no role
  gets the 404 anyone gets. Staff do support work from the Django admin, where `is_operator` (their model
  permissions) lets the services act on any account, under the same rules and logged under their name.

The entry points (each answers in one query, or adds subqueries to the caller's one)
- `restrict(queryset, user, action)`: the rows the user may `action` on, NetBox-style. Each model's way to
  its account and VA is declared once with `register` (below for this app; the other apps register theirs
  beside their selectors).
- `roles_for(user, virtual_accounts)`: {VA id: the strongest role reaching it, or None}. On PostgreSQL it
  runs the written-out `queries.roles_reaching` (every service's rights check; see that module), whose
  reference is `roles_reaching` here.
- `account_roles(user, smart_account)`: the role on the account itself and the strongest anywhere in it;
  `with_account_roles(queryset, user)` annotates an account query with the same.

The subtree rule is `_grants_reaching`: every answer above is built from it.

The ceiling (API clients)
- A request made with an API client's token acts under a `Ceiling`: the client's account, optionally one VA
  and its subtree, and the client's role. For its user every entry point above answers the intersection
  of the user's own roles with the ceiling: at most the client's role, only inside the client's scope.
  The Bearer authentication sets it for the request (`under_ceiling`, reset when the request ends); a
  token of the `password` grant acts as a person, who so gets no more than the client's role.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from django.db.models import Case, Exists, IntegerField, Model, OuterRef, Q, QuerySet, Subquery, Value, When

from . import queries
from .models import (
    AccessRequest,
    ApiClient,
    Event,
    Invitation,
    Role,
    SmartAccount,
    SmartAccountUserObjectPermission,
    VirtualAccount,
    VirtualAccountUserObjectPermission,
)

__all__ = [
    "AccessPath",
    "AccountRoles",
    "Ceiling",
    "ceiling_for",
    "current_ceiling",
    "under_ceiling",
    "UNKNOWN",
    "account_roles",
    "holds_roles",
    "in_subtree_of",
    "is_operator",
    "path_for",
    "reach",
    "reached_virtual_accounts",
    "register",
    "restrict",
    "roles_for",
    "roles_of",
    "roles_reaching",
    "strongest",
    "va_role",
    "with_account_roles",
    "with_va_roles",
]

UNKNOWN = object()  # `account_role=UNKNOWN`: the caller does not know the user's role on the account


# --- who holds roles ---------------------------------------------------------------------------------------


def holds_roles(user) -> bool:
    """Signed-in, active people; anyone else holds no role anywhere."""
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def is_operator(actor, permission: str) -> bool:
    """Operator staff holding `permission` (e.g. ``smartaccounts.change_virtualaccount``).

    Staff do support work from the Django admin: they may restructure any account's Virtual Accounts
    and manage its roles through the same services, under the same rules, and every change is logged
    under their name. The portal pages never use this: staff without a role still get 404 there.
    """
    return bool(holds_roles(actor) and actor.is_staff and actor.has_perm(permission))


# --- the ceiling of an API client's request ---------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    """The most a request may do as `user_id`: `role` on account `smart_account_id`, or only on the VA whose
    tree range is (`tree_id`, `lft`, `rght`) and its subtree when `virtual_account_id` is set.
    `client_name`: the API client acting, which the event log records."""

    user_id: int
    smart_account_id: int
    role: Role
    client_name: str = ""
    virtual_account_id: int | None = None
    tree_id: int | None = None
    lft: int | None = None
    rght: int | None = None

    @classmethod
    def of(cls, user, smart_account_id: int, role: Role | str, virtual_account=None, client_name: str = "") -> Ceiling:
        va = virtual_account
        return cls(
            user_id=user.pk,
            smart_account_id=smart_account_id,
            role=Role(role),
            client_name=client_name,
            virtual_account_id=va.pk if va is not None else None,
            tree_id=va.tree_id if va is not None else None,
            lft=va.lft if va is not None else None,
            rght=va.rght if va is not None else None,
        )

    def holds(self, virtual_account) -> bool:
        """Whether the VA (an instance with its tree fields) lies in the ceiling's scope."""
        if virtual_account.smart_account_id != self.smart_account_id:
            return False
        if self.virtual_account_id is None:
            return True
        return (
            virtual_account.tree_id == self.tree_id
            and virtual_account.lft >= self.lft
            and virtual_account.rght <= self.rght
        )

    def cap(self, role: Role | None) -> Role | None:
        """The weaker of `role` and the ceiling's role (None stays None)."""
        if role is None:
            return None
        return role if role.rank <= self.role.rank else self.role

    def scope_q(self, prefix: str = "") -> Q:
        """The live VAs of the scope, for a query over VirtualAccount (`prefix`: through a relation)."""
        q = Q(**{f"{prefix}smart_account_id": self.smart_account_id})
        if self.virtual_account_id is not None:
            q &= Q(**{f"{prefix}tree_id": self.tree_id, f"{prefix}lft__gte": self.lft, f"{prefix}rght__lte": self.rght})
        return q


_ceiling: ContextVar[Ceiling | None] = ContextVar("smartaccounts_access_ceiling", default=None)


def current_ceiling() -> Ceiling | None:
    """The ceiling of the request being served (None: none)."""
    return _ceiling.get()


def ceiling_for(user) -> Ceiling | None:
    """The ceiling that applies to `user` (the one the request acts as), or None."""
    ceiling = _ceiling.get()
    if ceiling is None or user is None or getattr(user, "pk", None) != ceiling.user_id:
        return None
    return ceiling


def set_ceiling(ceiling: Ceiling | None):
    """Set the ceiling for the rest of the current context; returns the token `reset_ceiling` takes."""
    return _ceiling.set(ceiling)


def reset_ceiling(token) -> None:
    _ceiling.reset(token)


@contextmanager
def under_ceiling(ceiling: Ceiling | None) -> Iterator[Ceiling | None]:
    """Run a block under `ceiling`, restoring the previous one afterwards whatever happens."""
    token = _ceiling.set(ceiling)
    try:
        yield ceiling
    finally:
        _ceiling.reset(token)


def _ceiling_reach(ceiling: Ceiling, path: AccessPath, action: str) -> Q:
    """The rows the ceiling lets through for `action` (intersected with the user's own reach)."""
    if not ceiling.role.allows(action):
        return Q(pk__in=[])
    q = Q(**{path.smart_account: ceiling.smart_account_id})
    if ceiling.virtual_account_id is None:
        return q
    if path.any_va:  # the account itself, seen through a role inside it
        return q
    if path.virtual_account is None:  # rows of the whole account: beyond a VA-scoped client
        return Q(pk__in=[])
    in_scope = VirtualAccount.objects.filter(ceiling.scope_q(), deleted_at__isnull=True).values("pk")
    return q & Q(**{f"{path.virtual_account}__in": in_scope})


# --- how a model's rows reach their account and VA -------------------------------------------------------


@dataclass(frozen=True)
class AccessPath:
    """Lookups from a model to its Smart Account's id and its Virtual Account's id.

    `virtual_account=None`: the row belongs to the whole account (only roles on the account reach it).
    `any_va`: the row is reached when the user may act on the account or on any of its VAs (the account
    itself: people with a VA role see the account, not all of it).
    """

    smart_account: str = "smart_account_id"
    virtual_account: str | None = "virtual_account_id"
    any_va: bool = False

    def through(self, prefix: str) -> AccessPath:
        """The same path from a model that reaches this one through the relation `prefix` (ending in `__`)."""
        va = f"{prefix}{self.virtual_account}" if self.virtual_account else None
        return AccessPath(f"{prefix}{self.smart_account}", va, self.any_va)


_PATHS: dict[type[Model], AccessPath] = {}


def register(model: type[Model], path: AccessPath | None = None) -> None:
    """Declare how `model`'s rows reach their account and VA (default: `smart_account` and `virtual_account` fields)."""
    _PATHS[model] = path or AccessPath()


def path_for(model: type[Model]) -> AccessPath:
    try:
        return _PATHS[model]
    except KeyError:
        raise ImproperlyConfigured(
            f"{model.__name__} has no access path: declare it with smartaccounts.access.register()."
        ) from None


register(SmartAccount, AccessPath(smart_account="pk", virtual_account=None, any_va=True))
register(VirtualAccount, AccessPath(smart_account="smart_account_id", virtual_account="pk"))
register(Event)
register(Invitation)
register(AccessRequest, AccessPath(virtual_account=None))  # decided by the account's Admins only
register(ApiClient, AccessPath(virtual_account=None))  # managed by the account's Admins only


# --- the rule ----------------------------------------------------------------------------------------------


def _codenames(action: str) -> list[str]:
    return [role.codename for role in Role.for_action(action)]


def _account_grants(user, action: str | None = None) -> QuerySet[SmartAccountUserObjectPermission]:
    grants = SmartAccountUserObjectPermission.objects.filter(user=user)
    return grants if action is None else grants.filter(permission__codename__in=_codenames(action))


def _va_grants(user, action: str | None = None) -> QuerySet[VirtualAccountUserObjectPermission]:
    """The user's grants on live VAs (a deleted VA's grant reaches nothing)."""
    grants = VirtualAccountUserObjectPermission.objects.filter(user=user, content_object__deleted_at__isnull=True)
    return grants if action is None else grants.filter(permission__codename__in=_codenames(action))


def in_subtree_of(virtual_account: VirtualAccount, prefix: str = "") -> Q:
    """The VA and its descendants (a tree range inside its range; a tree is one account's), for a query over
    VirtualAccount (`prefix`: through a relation, e.g. ``virtual_account__``). `_grants_reaching` is the same
    range test seen from below: the grants whose VA's range holds the row's VA."""
    return Q(
        **{
            f"{prefix}tree_id": virtual_account.tree_id,
            f"{prefix}lft__gte": virtual_account.lft,
            f"{prefix}rght__lte": virtual_account.rght,
        }
    )


def _grants_reaching(grants: QuerySet[VirtualAccountUserObjectPermission]) -> QuerySet:
    """The subtree rule: those of `grants` on the outer query's VA or on an ancestor of it (same account,
    a tree range containing the VA's). The outer query is over VirtualAccount."""
    return grants.filter(
        content_object__smart_account_id=OuterRef("smart_account_id"),
        content_object__tree_id=OuterRef("tree_id"),
        content_object__lft__lte=OuterRef("lft"),
        content_object__rght__gte=OuterRef("rght"),
    )


def _reached_through_va_roles(user, action: str, smart_account: SmartAccount | None) -> QuerySet[VirtualAccount]:
    """The live VAs a role held on a VA reaches (roles on the account aside)."""
    grants = _va_grants(user, action)
    vas = VirtualAccount.objects.filter(deleted_at__isnull=True)
    if smart_account is not None:
        grants = grants.filter(content_object__smart_account_id=smart_account.pk)
        vas = vas.filter(smart_account_id=smart_account.pk)
    # One uncorrelated subquery (a semi-join of the grants with the tree ranges, which PostgreSQL hashes
    # once), not a check per row of the caller's query.
    return vas.filter(Exists(_grants_reaching(grants)))


def _role_allows(role, action: str) -> bool:
    return role is not None and role.allows(action)


def reach(
    path: AccessPath,
    user,
    action: str = "view",
    *,
    smart_account: SmartAccount | None = None,
    account_role: Role | None | object = UNKNOWN,
) -> Q:
    """The filter behind `restrict`, for a model reached by `path` (e.g. a relation's rows).

    `smart_account`: only rows of that account (and subqueries narrowed to it). `account_role`: the user's
    role on that account when the caller knows it (None: none): a role on the account that allows `action`
    then reaches every row with a plain filter on the account, and no subquery is needed.
    """
    Role.for_action(action)  # refuses an unknown action
    nothing = Q(pk__in=[])
    if not holds_roles(user):
        return nothing
    ceiling = ceiling_for(user)
    if ceiling is not None:
        return _ceiling_reach(ceiling, path, action) & _reach(path, user, action, smart_account, account_role)
    return _reach(path, user, action, smart_account, account_role)


def _reach(path: AccessPath, user, action: str, smart_account, account_role) -> Q:
    nothing = Q(pk__in=[])
    base = Q() if smart_account is None else Q(**{path.smart_account: smart_account.pk})
    if account_role is not UNKNOWN:
        if _role_allows(account_role, action):
            return base
        on_account = nothing
    else:
        grants = _account_grants(user, action)
        if smart_account is not None:
            grants = grants.filter(content_object_id=smart_account.pk)
        on_account = Q(**{f"{path.smart_account}__in": grants.values("content_object_id")})
    if path.any_va:
        in_a_va = _va_grants(user, action).values("content_object__smart_account")
        return base & (on_account | Q(**{f"{path.smart_account}__in": in_a_va}))
    if path.virtual_account is None:
        return base & on_account
    through_vas = _reached_through_va_roles(user, action, smart_account).values("pk")
    return base & (on_account | Q(**{f"{path.virtual_account}__in": through_vas}))


def restrict(
    queryset: QuerySet,
    user,
    action: str = "view",
    *,
    smart_account: SmartAccount | None = None,
    account_role: Role | None | object = UNKNOWN,
) -> QuerySet:
    """`queryset` narrowed to the rows `user` may `action` on (`view`, `operate`, `admin`): still one query.

    A row is reached when the user holds a role allowing `action` on its account, or on a live VA whose
    subtree holds its VA. `smart_account` and `account_role`: see `reach`.
    """
    path = path_for(queryset.model)
    return queryset.filter(reach(path, user, action, smart_account=smart_account, account_role=account_role))


def reached_virtual_accounts(
    user, action: str = "view", *, smart_account: SmartAccount | None = None
) -> QuerySet[VirtualAccount]:
    """The live VAs `user` may `action` on (in `smart_account` when given). One query."""
    live = VirtualAccount.objects.filter(deleted_at__isnull=True)
    return restrict(live, user, action, smart_account=smart_account)  # narrows to the account when given


# --- roles ---------------------------------------------------------------------------------------------------


def _role(codename: str | None) -> Role | None:
    return Role(codename.removeprefix("role_")) if codename else None


def strongest(*roles: Role | None) -> Role | None:
    return max(filter(None, roles), key=lambda role: role.rank, default=None)


def _by_rank():
    """Grants ordered strongest first."""
    rank = Case(
        *[When(permission__codename=role.codename, then=Value(role.rank)) for role in Role],
        default=Value(0),
        output_field=IntegerField(),
    )
    return rank.desc()


def with_va_roles(queryset: QuerySet[VirtualAccount], user) -> QuerySet[VirtualAccount]:
    """VAs annotated with the codenames of `user`'s role on their account (`role_on_account`) and of the
    strongest role reaching them through a VA (`role_through_va`): the rule of `roles_for` in the caller's query."""
    on_account = _account_grants(user).filter(content_object_id=OuterRef("smart_account_id"))
    through_va = _grants_reaching(_va_grants(user)).order_by(_by_rank())
    queryset = queryset.annotate(
        role_on_account=Subquery(on_account.values("permission__codename")[:1]),
        role_through_va=Subquery(through_va.values("permission__codename")[:1]),
    )
    ceiling = ceiling_for(user)
    if ceiling is not None:  # `va_role` caps what it reads
        queryset = queryset.annotate(ceiling_role=Value(ceiling.role.codename))
    return queryset


def va_role(virtual_account: VirtualAccount) -> Role | None:
    """The role of a VA read through `with_va_roles` (under the request's ceiling, when it applied)."""
    role = strongest(_role(virtual_account.role_on_account), _role(virtual_account.role_through_va))
    if getattr(virtual_account, "ceiling_role", None) is None:
        return role
    ceiling = current_ceiling()
    if ceiling is None or ceiling.role.codename != virtual_account.ceiling_role or not ceiling.holds(virtual_account):
        return None
    return ceiling.cap(role)


def roles_reaching(user, virtual_account_ids: list[int]) -> list[tuple[int, str | None, str | None]]:
    """(VA id, codename of the role on its account, codename of the strongest role through a VA) per VA
    asked: the reference of `queries.roles_reaching`, which runs instead on PostgreSQL."""
    vas = VirtualAccount.objects.filter(pk__in=virtual_account_ids).order_by()
    return list(with_va_roles(vas, user).values_list("pk", "role_on_account", "role_through_va"))


def roles_for(user, virtual_accounts: Iterable[VirtualAccount]) -> dict[int, Role | None]:
    """The strongest role `user` holds over each VA (on its account, on it or on a live ancestor), keyed by
    VA id; None where no role reaches. One query, however many VAs are asked."""
    vas = list(virtual_accounts)
    roles: dict[int, Role | None] = dict.fromkeys((va.pk for va in vas), None)
    if not vas or not holds_roles(user):
        return roles
    if connection.vendor == "postgresql":  # every service's check: written out (see queries.py)
        rows = queries.roles_reaching(user.pk, list(roles))
    else:
        rows = roles_reaching(user, list(roles))
    for pk, on_account, through_va in rows:
        roles[pk] = strongest(_role(on_account), _role(through_va))
    ceiling = ceiling_for(user)
    if ceiling is not None:
        for va in vas:
            roles[va.pk] = ceiling.cap(roles[va.pk]) if ceiling.holds(va) else None
    return roles


@dataclass(frozen=True)
class AccountRoles:
    """A user's roles in one account: on the account itself, and the strongest anywhere in it."""

    on_account: Role | None = None
    strongest: Role | None = None


def with_account_roles(queryset: QuerySet[SmartAccount], user) -> QuerySet[SmartAccount]:
    """Accounts annotated with the codenames of `user`'s role on each (`role_on_account`) and of the
    strongest one on its live VAs (`strongest_va_role`); `roles_of(account)` reads them."""
    on_account = _account_grants(user).filter(content_object_id=OuterRef("pk"))
    on_vas = _va_grants(user).filter(content_object__smart_account_id=OuterRef("pk"))
    ceiling = ceiling_for(user)
    if ceiling is not None and ceiling.virtual_account_id is not None:
        # The roles that matter inside the scope: on its VA's ancestors and on VAs within its subtree.
        above = Q(
            content_object__tree_id=ceiling.tree_id,
            content_object__lft__lte=ceiling.lft,
            content_object__rght__gte=ceiling.rght,
        )
        on_vas = on_vas.filter(above | ceiling.scope_q("content_object__"))
    queryset = queryset.annotate(
        role_on_account=Subquery(on_account.values("permission__codename")[:1]),
        strongest_va_role=Subquery(on_vas.order_by(_by_rank()).values("permission__codename")[:1]),
    )
    if ceiling is not None:
        queryset = queryset.annotate(
            ceiling_account_id=Value(ceiling.smart_account_id, output_field=IntegerField()),
            ceiling_role=Value(ceiling.role.codename),
            ceiling_on_va=Value(ceiling.virtual_account_id is not None),
        )
    return queryset


def roles_of(smart_account: SmartAccount) -> AccountRoles:
    """The roles of an account read through `with_account_roles`."""
    on_account = _role(smart_account.role_on_account)
    best = strongest(on_account, _role(smart_account.strongest_va_role))
    ceiling_role = getattr(smart_account, "ceiling_role", None)
    if ceiling_role is None:
        return AccountRoles(on_account, best)
    if smart_account.pk != smart_account.ceiling_account_id:
        return AccountRoles()
    role = _role(ceiling_role)

    def cap(found: Role | None) -> Role | None:
        return None if found is None else found if found.rank <= role.rank else role

    return AccountRoles(None if smart_account.ceiling_on_va else cap(on_account), cap(best))


def account_roles(user, smart_account: SmartAccount) -> AccountRoles:
    """`user`'s role on the account itself and the strongest one anywhere in it (account or live VA). One query."""
    if not holds_roles(user):
        return AccountRoles()
    account = with_account_roles(SmartAccount.objects.filter(pk=smart_account.pk), user).only("pk").first()
    return roles_of(account) if account is not None else AccountRoles()
