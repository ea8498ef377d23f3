"""The favicon, the e-mail link base following `make run`'s HOST and PORT, and the package metadata."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from config.settings import default_portal_base_url
from tests.factories import make_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_the_favicon_is_served_and_linked_from_every_page(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("/favicon.ico") and response["Location"] != "/favicon.ico"
    for name in ("favicon.ico", "favicon.svg"):
        assert finders.find(name), name
    assert Path(finders.find("favicon.ico")).read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO header
    login = client.get(reverse("login")).content.decode()
    assert 'rel="icon"' in login and "favicon.svg" in login
    client.force_login(make_user("someone@acme.example.com"))
    assert 'rel="icon"' in client.get(reverse("home")).content.decode()


def test_the_portal_base_url_follows_host_and_port():
    assert default_portal_base_url("127.0.0.1", "8101") == "http://127.0.0.1:8101"
    assert default_portal_base_url("0.0.0.0", "8000") == "http://localhost:8000"  # noqa: S104
    assert default_portal_base_url("::1", "9000") == "http://[::1]:9000"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PORT": "8101"}, "http://127.0.0.1:8101"),
        ({"HOST": "portal.example.com", "PORT": "8443"}, "http://portal.example.com:8443"),
        ({"PORT": "8101", "PORTAL_BASE_URL": "https://licenses.example.com"}, "https://licenses.example.com"),
        ({}, "http://127.0.0.1:8000"),
    ],
)
def test_settings_derive_the_portal_base_url_from_the_environment(env, expected):
    clean = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "PORTAL_BASE_URL")}
    code = "from django.conf import settings; print(settings.PORTAL_BASE_URL)"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        env={**clean, **env, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1"},
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == expected


def test_make_run_passes_host_and_port_to_the_environment():
    makefile = (ROOT / "Makefile").read_text()
    assert "run: export HOST := $(HOST)" in makefile and "run: export PORT := $(PORT)" in makefile


def test_the_license_is_an_spdx_expression_and_setuptools_reads_it():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "Apache-2.0"
    assert "setuptools>=77" in project["build-system"]["requires"]
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
