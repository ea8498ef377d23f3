"""Cursor pages of the native API (smartaccounts.api.pagination)."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.isolation import build_tenant

pytestmark = pytest.mark.django_db


def test_a_cursor_the_api_did_not_write_is_a_bad_request():
    tenant = build_tenant("Cursor")
    client = APIClient()
    client.force_login(tenant.admin)
    for cursor in ("a", "cD0xMjM=%%", "bm90IGEgY3Vyc29y"):
        response = client.get(reverse("api_hand_overs", args=[tenant.account.pk]), {"cursor": cursor})
        assert response.status_code == 400, (cursor, response.content)
        assert response.json()["code"] == "bad_cursor"
        assert response.json()["detail"].startswith("The cursor is not one the API wrote")
