"""The Cisco-compatible layer's shared parts: path normalising, lenient values, the error envelope."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import RequestFactory

from config.cssm.base import as_bool, as_int, cisco_bool, iso_z
from config.cssm.middleware import CssmPathMiddleware

BASE = "/services/api/smart-accounts-and-licensing/v2/accounts"


@pytest.mark.parametrize(
    "path",
    [
        BASE,
        "/" + BASE,
        "///" + BASE.lstrip("/"),
        "/services/api" + BASE,
        "//services/api" + BASE,
    ],
)
def test_doubled_slashes_and_prefixes_reach_the_single_prefix(path):
    seen = {}

    def view(request):
        seen["path_info"], seen["path"] = request.path_info, request.path
        return None

    # Set PATH_INFO as a server does: the test client would read `//services` as a host name.
    CssmPathMiddleware(view)(RequestFactory().get("/", PATH_INFO=path))
    assert seen == {"path_info": BASE, "path": BASE}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("//as/token.oauth2", "/as/token.oauth2"),
        ("///oauth2/default/v1/token", "/oauth2/default/v1/token"),
        ("//v1/software/apis/pnp/v2/accounts", "/v1/software/apis/pnp/v2/accounts"),
    ],
)
def test_leading_slashes_on_the_other_cisco_entry_points_are_collapsed(path, expected):
    seen = {}
    CssmPathMiddleware(lambda r: seen.setdefault("p", (r.path_info, r.path)))(RequestFactory().get("/", PATH_INFO=path))
    assert seen["p"] == (expected, expected)


def test_other_paths_are_left_alone():
    seen = {}
    request = RequestFactory().get("/", PATH_INFO="//accounts/1/")
    CssmPathMiddleware(lambda r: seen.setdefault("p", r.path_info))(request)
    assert seen["p"] == "//accounts/1/"


@pytest.mark.parametrize(("value", "number"), [(1, 1), ("1", 1), (" 10 ", 10), (2.0, 2), ("3.0", 3)])
def test_as_int_takes_numbers_and_numeric_strings(value, number):
    assert as_int(value, "quantity") == number


# Odd unicode digits ("١٢" is 12 to Python's int) and numbers past the largest bigint are refused.
@pytest.mark.parametrize("value", [None, True, "one", 1.5, "1.5", [], {}, "١٢", "１２", 2**63, str(2**64), 1e30])
def test_as_int_refuses_the_rest_naming_the_field(value):
    with pytest.raises(ValidationError) as error:
        as_int(value, "quantity")
    assert "quantity" in error.value.message_dict


def test_as_int_bounds():
    with pytest.raises(ValidationError, match="at least 1"):
        as_int("0", "quantity", minimum=1)


@pytest.mark.parametrize(("value", "result"), [(True, True), ("true", True), ("Allowed", True), ("Not Allowed", False)])
def test_as_bool(value, result):
    assert as_bool(value, "exportControlled") is result


def test_as_bool_refuses_nonsense():
    with pytest.raises(ValidationError):
        as_bool("maybe", "exportControlled")


def test_cisco_values():
    import datetime as dt

    assert cisco_bool(True) == "true" and cisco_bool(False) == "false"
    assert iso_z(dt.datetime(2023, 1, 1, 12, 30, 5, 999, tzinfo=dt.UTC)) == "2023-01-01T12:30:05Z"
    assert iso_z(dt.date(2023, 1, 1)) == "2023-01-01T00:00:00Z"
    assert iso_z(None) is None
