"""Every permission-scoped read of Smart Accounts and Virtual Accounts.

A user sees an account when they hold any role on it or on one of its VAs. A VA role reaches
the VA and its descendants. That rule lives in `smartaccounts.access`; the selectors here are
thin calls to it, each one query whatever the size of the tree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Lower

from . import access
from .db import scalar
from .domains import is_public_suffix
from .models import (
    AccessRequest,
    ApiClient,
    Event,
    Invitation,
    Role,
    SmartAccount,
    SmartAccountUserObjectPermission,
    User,
    VirtualAccount,
    VirtualAccountUserObjectPermission,
)


def live_virtual_accounts() -> QuerySet[VirtualAccount]:
    return VirtualAccount.objects.filter(deleted_at__isnull=True)


def smart_accounts_for(user) -> QuerySet[SmartAccount]:
    """The accounts `user` holds any role in (on the account or on one of its VAs)."""
    return access.restrict(SmartAccount.objects.all(), user, "view")


def virtual_accounts_for(user, smart_account: SmartAccount, action: str = "view") -> QuerySet[VirtualAccount]:
    """The live VAs of `smart_account` on which `user` may do `action` (`view`, `operate`, `admin`).

    One query: a role on the account covers every VA; a role on a VA covers its subtree (`access`).
    """
    return access.reached_virtual_accounts(user, action, smart_account=smart_account)


def account_role(user, smart_account: SmartAccount) -> Role | None:
    """The role `user` holds on the account itself (not through a VA), or None. One query."""
    return access.account_roles(user, smart_account).on_account


def effective_role(user, virtual_account: VirtualAccount) -> Role | None:
    """The strongest role `user` holds over `virtual_account`: on the account, the VA or an ancestor. One query."""
    return access.roles_for(user, [virtual_account])[virtual_account.pk]


def effective_roles(user, virtual_accounts: Iterable[VirtualAccount]) -> dict[int, Role | None]:
    """`effective_role` for several VAs at once, keyed by VA id: one query however many VAs are asked."""
    return access.roles_for(user, virtual_accounts)


def strongest_role_in_account(user, smart_account: SmartAccount) -> Role | None:
    """The strongest role `user` holds anywhere in the account (account scope or any VA). One query."""
    return access.account_roles(user, smart_account).strongest


def roles_in_account(user, smart_account: SmartAccount) -> tuple[Role | None, Role | None]:
    """(the role on the account itself, the strongest role anywhere in it) in one query."""
    roles = access.account_roles(user, smart_account)
    return roles.on_account, roles.strongest


@dataclass(frozen=True)
class Membership:
    user: User
    role: Role
    virtual_account: VirtualAccount | None  # None: the whole account

    @property
    def scope_label(self) -> str:
        return self.virtual_account.name if self.virtual_account else "Entire Smart Account"


def members_of(smart_account: SmartAccount, *, user_id: int | None = None) -> list[Membership]:
    """Every role people hold in the account (only `user_id`'s when given), account-wide first; API clients'
    service identities are not people (the API clients page lists them). Two queries, whatever the number
    of members."""
    rows: list[Membership] = []
    person = {} if user_id is None else {"user_id": user_id}
    for grant in (
        SmartAccountUserObjectPermission.objects.filter(
            content_object_id=smart_account.pk, user__api_client__isnull=True, **person
        )
        .select_related("user", "permission")
        .order_by("user__email")
    ):
        rows.append(Membership(grant.user, Role(grant.permission.codename.removeprefix("role_")), None))
    for grant in (
        VirtualAccountUserObjectPermission.objects.filter(
            content_object__smart_account_id=smart_account.pk,
            content_object__deleted_at__isnull=True,
            user__api_client__isnull=True,
            **person,
        )
        .select_related("user", "permission", "content_object")
        .order_by("user__email", "content_object__name")
    ):
        rows.append(Membership(grant.user, Role(grant.permission.codename.removeprefix("role_")), grant.content_object))
    return rows


def account_admin_count(smart_account: SmartAccount) -> int:
    """The people holding the Admin role on the account (an API client never counts as its last Admin)."""
    return SmartAccountUserObjectPermission.objects.filter(
        content_object_id=smart_account.pk,
        permission__codename=Role.ADMIN.codename,
        user__is_active=True,
        user__api_client__isnull=True,
    ).count()


def accounts_matching_domain(email_domain: str) -> QuerySet[SmartAccount]:
    """Accounts a person with this e-mail domain may ask to join: same domain, a parent of it, or a name under it.

    Only active accounts whose visibility is "domain"; never Limited Use accounts (their identifier is a person).
    """
    email_domain = email_domain.lower()
    if not email_domain:
        return SmartAccount.objects.none()
    labels = email_domain.split(".")
    candidates = [d for d in (".".join(labels[i:]) for i in range(len(labels))) if not is_public_suffix(d)]
    return SmartAccount.objects.filter(
        Q(domain__in=candidates) | Q(domain__iendswith="." + email_domain),
        visibility=SmartAccount.Visibility.DOMAIN,
        status=SmartAccount.Status.ACTIVE,
    ).exclude(kind=SmartAccount.Kind.LIMITED_USE)


def accounts_awaiting_approval() -> QuerySet[SmartAccount]:
    """Accounts staff have not approved yet (partner holding accounts start so), the oldest first."""
    return SmartAccount.objects.filter(status=SmartAccount.Status.PENDING).order_by("created_at", "pk")


def _members(smart_account: SmartAccount) -> QuerySet[User]:
    """The people who hold a role in the account (on it or on a live VA); API clients' users are not people."""
    on_account = SmartAccountUserObjectPermission.objects.filter(user=OuterRef("pk"), content_object=smart_account)
    on_va = VirtualAccountUserObjectPermission.objects.filter(
        user=OuterRef("pk"), content_object__smart_account=smart_account, content_object__deleted_at__isnull=True
    )
    return User.objects.filter(Exists(on_account) | Exists(on_va), api_client__isnull=True)


def member_count(smart_account: SmartAccount) -> int:
    """How many people hold a role in the account (on it or on a live VA). One query."""
    return _members(smart_account).count()


def account_home_counts(user, smart_account: SmartAccount) -> dict[str, int]:
    """The account home's figures: `va_count` (the live VAs `user` sees) and `member_count` (`member_count`).
    One query."""
    return SmartAccount.objects.filter(pk=smart_account.pk).values(
        va_count=scalar(virtual_accounts_for(user, smart_account), Count("pk"), default=0),
        member_count=scalar(_members(smart_account), Count("pk"), default=0),
    ).first() or {"va_count": 0, "member_count": 0}


def people_admin_virtual_accounts(user, smart_account: SmartAccount) -> QuerySet[VirtualAccount]:
    """The live VAs whose roles `user` may manage (an Admin role on the account, the VA or an ancestor)."""
    return virtual_accounts_for(user, smart_account, "admin")


def memberships_for(user, smart_account: SmartAccount, *, member_id: int | None = None) -> list[Membership]:
    """The roles `user` may see on the Users page: all of them for an account Admin, else those on VAs they administer.

    `member_id`: only that person's (none when they hold no role `user` may see: the member pages' 404).
    Three queries at most, whatever the number of members.
    """
    members = members_of(smart_account, user_id=member_id)
    if not members:
        return members
    role = account_role(user, smart_account)
    if role is not None and role.allows("admin"):
        return members
    managed = set(people_admin_virtual_accounts(user, smart_account).values_list("pk", flat=True))
    return [m for m in members if m.virtual_account is not None and m.virtual_account.pk in managed]


def invitations_managed_by(user, smart_account: SmartAccount) -> QuerySet[Invitation]:
    """The account's invitations `user` manages: all of them for an account Admin, else those to the VAs
    they administer (an invitation to the whole account is an account Admin's). One query."""
    invitations = Invitation.objects.filter(smart_account=smart_account).select_related(
        "smart_account", "virtual_account", "invited_by"
    )
    return access.restrict(invitations, user, "admin", smart_account=smart_account)


def pending_access_requests(smart_account: SmartAccount) -> QuerySet[AccessRequest]:
    return (
        AccessRequest.objects.filter(smart_account=smart_account, status=AccessRequest.Status.PENDING)
        .select_related("requester")
        .order_by("created_at")
    )


def pending_access_request_count(smart_account: SmartAccount) -> int:
    return AccessRequest.objects.filter(smart_account=smart_account, status=AccessRequest.Status.PENDING).count()


def decided_access_requests(user, smart_account: SmartAccount, *, limit: int = 20) -> list[AccessRequest]:
    """The account's most recent decided (approved or declined) access requests, newest first, for `user`:
    only an account Admin decides them, so anyone else gets none. One query."""
    decided = (
        AccessRequest.objects.filter(smart_account=smart_account)
        .exclude(status=AccessRequest.Status.PENDING)
        .select_related("requester", "decided_by", "granted_virtual_account")
        .order_by("-decided_at")
    )
    return list(access.restrict(decided, user, "admin", smart_account=smart_account)[:limit])


def subtree_of(virtual_account: VirtualAccount) -> QuerySet[VirtualAccount]:
    """The live VA and its live descendants, from the tree range (no recursion)."""
    return live_virtual_accounts().filter(
        access.in_subtree_of(virtual_account), smart_account_id=virtual_account.smart_account_id
    )


def events_for(
    user,
    smart_account: SmartAccount,
    virtual_account: VirtualAccount | None = None,
    *,
    whole_account: bool | None = None,
) -> QuerySet[Event]:
    """The account's event log as `user` may see it, newest first.

    People with a role on the account see every event; people with VA roles only see the events
    of the VAs they can view. With `virtual_account`: the events of that VA and its subtree.
    `whole_account`: whether the user holds a role on the account itself, when the caller knows.
    """
    events = Event.objects.filter(smart_account_id=smart_account.pk).select_related("actor")
    if virtual_account is not None:
        events = events.filter(virtual_account_id__in=subtree_of(virtual_account).values("pk"))
    if not whole_account:
        known = access.UNKNOWN if whole_account is None else None
        events = access.restrict(events, user, "view", smart_account=smart_account, account_role=known)
    return events.order_by("-created_at", "-id")


def event_actions(smart_account: SmartAccount) -> list[str]:
    """The action codes that occur in the account's log (for the filter). One query.

    A skip scan written as a recursive query: each step finds the next action code after the last one
    in the (account, action, time) index, so the answer costs one index probe per distinct code (a
    dozen) instead of reading the account's whole log (80,000 events) as `DISTINCT` does.
    """
    table = Event._meta.db_table
    sql = f"""
        WITH RECURSIVE codes(action) AS (
            SELECT (SELECT action FROM {table} WHERE smart_account_id = %s ORDER BY action LIMIT 1)
            UNION ALL
            SELECT (SELECT e.action FROM {table} e WHERE e.smart_account_id = %s AND e.action > codes.action
                    ORDER BY e.action LIMIT 1)
            FROM codes WHERE codes.action IS NOT NULL
        )
        SELECT action FROM codes WHERE action IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [smart_account.pk, smart_account.pk])
        return [row[0] for row in cursor.fetchall()]


def my_access_requests(user) -> QuerySet[AccessRequest]:
    return AccessRequest.objects.filter(requester=user).select_related("smart_account").order_by("-created_at")


def api_clients_for(user, smart_account: SmartAccount) -> QuerySet[ApiClient]:
    """The account's API clients as `user` may manage them (account Admins: all, revoked ones too), live
    ones first, then by name. One query."""
    clients = ApiClient.objects.filter(smart_account_id=smart_account.pk).select_related(
        "application", "virtual_account", "created_by"
    )
    clients = access.restrict(clients, user, "admin", smart_account=smart_account)
    return clients.order_by(F("revoked_at").desc(nulls_first=True), Lower("name"), "id")


def roles_held(user, smart_account_ids: Iterable[int]) -> dict[int, list[Membership]]:
    """`user`'s own roles in each of the accounts (account-wide first, then per live VA), keyed by account id.

    Two queries, however many accounts are asked (the account lists of the Cisco-compatible API)."""
    ids = list(smart_account_ids)
    held: dict[int, list[Membership]] = {pk: [] for pk in ids}
    if not ids:
        return held
    for grant in SmartAccountUserObjectPermission.objects.filter(user=user, content_object_id__in=ids).select_related(
        "permission"
    ):
        held[grant.content_object_id].append(
            Membership(user, Role(grant.permission.codename.removeprefix("role_")), None)
        )
    for grant in (
        VirtualAccountUserObjectPermission.objects.filter(
            user=user, content_object__smart_account_id__in=ids, content_object__deleted_at__isnull=True
        )
        .select_related("permission", "content_object")
        .order_by("content_object__name")
    ):
        held[grant.content_object.smart_account_id].append(
            Membership(user, Role(grant.permission.codename.removeprefix("role_")), grant.content_object)
        )
    ceiling = access.ceiling_for(user)
    if ceiling is not None:
        held = _under_ceiling(user, held, ceiling)
    return held


def _under_ceiling(user, held: dict[int, list[Membership]], ceiling) -> dict[int, list[Membership]]:
    """The roles as an API client's request may use them: only in the client's account (and VA subtree), at
    most the client's role. A role above the client's VA shows as the (capped) role on that VA."""
    capped: dict[int, list[Membership]] = {pk: [] for pk in held}
    mine = held.get(ceiling.smart_account_id)
    if mine is None:
        return capped
    rows = []
    if ceiling.virtual_account_id is None:
        rows = [Membership(user, ceiling.cap(m.role), m.virtual_account) for m in mine]
    else:
        top = live_virtual_accounts().filter(pk=ceiling.virtual_account_id).first()
        role = access.roles_for(user, [top])[top.pk] if top is not None else None
        if role is not None:
            rows.append(Membership(user, role, top))
        rows += [
            Membership(user, ceiling.cap(m.role), m.virtual_account)
            for m in mine
            if m.virtual_account is not None
            and m.virtual_account.pk != ceiling.virtual_account_id
            and ceiling.holds(m.virtual_account)
        ]
    capped[ceiling.smart_account_id] = rows
    return capped


def virtual_accounts_in(user, smart_account_ids: Iterable[int], action: str = "view") -> QuerySet[VirtualAccount]:
    """The live VAs of several accounts on which `user` may do `action`: one query for all of them."""
    return access.reached_virtual_accounts(user, action).filter(smart_account_id__in=list(smart_account_ids))
