"""Clients that call the Cisco-compatible paths as scripts do: with a Bearer token of an API client."""

from __future__ import annotations

from django.test import Client
from rest_framework.test import APIClient

from tests.api.helpers import bearer, get_token, make_api_client


def token_client(account, role: str, virtual_account=None) -> APIClient:
    """An APIClient sending a Bearer token (client_credentials) of a new API client with `role`."""
    api_client, secret = make_api_client(account, role, virtual_account)
    token = get_token(Client(), api_client.application.client_id, secret)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=bearer(token)["Authorization"])
    return client
