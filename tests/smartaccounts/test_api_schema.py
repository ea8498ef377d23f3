"""The OpenAPI document describes what the accounts endpoints answer: each answer (success and error) is
checked against the schema drf-spectacular writes for its path, method and status."""

from __future__ import annotations

import copy
import re

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from rest_framework.test import APIClient

from smartaccounts import services
from tests.factories import make_va
from tests.isolation import build_tenant

pytestmark = pytest.mark.django_db


def _json_schema(node):
    """OpenAPI 3.0 → JSON Schema: `nullable: true` becomes "or null"."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


@pytest.fixture(scope="module")
def document():
    return SchemaGenerator().get_schema(request=None, public=True)


def check(document, response, method: str):
    path = response.wsgi_request.path

    def matches(template: str) -> bool:
        pattern = re.sub(r"\\\{[^}]+\\\}", "[0-9]+", re.escape(template))
        return re.fullmatch(pattern, path) is not None

    template = next((t for t in document["paths"] if matches(t)), None)
    assert template is not None, f"{path} is not in the schema"
    operations = document["paths"][template]
    answers = operations[method]["responses"]
    status = str(response.status_code)
    assert status in answers, f"{method.upper()} {template}: {status} is not documented"
    content = answers[status].get("content")
    if response.status_code == 204:
        assert content is None and not response.content
        return
    media = response["Content-Type"].split(";")[0]
    assert content and media in content, f"{method.upper()} {template} {status}: {media} is not documented"
    if media != "application/json":
        return
    root = _json_schema(copy.deepcopy({"components": document["components"]}))
    registry = Registry().with_resource("urn:doc", DRAFT202012.create_resource(root))
    schema = {**_json_schema(copy.deepcopy(content[media]["schema"]))}
    schema = _rebase(schema)
    Draft202012Validator(schema, registry=registry).validate(response.json())


def _rebase(node):
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    if isinstance(node, dict):
        return {k: ("urn:doc" + v if k == "$ref" and v.startswith("#/") else _rebase(v)) for k, v in node.items()}
    return node


def test_every_answer_of_the_accounts_endpoints_matches_the_schema(document):
    tenant = build_tenant("Schema")
    api = APIClient()
    api.force_login(tenant.admin)
    a = {"account_id": tenant.account.pk}
    va = {**a, "va_id": tenant.va_b.pk}
    member = {**a, "member_id": tenant.va_user.pk}
    spare = make_va(tenant.account, "Spare")
    calls = [
        ("get", reverse("api_accounts"), None),
        ("get", reverse("api_account", kwargs=a), None),
        ("get", reverse("api_virtual_accounts", kwargs=a), None),
        ("get", reverse("api_virtual_accounts", kwargs=a) + "?parent=x", None),
        ("post", reverse("api_virtual_accounts", kwargs=a), {"name": "Schema VA", "parent_id": tenant.va_a.pk}),
        ("post", reverse("api_virtual_accounts", kwargs=a), {"name": ""}),
        ("get", reverse("api_virtual_account_tree", kwargs=a), None),
        ("get", reverse("api_virtual_account", kwargs=va), None),
        ("patch", reverse("api_virtual_account", kwargs=va), {"description": "Described"}),
        ("post", reverse("api_va_move", kwargs=va), {"parent_id": tenant.va_a.pk}),
        ("post", reverse("api_va_make_default", kwargs=va), None),
        ("delete", reverse("api_virtual_account", kwargs={**a, "va_id": spare.pk}), None),
        ("get", reverse("api_virtual_account", kwargs={**a, "va_id": spare.pk}), None),
        ("get", reverse("api_members", kwargs=a), None),
        ("post", reverse("api_members", kwargs=a), {"email": "schema@example.org", "role": "viewer"}),
        ("get", reverse("api_member", kwargs=member), None),
        ("post", reverse("api_member_roles", kwargs=member), {"role": "admin"}),
        ("post", reverse("api_member_revoke", kwargs=member), {"virtual_account_id": tenant.va_a.pk}),
        ("delete", reverse("api_member", kwargs=member), None),
        ("get", reverse("api_invitations", kwargs=a), None),
        ("post", reverse("api_invitation_resend", kwargs={**a, "invitation_id": 2**40}), None),
        ("get", reverse("api_events", kwargs=a), None),
        ("get", reverse("api_events", kwargs=a) + "?action=nope", None),
        ("get", reverse("api_events_csv", kwargs=a), None),
    ]
    invitation = services.invite_user(
        actor=tenant.admin, email="s@example.org", role="user", virtual_account=tenant.va_a
    )
    calls.append(("post", reverse("api_invitation_cancel", kwargs={**a, "invitation_id": invitation.pk}), None))
    seen = set()
    for method, path, data in calls:
        response = getattr(api, method)(path, data, format="json") if data is not None else getattr(api, method)(path)
        check(document, response, method)
        seen.add(response.status_code)
    assert {200, 201, 204, 400, 404} <= seen
    api.force_login(tenant.viewer)
    check(document, api.post(reverse("api_virtual_accounts", kwargs=a), {"name": "No"}, format="json"), "post")
