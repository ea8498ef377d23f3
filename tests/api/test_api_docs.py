"""The OpenAPI document and its docs page (/api/docs/, Swagger UI from the vendored static files)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.urls import reverse

from tests.core.test_foundation import clean_env, run_manage

from .sweep import account_endpoints, cssm_endpoints

pytestmark = pytest.mark.django_db


def _schema(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def _openapi_path(pattern: str) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


def test_the_document_describes_the_whole_api(client):
    document = _schema(client)
    assert document["info"]["title"] == "Smart Accounts API"
    assert "Virtual Accounts" in document["info"]["description"] and document["info"]["version"]
    missing = [e.name for e in account_endpoints() if _openapi_path(e.pattern) not in document["paths"]]
    assert not missing, f"/api/v1 endpoints missing from the OpenAPI document: {missing}"


def test_the_cisco_paths_stay_out_of_the_document(client):
    paths = _schema(client)["paths"]
    assert all(p.startswith("/api/") for p in paths), [p for p in paths if not p.startswith("/api/")]
    assert cssm_endpoints()  # they are routed all the same
    for endpoint in cssm_endpoints():
        assert "/" + endpoint.pattern.replace("^", "") not in paths


def test_bearer_and_session_security_schemes(client):
    document = _schema(client)
    schemes = document["components"]["securitySchemes"]
    assert schemes["cookieAuth"] == {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
    flows = schemes["bearer"]["flows"]
    assert schemes["bearer"]["type"] == "oauth2"
    assert flows["clientCredentials"]["tokenUrl"] == "/as/token.oauth2"
    assert flows["password"]["tokenUrl"] == "/as/token.oauth2"
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/accounts/"):
            for method, operation in item.items():
                names = {name for requirement in operation["security"] for name in requirement}
                assert names == {"bearer", "cookieAuth"}, (method, path, names)


def test_the_document_validates_without_warnings(tmp_path):
    env = clean_env(DEBUG="1")
    out = tmp_path / "schema.yaml"
    result = run_manage("spectacular", "--validate", "--fail-on-warn", "--file", str(out), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "/api/v1/accounts/{account_id}/virtual-accounts/" in out.read_text()


def test_the_docs_page_runs_on_vendored_assets(client):
    response = client.get(reverse("api_docs"))
    assert response.status_code == 200
    page = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets, page
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), f"the docs page loads {asset} from another host"
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        url = f"{settings.STATIC_URL.rstrip('/')}/vendor/swagger-ui/{name}"
        assert any(a.endswith(url) or a == "/" + url.lstrip("/") for a in assets), (name, assets)
        assert finders.find(f"vendor/swagger-ui/{name}"), name
    assert "<script>" not in page  # the start-up script is a file of its own (strict CSP works)
    script = client.get(reverse("api_docs"), {"script": ""})
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")
    assert "/api/schema/" in script.content.decode()


def test_the_vendored_swagger_ui_keeps_its_licence():
    for name in ("LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"):
        assert finders.find(f"vendor/swagger-ui/{name}"), name
    with open(finders.find("vendor/swagger-ui/swagger-ui.css"), encoding="utf-8") as css:
        assert "Apache License 2.0" in css.readline()
