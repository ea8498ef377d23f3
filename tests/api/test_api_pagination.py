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
    # Not base64; a position of the wrong type for a date ordering ("p=123").
    cases = [("api_hand_overs", "a"), ("api_hand_overs", "cD0xMjM=")]
    for name, cursor in cases:
        response = client.get(reverse(name, args=[tenant.account.pk]), {"cursor": cursor})
        assert response.status_code == 400, (cursor, response.content)
        assert response.json()["code"] == "bad_cursor", (cursor, response.content)
        assert response.json()["detail"].startswith("The cursor is not one the API wrote")


def test_a_position_a_number_ordering_cannot_take_is_a_bad_request():
    from rest_framework.exceptions import ParseError
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from smartaccounts.api.pagination import CursorPage
    from smartaccounts.models import SmartAccount

    build_tenant("Cursor")
    request = Request(APIRequestFactory().get("/api/v1/accounts/", {"cursor": "cD1hYmM="}))  # "p=abc"
    with pytest.raises(ParseError) as refused:
        CursorPage().paginate_queryset(SmartAccount.objects.all(), request)
    assert refused.value.get_codes() == "bad_cursor"
