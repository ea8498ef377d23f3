"""Every error of the JSON API is JSON in one shape, {"code", "detail", "fields"}: malformed bodies, bodies
too large, wrong methods and media types, unknown addresses and crashes alike."""

import json
import logging

import pytest
from django.conf import settings
from django.test import Client

from config.jsondoc import MAX_DEPTH, DocumentError, load_json, nesting_exceeds

pytestmark = pytest.mark.django_db

REGISTER, REPORTS, NOTICES = "/api/v1/devices/register/", "/api/v1/usage/reports/", "/api/v1/usage/change-notices/"
ENDPOINTS = [REGISTER, REPORTS, NOTICES]


@pytest.fixture
def client():
    # No exception may escape as a server error page: the test client would re-raise it.
    return Client(enforce_csrf_checks=True)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "detail", "fields"} and body["code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"] and isinstance(body["fields"], dict)
    return body


@pytest.mark.parametrize("url", ENDPOINTS)
def test_json_nested_100000_deep_is_a_json_400_not_a_crash(client, url):
    nested_object = '{"a":' * 100_000 + "1" + "}" * 100_000
    body = error(client.post(url, nested_object, content_type="application/json"), 400, "too_deep")
    assert f"more than {MAX_DEPTH} levels" in body["detail"]
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post(url, deep, content_type="application/json")
    if url == REPORTS:  # an array is a batch: its one report is refused
        assert response.status_code == 200
        assert [(r["status"], r["code"]) for r in response.json()["results"]] == [("refused", "too_deep")]
    else:
        error(response, 400, "too_deep")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_json_nested_past_the_limit_but_within_pythons_recursion_is_refused_too(client, url):
    # A few hundred levels parse, and would then break the next recursive step (validation, repr).
    inner = "[" * 600 + "]" * 600
    document = {"token": "x", "pid": "P", "serial_number": "S", "hostname": json.loads(inner), "usage": None}
    error(client.post(url, json.dumps(document), content_type="application/json"), 400, "too_deep")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_a_body_over_the_upload_limit_is_a_json_413(client, url):
    body = json.dumps({"reports": ["x" * 1000] * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // 1000 + 10)})
    answer = error(client.post(url, body, content_type="application/json"), 413, "too_large")
    assert f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes" in answer["detail"]


@pytest.mark.parametrize("url", ENDPOINTS)
@pytest.mark.parametrize(
    "text", ["{not json", '{"a": NaN}', '{"a": Infinity}', "[1, 2", "\ufeff{}", "1" * 5000], ids=str.__len__
)
def test_what_is_not_json_is_a_json_parse_error(client, url, text):
    body = error(client.post(url, text, content_type="application/json"), 400, "parse_error")
    assert "JSON" in body["detail"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_bytes_that_are_not_utf8_are_a_parse_error(client, url):
    error(client.post(url, b'{"a": "\xff\xfe"}', content_type="application/json"), 400, "parse_error")


@pytest.mark.parametrize("url", ENDPOINTS)
def test_other_media_types_and_methods_answer_in_the_same_shape(client, url):
    error(client.post(url, "token=x", content_type="application/x-www-form-urlencoded"), 415, "unsupported_media_type")
    error(client.get(url), 405, "method_not_allowed")


def test_an_unknown_api_address_is_a_json_404_and_other_pages_keep_theirs(client):
    error(client.get("/api/v1/devices/registr/"), 404, "not_found")
    page = client.get("/no-such-page/")
    assert page.status_code == 404 and not page["Content-Type"].startswith("application/json")


def test_an_unexpected_crash_is_a_json_500_and_its_traceback_is_logged(client, monkeypatch, caplog):
    import policy.api.views

    def crash(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(policy.api.views, "record_change_notice", crash)
    client.raise_request_exception = False
    with caplog.at_level(logging.ERROR, logger="django.request"):
        body = error(client.post(NOTICES, "{}", content_type="application/json"), 500, "server_error")
    assert "a bug" not in body["detail"]
    (record,) = [r for r in caplog.records if r.name == "django.request"]
    assert record.exc_info and record.exc_info[1].args == ("a bug",)


def test_a_service_refusal_keeps_its_code_and_its_fields(client, account):
    from tests.factories import default_va
    from tests.licensing.helpers import token_for

    token = token_for(default_va(account))
    body = error(
        client.post(
            REGISTER,
            json.dumps({"token": token.token, "pid": "P", "serial_number": "S", "usage": {"regid.nope": 1}}),
            content_type="application/json",
        ),
        400,
        "unknown_license",
    )
    assert "regid.nope" in body["fields"]["usage"][0]


def test_load_json_bounds_nesting_without_recursion():
    assert not nesting_exceeds({"reports": [{"measurements": [{"count": 1}]}]}, 5)
    assert nesting_exceeds({"reports": [{"measurements": [{"count": [1]}]}]}, 5)
    assert load_json(b'{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    with pytest.raises(DocumentError) as raised:
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    assert raised.value.code == "too_deep"
    load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH)
