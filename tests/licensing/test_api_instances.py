"""The native API's product instances, registration tokens and instance transfers (`licensing/api/instances.py`)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from licensing.models import ProductInstance, RegistrationToken
from tests.api.helpers import assert_error
from tests.factories import grant, make_user
from tests.isolation import build_tenant

from .helpers import assert_ledger_clean, balance, deposit, make_license, register, token_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def world():
    """A tenant with devices in va_a (2), va_a_child (1) and va_b (1) using one license."""
    tenant = build_tenant()
    lic = make_license("Catalyst 9300 Network Advantage")
    for va in (tenant.va_a, tenant.va_b, tenant.va_a_child):
        deposit(va, lic, 10)
    tenant.cache.update(
        lic=lic,
        core=register(tenant.va_a, {lic: 2}, hostname="sw-core-1", serial="FOC1111AAAA"),
        edge=register(tenant.va_a, {lic: 1}, hostname="sw-edge-2", serial="FOC2222BBBB"),
        lab=register(tenant.va_a_child, {lic: 1}, hostname="lab-3", serial="FOC3333CCCC"),
        fin=register(tenant.va_b, {lic: 1}, hostname="fin-4", serial="FOC4444DDDD"),
    )
    return tenant


def url(tenant, name, **kwargs):
    return reverse(name, kwargs={"account_id": tenant.account.pk, **kwargs})


def hostnames(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [i["hostname"] for i in response.json()["results"]]


# --- Product instances ------------------------------------------------------------------------------------


def test_list_filters_and_search(api, world):
    api.force_login(world.viewer)
    path = url(world, "api_product_instances")
    assert hostnames(api.get(path)) == ["fin-4", "lab-3", "sw-core-1", "sw-edge-2"]
    assert hostnames(api.get(path, {"virtual_account": world.va_a.pk})) == ["sw-core-1", "sw-edge-2"]
    subtree = {"virtual_account": world.va_a.pk, "include_subaccounts": "true"}
    assert hostnames(api.get(path, subtree)) == ["lab-3", "sw-core-1", "sw-edge-2"]
    assert hostnames(api.get(path, {"q": "FOC2222BBBB"})) == ["sw-edge-2"]  # a full serial number
    assert hostnames(api.get(path, {"q": "core"})) == ["sw-core-1"]  # part of a host name
    assert hostnames(api.get(path, {"reporting": "overdue"})) == []
    other = make_license("Other")
    deposit(world.va_b, other, 1)
    register(world.va_b, {other: 1}, hostname="uses-other")
    assert hostnames(api.get(path, {"license": other.pk})) == ["uses-other"]
    row = api.get(path, {"q": "sw-core"}).json()["results"][0]
    assert row["udi"] == "PID:C9300-48P SN:FOC1111AAAA" and row["license_count"] == 1
    assert row["virtual_account"] == {"id": world.va_a.pk, "name": world.va_a.name}
    assert row["status"] == "active" and "next_report_due_at" in row and "last_report_at" in row


def test_removed_instances_only_when_asked(api, world):
    api.force_login(world.user)
    assert api.delete(url(world, "api_product_instance_detail", instance_id=world.cache["fin"].pk)).status_code == 204
    path = url(world, "api_product_instances")
    assert "fin-4" not in hostnames(api.get(path))
    assert hostnames(api.get(path, {"status": "removed"})) == ["fin-4"]


def test_keyset_pages_cover_every_instance_once(api, world):
    for _ in range(7):
        register(world.va_b, {}, hostname="")  # blank host names: the key's id part orders them
    api.force_login(world.admin)
    seen, page = [], api.get(url(world, "api_product_instances"), {"page_size": 3}).json()
    pages = 1
    while page["next"]:
        seen += [i["id"] for i in page["results"]]
        page = api.get(page["next"]).json()
        pages += 1
    seen += [i["id"] for i in page["results"]]
    assert len(seen) == len(set(seen)) == 11 and pages == 4
    back = api.get(page["previous"]).json()
    assert [i["id"] for i in back["results"]] == seen[6:9]


def test_va_scoped_user_sees_their_subtree_only(api, world):
    api.force_login(world.va_viewer)
    assert hostnames(api.get(url(world, "api_product_instances"))) == ["lab-3", "sw-core-1", "sw-edge-2"]
    assert_error(api.get(url(world, "api_product_instances"), {"virtual_account": world.va_b.pk}), 400)
    assert_error(api.get(url(world, "api_product_instance_detail", instance_id=world.cache["fin"].pk)), 404)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"status": "gone"}, "status"),
        ({"reporting": "late"}, "reporting"),
        ({"license": "-1"}, "license"),
        ({"page_size": "0"}, "page_size"),
        ({"family": "Nope"}, "family"),
        ({"q": "a\x00b"}, "q"),
        ({"cursor": "n.!!!"}, "cursor"),
        ({"cursor": "x.abc"}, "cursor"),
        ({"include_subaccounts": "2"}, "include_subaccounts"),
    ],
)
def test_list_refuses_unknown_values(api, world, params, field):
    api.force_login(world.viewer)
    assert_error(api.get(url(world, "api_product_instances"), params), 400, field=field)


def test_detail_with_usage(api, world):
    api.force_login(world.viewer)
    response = api.get(url(world, "api_product_instance_detail", instance_id=world.cache["core"].pk))
    assert response.status_code == 200
    body = response.json()
    assert body["serial_number"] == "FOC1111AAAA" and body["hostname"] == "sw-core-1"
    assert body["usage"] == [
        {
            "license_id": world.cache["lic"].pk,
            "name": world.cache["lic"].name,
            "entitlement_tag": world.cache["lic"].tag,
            "count": 2,
            "updated_at": body["usage"][0]["updated_at"],
        }
    ]
    assert body["reservation_id"] is None and body["registration_token_id"] is not None


def test_delete_frees_the_licenses(api, world):
    lic, core = world.cache["lic"], world.cache["core"]
    api.force_login(world.viewer)
    assert_error(api.delete(url(world, "api_product_instance_detail", instance_id=core.pk)), 403)
    api.force_login(world.va_user)
    assert_error(api.delete(url(world, "api_product_instance_detail", instance_id=world.cache["fin"].pk)), 404)
    assert balance(world.va_a, lic).in_use == 3
    response = api.delete(url(world, "api_product_instance_detail", instance_id=core.pk))
    assert response.status_code == 204
    core.refresh_from_db()
    assert core.status == ProductInstance.Status.REMOVED
    assert balance(world.va_a, lic).in_use == 1
    assert_ledger_clean()
    assert_error(api.delete(url(world, "api_product_instance_detail", instance_id=core.pk)), 400)


def test_another_tenants_instance_is_not_found(api, world):
    theirs = build_tenant("Theirs")
    their_device = register(theirs.va_a, {}, hostname="theirs-1")
    api.force_login(world.admin)
    path = url(world, "api_product_instance_detail", instance_id=their_device.pk)
    assert_error(api.get(path), 404)
    assert_error(api.delete(path), 404)
    assert ProductInstance.objects.get(pk=their_device.pk).status == "active"


# --- Instance transfers -----------------------------------------------------------------------------------


def move(api, world, ids, target):
    body = {"product_instance_ids": ids, "target_virtual_account_id": target.pk}
    return api.post(url(world, "api_instance_transfers"), body, format="json")


def test_transfer_moves_devices_and_their_usage(api, world):
    lic, core, edge = world.cache["lic"], world.cache["core"], world.cache["edge"]
    api.force_login(world.user)
    response = move(api, world, [core.pk, edge.pk], world.va_b)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["moved"] == 2 and body["target_virtual_account"]["id"] == world.va_b.pk
    assert {i["virtual_account"]["id"] for i in body["product_instances"]} == {world.va_b.pk}
    assert balance(world.va_a, lic).in_use == 0 and balance(world.va_b, lic).in_use == 4
    assert_ledger_clean()
    assert move(api, world, [core.pk], world.va_b).json()["moved"] == 0


def test_transfer_permissions_and_errors(api, world):
    core, fin = world.cache["core"], world.cache["fin"]
    api.force_login(world.viewer)
    assert_error(move(api, world, [core.pk], world.va_b), 403)
    api.force_login(world.va_user)
    assert_error(move(api, world, [fin.pk], world.va_a), 404)  # a device out of reach
    assert_error(move(api, world, [core.pk], world.va_b), 404)  # a target out of reach
    mixed = grant(grant(make_user("mixed@api.example.com"), "viewer", account=world.account), "user", va=world.va_a)
    api.force_login(mixed)
    assert_error(move(api, world, [fin.pk], world.va_a), 403)  # seen, not changeable
    theirs = build_tenant("Theirs")
    their_device = register(theirs.va_a, {}, hostname="theirs-1")
    api.force_login(world.admin)
    assert_error(move(api, world, [their_device.pk], world.va_a), 404)
    assert_error(move(api, world, [core.pk], theirs.va_a), 404)
    assert_error(move(api, world, [], world.va_b), 400, field="product_instance_ids")
    assert_error(move(api, world, ["x"], world.va_b), 400, field="product_instance_ids")
    bad = api.post(url(world, "api_instance_transfers"), {"product_instance_ids": [core.pk]}, format="json")
    assert_error(bad, 400, field="target_virtual_account_id")
    assert ProductInstance.objects.get(pk=core.pk).virtual_account_id == world.va_a.pk


# --- Registration tokens ----------------------------------------------------------------------------------


def test_create_token(api, world):
    api.force_login(world.user)
    body = {"virtual_account_id": world.va_b.pk, "description": "Rollout", "expires_after_days": 7, "max_uses": 5,
            "export_controlled": True}  # fmt: skip
    response = api.post(url(world, "api_registration_tokens"), body, format="json")
    assert response.status_code == 201, response.content
    answer = response.json()
    token = RegistrationToken.objects.get(pk=answer["id"])
    assert answer["token"] == token.token and len(token.token) > 40
    assert token.virtual_account_id == world.va_b.pk and token.max_uses == 5 and token.export_controlled_allowed
    assert (token.expires_at - token.created_at).days == 7
    assert answer["status"] == "active" and answer["created_by"] == world.user.email


@pytest.mark.parametrize(
    "body, field",
    [
        ({"expires_after_days": 0}, "expires_after_days"),
        ({"expires_after_days": 366}, "expires_after_days"),
        ({"max_uses": 0}, "max_uses"),
        ({"virtual_account_id": "b"}, "virtual_account_id"),
        ({"description": "x" * 256}, "description"),
        ({"export_controlled": "perhaps"}, "export_controlled"),
    ],
)
def test_create_token_refuses_bad_input(api, world, body, field):
    api.force_login(world.user)
    before = RegistrationToken.objects.count()
    data = {"virtual_account_id": world.va_b.pk, **body}
    assert_error(api.post(url(world, "api_registration_tokens"), data, format="json"), 400, field=field)
    assert RegistrationToken.objects.count() == before


def test_create_token_permissions(api, world):
    before = RegistrationToken.objects.count()
    api.force_login(world.viewer)
    path = url(world, "api_registration_tokens")
    assert_error(api.post(path, {"virtual_account_id": world.va_b.pk}, format="json"), 403)
    api.force_login(world.va_user)
    assert_error(api.post(path, {"virtual_account_id": world.va_b.pk}, format="json"), 404)
    mixed = grant(grant(make_user("mixed@api.example.com"), "viewer", account=world.account), "user", va=world.va_a)
    api.force_login(mixed)
    assert_error(api.post(path, {"virtual_account_id": world.va_b.pk}, format="json"), 403)
    theirs = build_tenant("Theirs")
    api.force_login(world.admin)
    assert_error(api.post(path, {"virtual_account_id": theirs.va_a.pk}, format="json"), 404)
    assert RegistrationToken.objects.count() == before


def test_token_list_shows_whole_tokens_to_users_only(api, world):
    path = url(world, "api_registration_tokens")
    api.force_login(world.user)
    tokens = api.get(path, {"virtual_account": world.va_b.pk}).json()["results"]
    assert tokens and all(t["token"] and t["virtual_account"]["id"] == world.va_b.pk for t in tokens)
    api.force_login(world.viewer)
    tokens = api.get(path).json()["results"]
    assert len(tokens) == RegistrationToken.objects.filter(virtual_account__smart_account=world.account).count()
    assert all(t["token"] is None and len(t["token_prefix"]) == 6 for t in tokens)
    api.force_login(world.va_user)
    assert {t["virtual_account"]["id"] for t in api.get(path).json()["results"]} <= {world.va_a.pk, world.va_a_child.pk}


def test_token_detail_and_revoke(api, world):
    token = token_for(world.va_b, description="To revoke")
    api.force_login(world.user)
    detail = api.get(url(world, "api_registration_token_detail", token_id=token.pk))
    assert detail.status_code == 200 and detail.json()["description"] == "To revoke"
    revoke = url(world, "api_registration_token_revoke", token_id=token.pk)
    api.force_login(world.viewer)
    assert_error(api.post(revoke), 403)
    api.force_login(world.va_user)
    assert_error(api.post(revoke), 404)
    assert_error(api.get(url(world, "api_registration_token_detail", token_id=token.pk)), 404)
    api.force_login(world.user)
    response = api.post(revoke)
    assert response.status_code == 200 and response.json()["status"] == "revoked" and response.json()["token"] is None
    token.refresh_from_db()
    assert token.revoked_at is not None and token.revoked_by == world.user
    assert_error(api.post(revoke), 400)


def test_another_tenants_token_is_not_found(api, world):
    theirs = build_tenant("Theirs")
    their_token = token_for(theirs.va_a)
    api.force_login(world.admin)
    assert_error(api.get(url(world, "api_registration_token_detail", token_id=their_token.pk)), 404)
    assert_error(api.post(url(world, "api_registration_token_revoke", token_id=their_token.pk)), 404)
    their_token.refresh_from_db()
    assert their_token.revoked_at is None
    assert_error(api.get(reverse("api_registration_tokens", kwargs={"account_id": theirs.account.pk})), 404)


# --- Query counts -----------------------------------------------------------------------------------------


def count(api, path, params=None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = api.get(path, params or {})
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries)


def test_list_queries_do_not_grow_with_rows(api, world):
    api.force_login(world.va_user)
    paths = [
        (url(world, "api_product_instances"), {}),
        (url(world, "api_product_instances"), {"virtual_account": world.va_a.pk, "include_subaccounts": "1"}),
        (url(world, "api_product_instances"), {"q": "sw", "family": "Catalyst 9300"}),
        (url(world, "api_registration_tokens"), {}),
        (url(world, "api_registration_tokens"), {"virtual_account": world.va_a.pk}),
        (url(world, "api_product_instance_detail", instance_id=world.cache["core"].pk), {}),
    ]
    before = [count(api, path, params) for path, params in paths]
    lic = world.cache["lic"]
    other = make_license("More")
    deposit(world.va_a, other, 50)
    for n in range(15):
        register(world.va_a if n % 2 else world.va_a_child, {lic: 1, other: 1}, hostname=f"sw-more-{n}")
        token_for(world.va_a_child)
    after = [count(api, path, params) for path, params in paths]
    assert after == before
    assert max(after) <= 15
