"""Calling the Cisco-compatible paths as clients do, and what every answer must hold."""

from __future__ import annotations

import json
from urllib.parse import unquote

from rest_framework.test import APIClient

BASE = "/services/api/smart-accounts-and-licensing/"
APX = "/v1/software/apis/"
_UNSET = object()


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def call(client, method: str, path: str, body=_UNSET, *, query: str = "", raw: str | None = None):
    """`path` relative to the base (or absolute when it starts with "/"); `raw`: the exact body text (e.g.
    "null"). PATH_INFO is set as a server sets it: the test client would read `//services` as a host name."""
    full = path if path.startswith("/") else BASE + path
    data = raw if raw is not None else ("" if body is _UNSET else json.dumps(body))
    return client.generic(
        method.upper(),
        "/" + (f"?{query}" if query else ""),
        data,
        content_type="application/json",
        PATH_INFO=unquote(full),  # a WSGI server decodes %20 before Django sees the path
    )


def ok_json(response, *keys: str) -> dict:
    """A 200 JSON answer holding every key in `keys` (top level)."""
    assert response.status_code == 200, (response.status_code, response.content[:500])
    assert response["Content-Type"].split(";")[0] == "application/json"
    document = response.json()
    missing = [k for k in keys if k not in document]
    assert not missing, (missing, document)
    return document


def has_keys(item: dict, keys) -> None:
    missing = [k for k in keys if k not in item]
    assert not missing, (missing, item)


def error_json(response, status: int) -> dict:
    """The ERROR envelope with its HTTP status."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].split(";")[0] == "application/json"
    document = response.json()
    assert document["status"] == "ERROR" and document["statusMessage"], document
    return document
