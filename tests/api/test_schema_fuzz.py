"""Schemathesis over every operation of the OpenAPI document, through the Django app (WSGI, no server).

The document is read from `/api/schema/` through the app; each operation gets `MAX_EXAMPLES` generated
requests (Hypothesis derandomized: the same requests on every run) sent by a signed-in Admin of a
tenant from `build_tenant()`, with the path's ids set to that tenant's objects (made by the sweep's
builders) so that requests reach the views rather than stopping at a 404. Every answer must be no 5xx,
a documented status code with a documented content type, and a body that matches the schema.
"""

from __future__ import annotations

import functools
import secrets

import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from tests.isolation import build_tenant, load_builders

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 5
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# The device endpoints authenticate devices (a registration token or a signed report in the body), not
# people; their own tests cover them.
NOT_FUZZED = {"/api/v1/devices/register/", "/api/v1/usage/reports/", "/api/v1/usage/change-notices/"}


def _operations() -> list[tuple[str, str]]:
    document = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        if path not in NOT_FUZZED
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    )


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """The WSGI app, like Django's test client, must not close the test's database connection at the end
    of each request (on PostgreSQL that ends the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@functools.cache
def _schema():
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


def _signed_in(user) -> tuple[dict[str, str], dict[str, str]]:
    """The cookies and headers of a browser session of `user`: the session, and the CSRF secret sent as
    cookie and header (DRF checks it on session-authenticated writes)."""
    client = Client()
    client.force_login(user)
    csrf = secrets.token_hex(16)
    cookies = {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}
    cookies[settings.CSRF_COOKIE_NAME] = csrf
    return cookies, {"X-CSRFToken": csrf}


@pytest.mark.parametrize(("method", "path"), _operations(), ids=lambda v: v)
def test_operation_answers_as_documented(method, path):
    tenant = build_tenant("Fuzz")
    cookies, headers = _signed_in(tenant.admin)
    builders = load_builders()
    operation = _schema()[path][method]
    ids = {}

    @given(case=operation.as_strategy())
    @hypothesis_settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        for name in list(case.path_parameters or {}):
            if name in builders:
                if name not in ids:
                    ids[name] = builders[name](tenant, tenant.va_a_child)
                case.path_parameters[name] = ids[name]
        case.call_and_validate(headers=headers, cookies=cookies, checks=CHECKS)

    run()
