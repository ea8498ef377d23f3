"""API clients and Bearer tokens for tests: a client made through the service, a token through the real
token endpoint, and the header that carries it."""

from __future__ import annotations

import itertools
from urllib.parse import urlencode

from django.urls import reverse

from smartaccounts.models import ApiClient, SmartAccount, VirtualAccount
from smartaccounts.services.api_clients import create_api_client

_seq = itertools.count(1)


def make_api_client(
    account: SmartAccount, role: str, virtual_account: VirtualAccount | None = None, name: str | None = None
) -> tuple[ApiClient, str]:
    """A live API client with `role` on `account` (or on `virtual_account`), made by the account's creator
    (an Admin); returns (client, secret)."""
    return create_api_client(
        actor=account.created_by,
        smart_account=account,
        name=name or f"Script {next(_seq)}",
        role=role,
        virtual_account=virtual_account,
    )


def get_token(client, client_id: str, secret: str, **fields) -> str:
    """An access token from POST /as/token.oauth2 (`client`: a Django test client). `fields` add or
    replace form fields, e.g. grant_type="password", username=..., password=..."""
    data = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **fields}
    response = client.post(reverse("api_token"), urlencode(data), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    """Headers for a test client's request: ``client.get(url, headers=bearer(token))``."""
    return {"Authorization": f"Bearer {token}"}


def account_url(name: str, account: SmartAccount, **kwargs) -> str:
    """The path of an account's API endpoint `name` (other URL arguments as keywords)."""
    return reverse(name, kwargs={"account_id": account.pk, **kwargs})


def assert_error(response, status: int, code: str | None = None, field: str | None = None) -> dict:
    """The response is the API's one error shape `{code, detail, fields}` with `status`; `code` and a
    `field` named in `fields` checked when given. Returns the body."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}, body
    if code:
        assert body["code"] == code, body
    if field:
        assert field in body["fields"], body
    return body
