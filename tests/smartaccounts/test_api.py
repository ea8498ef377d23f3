"""The `/api/v1/` endpoints of accounts, Virtual Accounts, members and events: scope (404), roles (403),
input (400 in one shape), what they write, and query counts that do not grow with the rows."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from smartaccounts import services
from smartaccounts.models import Event, Invitation, Role, VirtualAccount
from smartaccounts.services.roles import role_on_scope
from tests.api.helpers import assert_error
from tests.factories import grant, make_account, make_user, make_va
from tests.isolation import build_tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def tenant():
    return build_tenant("Api")


def as_(api, user) -> APIClient:
    api.force_login(user)
    return api


def url(name, tenant=None, **kwargs):
    if tenant is not None:
        kwargs.setdefault("account_id", tenant.account.pk)
    return reverse(name, kwargs=kwargs)


def count_queries(api, path, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path, params)
        assert response.status_code == 200, response.content
        if getattr(response, "streaming", False):
            b"".join(response.streaming_content)
    return len(queries)


# --- The permission sweep over this app's endpoints --------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    method: str = "get"
    action: str = "view"  # the least role: view (Viewer), operate (User), admin (Admin)
    va_bound: bool = False  # a VA in the URL: a VA-scoped user outside it gets 404
    data: dict | None = None
    data_for_va: bool = False  # the data names the VA: {"virtual_account_id": va}

    def __str__(self):
        return f"{self.method.upper()} {self.name}"


def _kwargs(case: Case, tenant, va) -> dict:
    kwargs = {"account_id": tenant.account.pk}
    if case.va_bound:
        kwargs["va_id"] = va.pk
    if case.name.startswith("api_member_") or case.name == "api_member":
        member = make_user(f"member-{va.pk}-{case.method}@{tenant.account.domain}")
        services.assign_role(actor=tenant.admin, user=member, role="viewer", virtual_account=va)
        kwargs["member_id"] = member.pk
    if case.name.startswith("api_invitation_"):
        email = f"invitee-{va.pk}@{tenant.account.domain}"
        kwargs["invitation_id"] = services.invite_user(
            actor=tenant.admin, email=email, role="viewer", virtual_account=va
        ).pk
    return kwargs


CASES = [
    Case("api_account"),
    Case("api_virtual_accounts"),
    Case("api_virtual_accounts", "post", "admin", data={"name": "Made by the sweep"}),
    Case("api_virtual_account_tree"),
    Case("api_virtual_account", va_bound=True),
    Case("api_virtual_account", "patch", "admin", va_bound=True, data={"description": "Swept"}),
    Case("api_virtual_account", "delete", "admin", va_bound=True),
    Case("api_va_move", "post", "admin", va_bound=True, data={"parent_id": None}),
    Case("api_va_make_default", "post", "admin", va_bound=True),
    Case("api_members", action="admin"),
    Case("api_members", "post", "admin", data={"email": "sweep@example.org", "role": "viewer"}),
    Case("api_member", action="admin"),
    Case("api_member", "delete", "admin"),
    Case("api_member_roles", "post", "admin", data={"role": "user"}),
    Case("api_member_revoke", "post", "admin", data={}, data_for_va=True),
    Case("api_invitations", action="admin"),
    Case("api_invitation_resend", "post", "admin"),
    Case("api_invitation_cancel", "post", "admin"),
    Case("api_events"),
    Case("api_events_csv"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_every_endpoint_hides_other_tenants_and_refuses_roles_too_low(api, case):
    tenant = build_tenant("Sweep")
    path = reverse(case.name, kwargs=_kwargs(case, tenant, tenant.va_b))
    send = getattr(api, case.method)
    data = {**case.data, "virtual_account_id": tenant.va_b.pk} if case.data_for_va else case.data

    def call(user):
        if user is None:
            api.logout()
        else:
            api.force_login(user)
        return send(path, data, format="json") if data is not None else send(path)

    anonymous = call(None)  # 403 with session authentication alone, 401 once Bearer tokens are offered first
    assert anonymous.status_code in (401, 403) and anonymous.json()["code"] == "not_authenticated"
    assert_error(call(tenant.outsider), 404, "not_found")
    lower = {"view": None, "operate": tenant.viewer, "admin": tenant.user}[case.action]
    if lower is not None:
        assert_error(call(lower), 403, "permission_denied")
    if case.va_bound:
        assert_error(call(tenant.va_user), 404)  # va_b is outside va_user's subtree
    assert call(tenant.admin).status_code in (200, 201, 204)


# --- Accounts ----------------------------------------------------------------------------------------------


def test_account_list_shows_the_callers_accounts_with_roles(api, tenant):
    other = make_account(name="Second Account", domain="second-api.example.com")
    grant(tenant.va_user, "admin", account=other)
    answer = as_(api, tenant.va_user).get(url("api_accounts")).json()
    by_id = {a["id"]: a for a in answer["results"]}
    assert set(by_id) == {tenant.account.pk, other.pk}
    mine = by_id[tenant.account.pk]
    assert mine["role"] is None and mine["strongest_role"] == "user"
    assert mine["default_virtual_account_id"] == tenant.default_va.pk
    assert mine["kind"] == "customer" and mine["status"] == "active" and mine["domain"] == tenant.account.domain
    assert by_id[other.pk]["role"] == "admin"


def test_account_list_pages_by_name_and_refuses_a_damaged_cursor(api):
    admin = make_user("pager@pages-api.example.com")
    for i in range(3):
        grant(admin, "viewer", account=make_account(name=f"Paged {i}", domain=f"paged{i}.example.com"))
    as_(api, admin)
    first = api.get(url("api_accounts"), {"page_size": 2}).json()
    assert [a["name"] for a in first["results"]] == ["Paged 0", "Paged 1"]
    second = api.get(first["next"]).json()
    assert [a["name"] for a in second["results"]] == ["Paged 2"] and second["next"] is None
    assert_error(api.get(url("api_accounts"), {"after": "not-a-cursor!"}), 400, "bad_cursor")
    assert_error(api.get(url("api_accounts"), {"page_size": "0"}), 400, field="page_size")


def test_account_list_queries_do_not_grow_with_accounts(api):
    admin = make_user("many@many-api.example.com")
    grant(admin, "viewer", account=make_account(domain="many0.example.com"))
    as_(api, admin)
    few = count_queries(api, url("api_accounts"))
    for i in range(1, 8):
        grant(admin, "viewer", account=make_account(domain=f"many{i}.example.com"))
    assert count_queries(api, url("api_accounts")) == few


def test_account_detail(api, tenant):
    body = as_(api, tenant.admin).get(url("api_account", tenant)).json()
    assert body["id"] == tenant.account.pk and body["name"] == tenant.account.name
    assert body["role"] == body["strongest_role"] == "admin"
    assert body["default_virtual_account_id"] == tenant.default_va.pk
    assert "created_at" in body


# --- Virtual Accounts --------------------------------------------------------------------------------------


def test_va_list_in_tree_order_with_depth_and_path(api, tenant):
    rows = as_(api, tenant.viewer).get(url("api_virtual_accounts", tenant)).json()["results"]
    ids = [r["id"] for r in rows]
    assert set(ids) == {tenant.va_a.pk, tenant.va_a_child.pk, tenant.va_b.pk, tenant.default_va.pk}
    assert ids.index(tenant.va_a.pk) + 1 == ids.index(tenant.va_a_child.pk)  # a child right after its parent
    child = rows[ids.index(tenant.va_a_child.pk)]
    assert child["parent_id"] == tenant.va_a.pk and child["depth"] == 1 and child["path"] == [tenant.va_a.name]
    assert {r["is_default"] for r in rows if r["id"] == tenant.default_va.pk} == {True}


def test_va_list_pages_keep_depth_and_path_across_pages(api, tenant):
    grandchild = make_va(tenant.account, "Deep", parent=tenant.va_a_child)
    make_va(tenant.account, "Deeper", parent=grandchild)
    as_(api, tenant.admin)
    everything = api.get(url("api_virtual_accounts", tenant)).json()["results"]
    paged, link = [], url("api_virtual_accounts", tenant) + "?page_size=1"
    while link:
        answer = api.get(link).json()
        paged += answer["results"]
        link = answer["next"]
    assert paged == everything
    deeper = next(r for r in paged if r["name"] == "Deeper")
    assert deeper["path"] == [tenant.va_a.name, tenant.va_a_child.name, "Deep"] and deeper["depth"] == 3
    siblings = api.get(url("api_virtual_accounts", tenant), {"parent": grandchild.pk}).json()["results"]
    assert [(r["name"], r["path"], r["parent_id"]) for r in siblings] == [("Deeper", deeper["path"], grandchild.pk)]


def test_va_list_for_a_va_scoped_user_starts_at_their_va(api, tenant):
    rows = as_(api, tenant.va_user).get(url("api_virtual_accounts", tenant)).json()["results"]
    assert [(r["id"], r["parent_id"], r["depth"], r["path"]) for r in rows] == [
        (tenant.va_a.pk, None, 0, []),
        (tenant.va_a_child.pk, tenant.va_a.pk, 1, [tenant.va_a.name]),
    ]


def test_va_list_filters_by_parent(api, tenant):
    as_(api, tenant.va_user)
    rows = api.get(url("api_virtual_accounts", tenant), {"parent": tenant.va_a.pk}).json()["results"]
    assert [r["id"] for r in rows] == [tenant.va_a_child.pk]
    for bad in (tenant.va_b.pk, "x", "²", 2**70):
        assert_error(api.get(url("api_virtual_accounts", tenant), {"parent": bad}), 400, "invalid", "parent")


def test_va_list_and_tree_queries_do_not_grow_with_vas(api, tenant):
    as_(api, tenant.admin)
    list_url, tree_url = url("api_virtual_accounts", tenant), url("api_virtual_account_tree", tenant)
    few = (count_queries(api, list_url), count_queries(api, tree_url))
    for i in range(12):
        make_va(tenant.account, f"Grown {i}", parent=tenant.va_b if i % 2 else None)
    assert (count_queries(api, list_url), count_queries(api, tree_url)) == few


def test_tree_is_nested_with_the_pages_columns(api, tenant):
    grant(make_user(f"counted@{tenant.account.domain}"), "viewer", va=tenant.va_a_child)
    body = as_(api, tenant.admin).get(url("api_virtual_account_tree", tenant)).json()
    assert "members" in {c["key"] for c in body["columns"]}
    roots = {n["id"]: n for n in body["roots"]}
    assert set(roots) == {tenant.va_a.pk, tenant.va_b.pk, tenant.default_va.pk}
    va_a = roots[tenant.va_a.pk]
    [child] = va_a["children"]
    assert child["id"] == tenant.va_a_child.pk and child["parent_id"] == tenant.va_a.pk and child["depth"] == 1
    assert child["counts"]["members"] == 1
    assert va_a["totals"]["members"] == va_a["counts"]["members"] + 1
    body = as_(api, tenant.va_user).get(url("api_virtual_account_tree", tenant)).json()
    assert [n["id"] for n in body["roots"]] == [tenant.va_a.pk]


def test_create_va(api, tenant):
    as_(api, tenant.admin)
    response = api.post(
        url("api_virtual_accounts", tenant),
        {"name": "  Robotics  Lab ", "parent_id": tenant.va_a.pk, "description": "Arms"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    va = VirtualAccount.objects.get(pk=body["id"])
    assert (va.name, va.parent_id, va.description) == ("Robotics Lab", tenant.va_a.pk, "Arms")
    assert body["path"] == [tenant.va_a.name] and body["role"] == "admin"
    assert Event.objects.filter(action="va.created", virtual_account=va).exists()


def test_create_va_refusals(api, tenant):
    other = build_tenant("Other")
    as_(api, tenant.admin)
    path = url("api_virtual_accounts", tenant)
    before = VirtualAccount.objects.count()
    assert_error(api.post(path, {"name": tenant.va_a.name}, format="json"), 400, "invalid", "name")
    assert_error(api.post(path, {"name": "X", "parent_id": other.va_a.pk}, format="json"), 400, field="parent_id")
    assert_error(api.post(path, {"parent_id": tenant.va_a.pk}, format="json"), 400, field="name")
    assert_error(api.post(path, {"name": "X", "parent_id": "one"}, format="json"), 400, field="parent_id")
    assert_error(api.post(path, ["not", "an", "object"], format="json"), 400)
    assert_error(api.post(path, "{", content_type="application/json"), 400, "parse_error")
    assert VirtualAccount.objects.count() == before


def test_a_va_admin_creates_below_their_va_only(api, tenant):
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    as_(api, va_admin)
    path = url("api_virtual_accounts", tenant)
    assert api.post(path, {"name": "Under A", "parent_id": tenant.va_a_child.pk}, format="json").status_code == 201
    assert_error(api.post(path, {"name": "Top"}, format="json"), 403)
    assert not VirtualAccount.objects.filter(name="Top").exists()


def test_rename_and_describe_va(api, tenant):
    as_(api, tenant.admin)
    path = url("api_virtual_account", tenant, va_id=tenant.va_b.pk)
    body = api.patch(path, {"name": "Money", "description": "Ledgers"}, format="json").json()
    tenant.va_b.refresh_from_db()
    assert (tenant.va_b.name, tenant.va_b.description) == ("Money", "Ledgers") == (body["name"], body["description"])
    body = api.patch(path, {"description": "Only this"}, format="json").json()
    tenant.va_b.refresh_from_db()
    assert (tenant.va_b.name, tenant.va_b.description) == ("Money", "Only this")
    assert_error(api.patch(path, {}, format="json"), 400, "invalid")
    assert_error(api.patch(path, {"name": tenant.va_a.name}, format="json"), 400, field="name")
    assert_error(api.patch(path, {"name": "x" * 101}, format="json"), 400, field="name")
    tenant.va_b.refresh_from_db()
    assert tenant.va_b.name == "Money"


def test_delete_va(api, tenant):
    as_(api, tenant.admin)
    empty = make_va(tenant.account, "Empty one")
    assert api.delete(url("api_virtual_account", tenant, va_id=empty.pk)).status_code == 204
    empty.refresh_from_db()
    assert empty.deleted_at is not None
    assert api.get(url("api_virtual_account", tenant, va_id=empty.pk)).status_code == 404
    assert_error(api.delete(url("api_virtual_account", tenant, va_id=tenant.va_a.pk)), 400)  # has a child
    assert_error(api.delete(url("api_virtual_account", tenant, va_id=tenant.default_va.pk)), 400)
    tenant.va_a.refresh_from_db()
    assert tenant.va_a.deleted_at is None


def test_move_va(api, tenant):
    as_(api, tenant.admin)
    path = url("api_va_move", tenant, va_id=tenant.va_a_child.pk)
    body = api.post(path, {"parent_id": tenant.va_b.pk}, format="json").json()
    assert body["parent_id"] == tenant.va_b.pk and body["path"] == [tenant.va_b.name]
    assert VirtualAccount.objects.get(pk=tenant.va_a_child.pk).parent_id == tenant.va_b.pk
    assert api.post(path, {"parent_id": None}, format="json").json()["depth"] == 0
    assert VirtualAccount.objects.get(pk=tenant.va_a_child.pk).parent_id is None
    up = url("api_va_move", tenant, va_id=tenant.va_b.pk)
    make_va(tenant.account, "Below B", parent=tenant.va_b)
    below = VirtualAccount.objects.get(name="Below B")
    assert_error(api.post(up, {"parent_id": below.pk}, format="json"), 400, field="parent_id")
    assert_error(api.post(up, {}, format="json"), 400, field="parent_id")
    assert VirtualAccount.objects.get(pk=tenant.va_b.pk).parent_id is None


def test_make_default_is_for_account_admins(api, tenant):
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    path = url("api_va_make_default", tenant, va_id=tenant.va_a.pk)
    assert_error(as_(api, va_admin).post(path), 403)
    assert as_(api, tenant.admin).post(path).json()["is_default"] is True
    assert VirtualAccount.objects.get(smart_account=tenant.account, is_default=True).pk == tenant.va_a.pk


# --- Members -----------------------------------------------------------------------------------------------


def test_members_list_as_the_users_page(api, tenant):
    body = as_(api, tenant.admin).get(url("api_members", tenant)).json()
    by_email = {m["email"]: m for m in body}
    assert by_email[tenant.viewer.email]["roles"] == [
        {"role": "viewer", "virtual_account_id": None, "virtual_account_name": None}
    ]
    assert by_email[tenant.va_user.email]["roles"] == [
        {"role": "user", "virtual_account_id": tenant.va_a.pk, "virtual_account_name": tenant.va_a.name}
    ]
    assert by_email[tenant.va_user.email]["id"] == tenant.va_user.pk
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    emails = {m["email"] for m in as_(api, va_admin).get(url("api_members", tenant)).json()}
    assert emails == {tenant.va_user.email, tenant.va_viewer.email, va_admin.email}


def test_members_list_queries_do_not_grow_with_members(api, tenant):
    as_(api, tenant.admin)
    few = count_queries(api, url("api_members", tenant))
    for i in range(8):
        grant(make_user(f"more{i}@{tenant.account.domain}"), "viewer", va=tenant.va_b if i % 2 else None,
              account=None if i % 2 else tenant.account)  # fmt: skip
    assert count_queries(api, url("api_members", tenant)) == few


def test_invite_as_the_users_page(api, tenant, django_capture_on_commit_callbacks):
    as_(api, tenant.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            url("api_members", tenant),
            {"email": " New.Person@Example.org ", "role": "user", "virtual_account_id": tenant.va_b.pk},
            format="json",
        )
    assert response.status_code == 201, response.content
    invitation = Invitation.objects.get(pk=response.json()["id"])
    assert (invitation.email, invitation.role, invitation.virtual_account_id) == (
        "new.person@example.org",
        "user",
        tenant.va_b.pk,
    )
    assert response.json()["status"] == "pending" and mail.outbox[-1].to == ["new.person@example.org"]
    # An address with a login gets the same answer (an invitation), and no role until it accepts.
    response = api.post(url("api_members", tenant), {"email": tenant.outsider.email, "role": "admin"}, format="json")
    assert response.status_code == 201
    assert role_on_scope(tenant.outsider, tenant.account, None) is None


def test_invite_refusals(api, tenant):
    as_(api, tenant.admin)
    path = url("api_members", tenant)
    before = Invitation.objects.count()
    assert_error(api.post(path, {"email": "not an address", "role": "user"}, format="json"), 400, field="email")
    assert_error(api.post(path, {"email": "a@example.org", "role": "owner"}, format="json"), 400, field="role")
    other = build_tenant("Other")
    bad_scope = {"email": "a@example.org", "role": "user", "virtual_account_id": other.va_a.pk}
    assert_error(api.post(path, bad_scope, format="json"), 400, field="virtual_account_id")
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    whole = {"email": "b@example.org", "role": "user"}
    assert_error(as_(api, va_admin).post(path, whole, format="json"), 403)
    assert Invitation.objects.count() == before


def test_member_detail_and_other_tenants_member(api, tenant):
    other = build_tenant("Other")
    as_(api, tenant.admin)
    body = api.get(url("api_member", tenant, member_id=tenant.va_user.pk)).json()
    assert body["email"] == tenant.va_user.email and body["roles"][0]["role"] == "user"
    for name in ("api_member", "api_member_roles", "api_member_revoke"):
        path = url(name, tenant, member_id=other.viewer.pk)
        assert_error(api.get(path) if name == "api_member" else api.post(path, {}, format="json"), 404)
    assert_error(api.delete(url("api_member", tenant, member_id=other.viewer.pk)), 404)
    assert role_on_scope(other.viewer, other.account, None) == Role.VIEWER


def test_assign_role(api, tenant):
    as_(api, tenant.admin)
    path = url("api_member_roles", tenant, member_id=tenant.va_user.pk)
    body = api.post(path, {"role": "admin", "virtual_account_id": tenant.va_b.pk}, format="json").json()
    assert {"role": "admin", "virtual_account_id": tenant.va_b.pk, "virtual_account_name": tenant.va_b.name} in body[
        "roles"
    ]
    assert role_on_scope(tenant.va_user, tenant.account, tenant.va_b) == Role.ADMIN
    assert_error(api.post(path, {"role": "boss"}, format="json"), 400, field="role")
    assert_error(
        api.post(path, {"role": "user", "virtual_account_id": 0}, format="json"), 400, field="virtual_account_id"
    )


def test_revoke_role_keeps_the_last_admin(api, tenant):
    as_(api, tenant.admin)
    body = api.post(
        url("api_member_revoke", tenant, member_id=tenant.va_user.pk),
        {"virtual_account_id": tenant.va_a.pk},
        format="json",
    ).json()
    assert body["roles"] == []
    assert role_on_scope(tenant.va_user, tenant.account, tenant.va_a) is None
    assert_error(api.post(url("api_member_revoke", tenant, member_id=tenant.admin.pk), {}, format="json"), 400)
    assert role_on_scope(tenant.admin, tenant.account, None) == Role.ADMIN
    # No role on that scope: the service's refusal, nothing written.
    no_role = {"virtual_account_id": tenant.va_b.pk}
    assert_error(api.post(url("api_member_revoke", tenant, member_id=tenant.viewer.pk), no_role, format="json"), 400)
    assert role_on_scope(tenant.viewer, tenant.account, None) == Role.VIEWER


def test_remove_member(api, tenant):
    grant(tenant.viewer, "user", va=tenant.va_b)
    as_(api, tenant.admin)
    assert api.delete(url("api_member", tenant, member_id=tenant.viewer.pk)).status_code == 204
    assert role_on_scope(tenant.viewer, tenant.account, None) is None
    assert role_on_scope(tenant.viewer, tenant.account, tenant.va_b) is None
    assert api.get(url("api_member", tenant, member_id=tenant.viewer.pk)).status_code == 404
    assert_error(api.delete(url("api_member", tenant, member_id=tenant.admin.pk)), 400)
    assert role_on_scope(tenant.admin, tenant.account, None) == Role.ADMIN


def test_a_va_admin_removes_only_the_roles_they_manage(api, tenant):
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    grant(tenant.va_user, "viewer", va=tenant.va_b)
    assert as_(api, va_admin).delete(url("api_member", tenant, member_id=tenant.va_user.pk)).status_code == 204
    assert role_on_scope(tenant.va_user, tenant.account, tenant.va_a) is None
    assert role_on_scope(tenant.va_user, tenant.account, tenant.va_b) == Role.VIEWER


def test_invitations_list_resend_and_cancel(api, tenant, django_capture_on_commit_callbacks):
    to_a = services.invite_user(actor=tenant.admin, email="a@example.org", role="viewer", virtual_account=tenant.va_a)
    to_b = services.invite_user(actor=tenant.admin, email="b@example.org", role="user", virtual_account=tenant.va_b)
    va_admin = grant(make_user(f"va-admin@{tenant.account.domain}"), "admin", va=tenant.va_a)
    rows = as_(api, va_admin).get(url("api_invitations", tenant)).json()["results"]
    assert [r["id"] for r in rows] == [to_a.pk]
    assert_error(api.post(url("api_invitation_cancel", tenant, invitation_id=to_b.pk)), 404)
    with django_capture_on_commit_callbacks(execute=True):
        body = api.post(url("api_invitation_resend", tenant, invitation_id=to_a.pk)).json()
    to_a.refresh_from_db()
    assert to_a.send_count == 2 and body["status"] == "pending" and mail.outbox[-1].to == ["a@example.org"]
    assert api.post(url("api_invitation_cancel", tenant, invitation_id=to_a.pk)).json()["status"] == "cancelled"
    to_a.refresh_from_db()
    assert to_a.status == Invitation.Status.CANCELLED
    assert_error(api.post(url("api_invitation_cancel", tenant, invitation_id=to_a.pk)), 400)  # no longer pending
    assert as_(api, tenant.admin).get(url("api_invitations", tenant)).json()["results"][0]["id"] == to_b.pk


def test_invitations_list_queries_do_not_grow(api, tenant):
    as_(api, tenant.admin)
    services.invite_user(actor=tenant.admin, email="first@example.org", role="viewer", smart_account=tenant.account)
    few = count_queries(api, url("api_invitations", tenant))
    for i in range(8):
        services.invite_user(actor=tenant.admin, email=f"n{i}@example.org", role="viewer", virtual_account=tenant.va_b)
    assert count_queries(api, url("api_invitations", tenant)) == few


# --- Events ------------------------------------------------------------------------------------------------


def test_events_newest_first_with_the_pages_filters(api, tenant):
    as_(api, tenant.admin)
    path = url("api_events", tenant)
    rows = api.get(path).json()["results"]
    times = [(r["created_at"], r["id"]) for r in rows]
    assert times == sorted(times, reverse=True) and len(rows) > 5
    assert {r["action"] for r in api.get(path, {"action": "role.*"}).json()["results"]} == {"role.assigned"}
    in_a = api.get(path, {"virtual_account": tenant.va_a.pk}).json()["results"]
    assert {r["virtual_account_id"] for r in in_a} == {tenant.va_a.pk, tenant.va_a_child.pk}
    mine = api.get(path, {"user": tenant.admin.email}).json()["results"]
    assert mine and {r["actor_email"] for r in mine} == {tenant.admin.email}
    assert api.get(path, {"since": "2999-01-01"}).json()["results"] == []
    assert_error(api.get(path, {"action": "no.such"}), 400, field="action")
    assert_error(api.get(path, {"since": "2026-02-30"}), 400, field="since")
    assert_error(api.get(path, {"virtual_account": build_tenant("Other").va_a.pk}), 400, field="virtual_account")


def test_events_pages_follow_the_keyset(api, tenant):
    as_(api, tenant.admin)
    path = url("api_events", tenant)
    everything = [r["id"] for r in api.get(path).json()["results"]]
    first = api.get(path, {"page_size": 3}).json()
    second = api.get(first["next"]).json()
    assert [r["id"] for r in first["results"] + second["results"]] == everything[:6]
    back = api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == everything[:3]


def test_events_a_va_scoped_user_sees_their_vas_only(api, tenant):
    rows = as_(api, tenant.va_user).get(url("api_events", tenant)).json()["results"]
    assert rows and {r["virtual_account_id"] for r in rows} <= {tenant.va_a.pk, tenant.va_a_child.pk}


def test_events_queries_do_not_grow_with_events(api, tenant):
    as_(api, tenant.va_user)
    few = count_queries(api, url("api_events", tenant)), count_queries(api, url("api_events_csv", tenant))
    for i in range(10):
        make_va(tenant.account, f"Logged {i}", parent=tenant.va_a)
    assert (count_queries(api, url("api_events", tenant)), count_queries(api, url("api_events_csv", tenant))) == few


def test_events_csv_is_filtered_and_neutralised(api, tenant):
    services.rename_virtual_account(actor=tenant.admin, virtual_account=tenant.va_b, name="=HYPERLINK(1)")
    as_(api, tenant.admin)
    response = api.get(url("api_events_csv", tenant), {"action": "va.renamed"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    assert text.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert table[0][:2] == ["time_utc", "action"] and len(table) == 2
    assert table[1][1] == "va.renamed" and table[1][3] == "'=HYPERLINK(1)"
    assert_error(
        api.get(url("api_events_csv", tenant), {"action": "nope"}, HTTP_ACCEPT="text/csv"), 400, field="action"
    )
