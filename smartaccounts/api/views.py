"""`/api/v1/` endpoints of Smart Accounts: accounts, Virtual Accounts, members and roles, the event log.

Thin views over the pages' selectors and services (see `smartaccounts.api.base` for scope and errors):
- accounts: the caller's accounts (`selectors.smart_accounts_for` with `access.with_account_roles`);
- Virtual Accounts: the VAs the caller can see (`visible_virtual_accounts`), in tree order; writes through
  `services.create_virtual_account`, `rename_virtual_account`, `move_virtual_account`,
  `delete_virtual_account`, `set_default_virtual_account`; the nested tree with the tree page's columns
  (`tree.build_tree`). Declared as on the VA pages: Admin for structure, VA Admins allowed where the tree
  page allows them; the services check each change against its exact scope;
- members: what the Users page shows and does (`selectors.memberships_for`, `services.invite_user`,
  `assign_role`, `revoke_role`, `remove_member`): Admin, VA Admins for their VAs;
- events: `selectors.events_for` narrowed by the event log page's `EventFilter`, newest first in the
  page's keyset order, and the page's CSV export.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from .. import access, selectors, services, tree
from ..filters import EventFilter
from ..models import Invitation, SmartAccount, User, VirtualAccount
from ..params import parse_id
from ..views.events import events_csv
from ..views.people import group_by_user, resolve_member
from . import serializers as s
from .base import AccountApiView, ApiView
from .pagination import KeysetCursorPage

ERRORS = {
    400: OpenApiResponse(s.ErrorSerializer, description="Invalid input, or a rule of the service refused it."),
    403: OpenApiResponse(s.ErrorSerializer, description="The caller's role does not allow this."),
    404: OpenApiResponse(s.ErrorSerializer, description="No such object the caller can reach."),
}
READ_ERRORS = {403: ERRORS[403], 404: ERRORS[404]}


def _role(role) -> str | None:
    return role.value if role is not None else None


def _body(serializer_class, data) -> dict:
    """The request body validated by `serializer_class` (400 in the API's error shape when it is not)."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@contextmanager
def request_fields(**names: str):
    """A service's refusal of a field, named as the request names it (the service's `parent` is the
    request's `parent_id`), so that `fields` in the error answer points at what the client sent."""
    try:
        yield
    except DjangoValidationError as error:
        if not hasattr(error, "error_dict"):
            raise
        renamed = {names.get(field, field): errors for field, errors in error.error_dict.items()}
        raise DjangoValidationError(renamed) from error


def _with_default_va(accounts: QuerySet[SmartAccount]) -> QuerySet[SmartAccount]:
    default = selectors.live_virtual_accounts().filter(smart_account_id=OuterRef("pk"), is_default=True)
    return accounts.annotate(default_va_id=Subquery(default.values("pk")[:1]))


def _account(account: SmartAccount, roles: access.AccountRoles) -> dict:
    return {
        "id": account.pk,
        "name": account.name,
        "domain": account.domain,
        "kind": account.kind,
        "status": account.status,
        "default_virtual_account_id": account.default_va_id,
        "role": _role(roles.on_account),
        "strongest_role": _role(roles.strongest),
        "created_at": account.created_at,
    }


# --- Accounts --------------------------------------------------------------------------------------------


class AccountListView(ApiView):
    """The accounts the caller holds a role in (on the account or on one of its VAs), by name."""

    serializer_class = s.AccountSerializer
    pagination_class = KeysetCursorPage
    keyset_fields, keyset_kinds = ("name", "pk"), (str, int)

    @extend_schema(operation_id="accounts_list", responses={200: s.AccountSerializer(many=True)})
    def get(self, request):
        user = request.user
        accounts = _with_default_va(access.with_account_roles(selectors.smart_accounts_for(user), user))
        page = self.paginate_queryset(accounts)
        return self.get_paginated_response([_account(a, access.roles_of(a)) for a in page])


class AccountDetailView(AccountApiView):
    serializer_class = s.AccountSerializer

    @extend_schema(operation_id="account_retrieve", responses={200: s.AccountSerializer, **READ_ERRORS})
    def get(self, request, account_id):
        account = self.smart_account
        default = selectors.live_virtual_accounts().filter(smart_account=account, is_default=True)
        account.default_va_id = default.values_list("pk", flat=True).first()
        return Response(_account(account, self._account_roles))


# --- Virtual Accounts ------------------------------------------------------------------------------------

VA_FIELDS = ("id", "smart_account_id", "parent_id", "name", "description", "is_default", "tree_id", "lft", "rght")


def _ancestors_of(vas: list[VirtualAccount]) -> Q:
    """A filter that holds every ancestor of `vas` and few other rows: the VAs themselves, and per tree whose
    root is not among them, the nodes whose range spans from the first of them to the last (an ancestor of
    one of them starts before it and ends after it; a node that ended before the first or starts after the
    last cannot be one). A page in tree order has at most one such tree, a page of siblings one."""
    spans: dict[int, tuple[int, int]] = {}
    rooted = {va.tree_id for va in vas if va.lft == 1}
    for va in vas:
        if va.tree_id not in rooted:
            low, high = spans.get(va.tree_id, (va.rght, va.lft))
            spans[va.tree_id] = (min(low, va.rght), max(high, va.lft))
    condition = Q(pk__in=[va.pk for va in vas])
    for tree_id, (min_rght, max_lft) in spans.items():
        condition |= Q(tree_id=tree_id, lft__lt=max_lft, rght__gt=min_rght)
    return condition


def _placed(vas: list[VirtualAccount], visible: QuerySet[VirtualAccount]) -> list[dict]:
    """The VAs with their place in the part of the tree the caller sees (parent, depth, path of names):
    one query for the ancestors of all of them."""
    ancestors: dict[int, list[tuple[int, str, int, int]]] = {}
    if vas:
        rows = visible.filter(_ancestors_of(vas)).order_by("tree_id", "lft")
        for pk, name, tree_id, lft, rght in rows.values_list("id", "name", "tree_id", "lft", "rght"):
            ancestors.setdefault(tree_id, []).append((pk, name, lft, rght))
    answer = []
    for va in vas:
        above = [(pk, name) for pk, name, lft, rght in ancestors.get(va.tree_id, ()) if lft < va.lft and rght > va.rght]
        shown = {pk for pk, _ in above}
        answer.append(
            {
                "id": va.pk,
                "name": va.name,
                "description": va.description,
                "parent_id": va.parent_id if va.parent_id in shown else None,
                "is_default": va.is_default,
                "depth": len(above),
                "path": [name for _, name in above],
                "created_at": va.created_at,
            }
        )
    return answer


class VirtualAccountsMixin:
    """The VA endpoints' declarations: as the tree page, any role views; Admins (of the account, or of some
    VAs for what lies below them) change the structure."""

    required_write_action = "admin"
    va_admins_allowed = True

    def visible_va(self, value, field: str) -> VirtualAccount | None:
        """The VA the caller can see with id `value` (None for null), else a 400 naming `field`."""
        if value is None:
            return None
        va = self.visible_virtual_accounts().filter(pk=value).first()
        if va is None:
            raise ValidationError({field: ["Choose a Virtual Account of this Smart Account that you can see."]})
        return va

    def va_answer(self, va: VirtualAccount, *, written: bool = True) -> dict:
        """The VA's detail; after a write the caller's role over it is read again (a move changes it)."""
        data = _placed([va], self.visible_virtual_accounts())[0]
        data["role"] = _role(selectors.effective_role(self.request.user, va) if written else self.role)
        return data


class VirtualAccountListView(VirtualAccountsMixin, AccountApiView):
    serializer_class = s.VirtualAccountSerializer
    pagination_class = KeysetCursorPage
    keyset_fields, keyset_kinds = ("tree_id", "lft"), (int, int)

    @extend_schema(
        operation_id="virtual_accounts_list",
        description="The VAs the caller can see, parents before their children (the tree's order; top-level VAs "
        "in the order they were made).",
        parameters=[OpenApiParameter("parent", int, description="Only the children of this VA.")],
        responses={200: s.VirtualAccountSerializer(many=True), **ERRORS},
    )
    def get(self, request, account_id):
        vas = self.visible_virtual_accounts()
        if "parent" in request.query_params:
            parent_id = parse_id(request.query_params["parent"])
            parent = vas.filter(pk=parent_id).first() if parent_id else None
            if parent is None:
                raise ValidationError({"parent": ["Name a Virtual Account of this Smart Account that you can see."]})
            vas = vas.filter(parent_id=parent.pk)
        page = self.paginate_queryset(vas.only(*VA_FIELDS, "created_at"))
        return self.get_paginated_response(_placed(page, self.visible_virtual_accounts()))

    @extend_schema(
        operation_id="virtual_accounts_create",
        request=s.VirtualAccountCreateSerializer,
        responses={201: s.VirtualAccountDetailSerializer, **ERRORS},
    )
    def post(self, request, account_id):
        body = _body(s.VirtualAccountCreateSerializer, request.data)
        with request_fields(parent="parent_id"):
            va = services.create_virtual_account(
                actor=request.user,
                smart_account=self.smart_account,
                name=body["name"],
                parent=self.visible_va(body["parent_id"], "parent_id"),
                description=body["description"],
            )
        return Response(self.va_answer(va), status=status.HTTP_201_CREATED)


class VirtualAccountTreeView(VirtualAccountsMixin, AccountApiView):
    serializer_class = s.TreeSerializer
    pagination_class = None

    @extend_schema(
        operation_id="virtual_accounts_tree",
        description="The VAs the caller can see as a nested tree (siblings by name), with the tree page's count "
        "columns on each VA and in its subtree.",
        responses={200: s.TreeSerializer, **READ_ERRORS},
    )
    def get(self, request, account_id):
        account = self.smart_account
        rows = tree.build_tree(account, tree.tree_nodes(self.visible_virtual_accounts()))
        roots: list[dict] = []
        stack: list[tuple[int, dict]] = []
        for row in rows:
            while stack and stack[-1][0] >= row.depth:
                stack.pop()
            node = {
                "id": row.va.pk,
                "name": row.va.name,
                "parent_id": stack[-1][1]["id"] if stack else None,
                "is_default": row.va.is_default,
                "depth": row.depth,
                "counts": row.counts,
                "totals": row.totals,
                "children": [],
            }
            (stack[-1][1]["children"] if stack else roots).append(node)
            stack.append((row.depth, node))
        columns = [{"key": c.key, "label": c.label, "help_text": c.help_text} for c in tree.columns_for(account)]
        return Response({"columns": columns, "roots": roots})


class VirtualAccountDetailView(VirtualAccountsMixin, AccountApiView):
    serializer_class = s.VirtualAccountDetailSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    @extend_schema(
        operation_id="virtual_account_retrieve", responses={200: s.VirtualAccountDetailSerializer, **READ_ERRORS}
    )
    def get(self, request, account_id, va_id):
        return Response(self.va_answer(self.virtual_account, written=False))

    @extend_schema(
        operation_id="virtual_account_update",
        request=s.VirtualAccountUpdateSerializer,
        responses={200: s.VirtualAccountDetailSerializer, **ERRORS},
    )
    def patch(self, request, account_id, va_id):
        body = _body(s.VirtualAccountUpdateSerializer, request.data)
        va = services.rename_virtual_account(
            actor=request.user,
            virtual_account=self.virtual_account,
            name=body.get("name", self.virtual_account.name),
            description=body.get("description"),
        )
        return Response(self.va_answer(va))

    @extend_schema(operation_id="virtual_account_delete", responses={204: None, **ERRORS})
    def delete(self, request, account_id, va_id):
        services.delete_virtual_account(actor=request.user, virtual_account=self.virtual_account)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VirtualAccountMoveView(VirtualAccountsMixin, AccountApiView):
    serializer_class = s.VirtualAccountDetailSerializer

    @extend_schema(
        operation_id="virtual_account_move",
        request=s.VirtualAccountMoveSerializer,
        responses={200: s.VirtualAccountDetailSerializer, **ERRORS},
    )
    def post(self, request, account_id, va_id):
        body = _body(s.VirtualAccountMoveSerializer, request.data)
        parent = self.visible_va(body["parent_id"], "parent_id")
        with request_fields(parent="parent_id"):
            va = services.move_virtual_account(actor=request.user, virtual_account=self.virtual_account, parent=parent)
        return Response(self.va_answer(va))


class VirtualAccountMakeDefaultView(VirtualAccountsMixin, AccountApiView):
    serializer_class = s.VirtualAccountDetailSerializer

    @extend_schema(
        operation_id="virtual_account_make_default",
        request=None,
        description="Orders deposited without a VA go to the default VA. Account Admins only.",
        responses={200: s.VirtualAccountDetailSerializer, **ERRORS},
    )
    def post(self, request, account_id, va_id):
        va = services.set_default_virtual_account(actor=request.user, virtual_account=self.virtual_account)
        return Response(self.va_answer(va))


# --- Members ---------------------------------------------------------------------------------------------


def _member(user: User, memberships) -> dict:
    return {
        "id": user.pk,
        "email": user.email,
        "name": user.get_full_name(),
        "roles": [
            {
                "role": m.role.value,
                "virtual_account_id": m.virtual_account.pk if m.virtual_account else None,
                "virtual_account_name": m.virtual_account.name if m.virtual_account else None,
            }
            for m in sorted(memberships, key=lambda m: (m.virtual_account is not None, m.scope_label))
        ],
    }


def _invitation(invitation: Invitation) -> dict:
    return {
        "id": invitation.pk,
        "email": invitation.email,
        "role": invitation.role,
        "virtual_account_id": invitation.virtual_account_id,
        "status": invitation.status,
        "sent_at": invitation.sent_at,
        "expires_at": invitation.expires_at,
    }


class MembersMixin:
    """As the Users page: account Admins manage every role; Admins of some VAs the roles on those VAs."""

    required_action = "admin"
    required_write_action = "admin"
    va_admins_allowed = True

    def scope(self, body) -> dict:
        """The service's scope keyword: the VA named (one the caller can see, else 400) or the account."""
        va_id = body.get("virtual_account_id")
        if va_id is None:
            return {"smart_account": self.smart_account}
        va = self.visible_virtual_accounts().filter(pk=va_id).first()
        if va is None:
            raise ValidationError(
                {"virtual_account_id": ["Choose a Virtual Account of this Smart Account that you can see."]}
            )
        return {"virtual_account": va}

    def member(self) -> User:
        """The member of the URL among the people whose roles the caller manages (else 404, as the pages)."""
        member, _roles = resolve_member(self.request.user, self.smart_account, self.kwargs["member_id"])
        return member

    def member_answer(self, member: User) -> dict:
        return _member(member, selectors.memberships_for(self.request.user, self.smart_account, member_id=member.pk))


class MemberListView(MembersMixin, AccountApiView):
    serializer_class = s.MemberSerializer
    pagination_class = None

    @extend_schema(
        operation_id="members_list",
        description="The people with the roles the caller manages, by e-mail address (one list, as the Users page).",
        responses={200: s.MemberSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, account_id):
        people = group_by_user(selectors.memberships_for(request.user, self.smart_account))
        return Response([_member(person["user"], person["roles"]) for person in people])

    @extend_schema(
        operation_id="members_invite",
        description="Invite a person by e-mail (the Users page's Add): they get the role when they accept the link "
        "we e-mail them. The answer is the same whether or not the address has a login.",
        request=s.InviteSerializer,
        responses={201: s.InvitationSerializer, **ERRORS},
    )
    def post(self, request, account_id):
        body = _body(s.InviteSerializer, request.data)
        with request_fields(virtual_account="virtual_account_id"):
            invitation = services.invite_user(
                actor=request.user, email=body["email"], role=body["role"], **self.scope(body)
            )
        return Response(_invitation(invitation), status=status.HTTP_201_CREATED)


class MemberDetailView(MembersMixin, AccountApiView):
    serializer_class = s.MemberSerializer
    http_method_names = ["get", "delete", "head", "options"]

    @extend_schema(operation_id="member_retrieve", responses={200: s.MemberSerializer, **READ_ERRORS})
    def get(self, request, account_id, member_id):
        return Response(self.member_answer(self.member()))

    @extend_schema(
        operation_id="member_remove",
        description="Take away every role of the person that the caller manages. The last Admin stays.",
        responses={204: None, **ERRORS},
    )
    def delete(self, request, account_id, member_id):
        services.remove_member(actor=request.user, user=self.member(), smart_account=self.smart_account)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberRoleView(MembersMixin, AccountApiView):
    serializer_class = s.MemberSerializer

    @extend_schema(
        operation_id="member_assign_role",
        description="Give the member a role on one scope, replacing the one they hold there.",
        request=s.RoleAssignSerializer,
        responses={200: s.MemberSerializer, **ERRORS},
    )
    def post(self, request, account_id, member_id):
        member = self.member()
        body = _body(s.RoleAssignSerializer, request.data)
        with request_fields(virtual_account="virtual_account_id"):
            services.assign_role(actor=request.user, user=member, role=body["role"], **self.scope(body))
        return Response(self.member_answer(member))


class MemberRevokeView(MembersMixin, AccountApiView):
    serializer_class = s.MemberSerializer

    @extend_schema(
        operation_id="member_revoke_role",
        description="Take the member's role on one scope away (the account when no VA is named). The last Admin "
        "of the account keeps theirs.",
        request=s.ScopeSerializer,
        responses={200: s.MemberSerializer, **ERRORS},
    )
    def post(self, request, account_id, member_id):
        member = self.member()
        body = _body(s.ScopeSerializer, request.data if request.data else {})
        services.revoke_role(actor=request.user, user=member, **self.scope(body))
        return Response(self.member_answer(member))


class InvitationListView(MembersMixin, AccountApiView):
    serializer_class = s.InvitationSerializer
    pagination_class = KeysetCursorPage
    keyset_fields, keyset_kinds, keyset_descending = ("sent_at", "pk"), (dt.datetime, int), True

    @extend_schema(
        operation_id="invitations_list",
        description="Pending invitations the caller manages (to the account, or to their VAs), last sent first.",
        responses={200: s.InvitationSerializer(many=True), **ERRORS},
    )
    def get(self, request, account_id):
        invitations = selectors.invitations_managed_by(request.user, self.smart_account).filter(
            status=Invitation.Status.PENDING
        )
        page = self.paginate_queryset(invitations)
        return self.get_paginated_response([_invitation(invitation) for invitation in page])


class InvitationActionView(MembersMixin, AccountApiView):
    serializer_class = s.InvitationSerializer

    def invitation(self) -> Invitation:
        """An invitation of the account the caller manages, else 404 (as the Users page)."""
        invitation = (
            selectors.invitations_managed_by(self.request.user, self.smart_account)
            .filter(pk=self.kwargs["invitation_id"])
            .first()
        )
        if invitation is None:
            raise Http404("No such invitation.")
        return invitation


class InvitationResendView(InvitationActionView):
    @extend_schema(
        operation_id="invitation_resend",
        request=None,
        description="E-mail the invitation again with a fresh link; earlier links stop working.",
        responses={200: s.InvitationSerializer, **ERRORS},
    )
    def post(self, request, account_id, invitation_id):
        return Response(_invitation(services.resend_invitation(actor=request.user, invitation=self.invitation())))


class InvitationCancelView(InvitationActionView):
    @extend_schema(
        operation_id="invitation_cancel",
        request=None,
        description="Withdraw a pending invitation; its links stop working.",
        responses={200: s.InvitationSerializer, **ERRORS},
    )
    def post(self, request, account_id, invitation_id):
        return Response(_invitation(services.cancel_invitation(actor=request.user, invitation=self.invitation())))


# --- Events ----------------------------------------------------------------------------------------------

EVENT_PARAMETERS = [
    OpenApiParameter("virtual_account", int, description="Only this VA's events and its descendants'."),
    OpenApiParameter("action", str, description="An action code (`va.created`) or a group (`va.*`)."),
    OpenApiParameter("user", str, description="The actor's e-mail address contains this; `system` for none."),
    OpenApiParameter("since", OpenApiTypes.DATE, description="From this day (UTC) on."),
    OpenApiParameter("until", OpenApiTypes.DATE, description="Up to the end of this day (UTC)."),
]


class EventsMixin:
    def filtered_events(self):
        """The events the caller may see, narrowed as the event log page narrows them; a filter value the page
        would not offer (an unknown action, a date that is not one, a VA the caller cannot see) is a 400."""
        raw_va = self.request.query_params.get("virtual_account")
        va = None
        if raw_va is not None:
            va_id = parse_id(raw_va)
            va = self.visible_virtual_accounts().filter(pk=va_id).first() if va_id else None
            if va is None:
                raise ValidationError({"virtual_account": ["Name a Virtual Account of this account you can see."]})
        events = selectors.events_for(
            self.request.user, self.smart_account, va, whole_account=self.account_role is not None
        )
        event_filter = EventFilter(
            self.request.query_params, queryset=events, actions=selectors.event_actions(self.smart_account)
        )
        if not event_filter.is_valid():
            raise ValidationError({name: list(errors) for name, errors in event_filter.errors.items()})
        return event_filter.qs, va


class EventListView(EventsMixin, AccountApiView):
    serializer_class = s.EventSerializer
    pagination_class = KeysetCursorPage
    keyset_fields, keyset_kinds, keyset_descending = ("created_at", "pk"), (dt.datetime, int), True

    @extend_schema(
        operation_id="events_list",
        description="The account's event log as the caller may see it, newest first.",
        parameters=EVENT_PARAMETERS,
        responses={200: s.EventSerializer(many=True), **ERRORS},
    )
    def get(self, request, account_id):
        events, _va = self.filtered_events()
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)


class EventCsvView(EventsMixin, AccountApiView):
    """The filtered event log as CSV, streamed (the event log page's export). Errors are JSON."""

    serializer_class = s.EventSerializer
    pagination_class = None

    def perform_content_negotiation(self, request, force=False):
        # The answer is CSV whatever Accept says; errors are answered in the API's JSON shape.
        renderer = self.get_renderers()[0]
        return renderer, renderer.media_type

    @extend_schema(
        operation_id="events_csv",
        parameters=EVENT_PARAMETERS,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="UTF-8 CSV with a BOM."), **ERRORS},
    )
    def get(self, request, account_id):
        events, va = self.filtered_events()
        return events_csv(events, va.name if va else self.smart_account.name)
