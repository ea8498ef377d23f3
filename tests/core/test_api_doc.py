"""docs/api.md names only paths that exist, with methods their views answer, and names every `/api/v1/` route.

The endpoint tables are the rows starting with a method (`| GET | path | ...`); their paths are read from the
inline code of the path cell: native paths (`/api/v1/...`, the token endpoints, the
schema and docs pages), the Software APIs (`/v1/software/apis/...`) and the Cisco-compatible operations,
written relative to their base (`v1/...`, `v2/...`, `v3/...`). Placeholders (`{account_id}`, `{domain}`, ...)
are filled with sample values and the path is resolved through the project's URLconf."""

import re
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404

from tests.conftest import REPO

DOC = REPO / "docs" / "api.md"
CSSM_BASE = "/services/api/smart-accounts-and-licensing/"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
CODE = re.compile(r"`([^`]+)`")
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
SAMPLES = {"domain": "acme.example.com", "va_name": quote("Data Center"), "account_type": "customer"}


def table_rows():
    """(line number, cells) of every table row outside fenced code, header and rule rows left out."""
    fenced = False
    for number, line in enumerate(DOC.read_text().splitlines(), start=1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced or not line.startswith("|") or re.match(r"\|[\s|:-]+\|$", line):
            continue
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        yield number, cells


def as_url(code: str) -> str | None:
    """The request path a code span names, or None when it names no path."""
    if code.startswith(("/api/", "/as/", "/oauth2/", "/v1/software/apis/", CSSM_BASE)):
        path = code
    elif re.match(r"v[123]/", code):
        path = CSSM_BASE + code
    else:
        return None
    return PLACEHOLDER.sub(lambda m: SAMPLES.get(m.group(1), "1"), path)


def documented():
    """(line, method, code, url) for every path in the document's endpoint tables."""
    for number, cells in table_rows():
        if len(cells) < 2 or cells[0] not in METHODS:
            continue
        for code in CODE.findall(cells[1]):
            url = as_url(code)
            assert url is not None, f"docs/api.md:{number}: {code} is not a path this test knows how to check"
            yield number, cells[0], code, url


def routes(patterns=None, prefix=""):
    """(route text, pattern) of every path() route of the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from routes(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def as_doc_path(route: str) -> str:
    """`api/v1/accounts/<id:account_id>/` → `/api/v1/accounts/{account_id}/`, as the document writes it."""
    return "/" + re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", route)


def view_methods(match) -> set[str]:
    view = getattr(match.func, "view_class", None) or getattr(match.func, "cls", None)
    initkwargs = getattr(match.func, "view_initkwargs", None) or getattr(match.func, "initkwargs", None) or {}
    names = initkwargs.get("http_method_names", view.http_method_names)
    return {name.upper() for name in names if hasattr(view, name)}


def test_the_document_lists_paths():
    found = list(documented())
    assert len([f for f in found if f[2].startswith("/api/v1/")]) >= 60
    assert len([f for f in found if re.match(r"v[123]/", f[2])]) >= 20


DOCUMENTED = [pytest.param(*found, id=f"{found[0]}:{found[1]} {found[2]}") for found in documented()]


@pytest.mark.parametrize(("line", "method", "code", "url"), DOCUMENTED)
def test_every_documented_path_resolves_and_answers_its_method(line, method, code, url):
    try:
        match = resolve(url)
    except Resolver404:
        match = None
    assert match is not None, f"docs/api.md:{line}: {code} ({url}) is not a path of the portal"
    assert method in view_methods(match), f"docs/api.md:{line}: {match.url_name} does not answer {method}"


def test_every_api_v1_route_and_method_is_in_the_document():
    pairs = {(method, code) for _, method, code, _ in documented()}
    paths = {code for _, code in pairs}
    missing = []
    for route, pattern in routes():
        if not route.startswith("api/v1/"):
            continue
        path = as_doc_path(route)
        if path not in paths:
            missing.append(path)
            continue
        view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
        for method in sorted(m.upper() for m in view.http_method_names if hasattr(view, m)):
            if method in METHODS and (method, path) not in pairs:
                missing.append(f"{method} {path}")
    assert not missing, f"docs/api.md does not document: {missing}"


def test_the_checks_fail_on_a_wrong_path():
    url = as_url("v1/accounts/{domain}/virtual-accounts/{va_name}/tokens")
    assert url == CSSM_BASE + "v1/accounts/acme.example.com/virtual-accounts/Data%20Center/tokens"
    with pytest.raises(Resolver404):
        resolve(as_url("/api/v1/accounts/{account_id}/no-such-thing/"))
    assert as_doc_path("api/v1/accounts/<id:account_id>/events.csv") == "/api/v1/accounts/{account_id}/events.csv"
