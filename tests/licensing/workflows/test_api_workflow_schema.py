"""The OpenAPI document describes the request and answer bodies of the hand-over, PAK, reservation, usage
report and alert endpoints (what schemathesis and client generators read)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

pytestmark = pytest.mark.django_db

ACCOUNT = "/api/v1/accounts/{account_id}/"

# (path, method, request component or None, status of the answer, answer component)
DOCUMENTED = [
    ("hand-overs/", "post", "HandOverCreate", "201", "HandOverDetail"),
    ("hand-overs/{hand_over_id}/accept/", "post", "Accept", "200", "HandOverDetail"),
    ("hand-overs/{hand_over_id}/decline/", "post", "Decline", "200", "HandOverDetail"),
    ("hand-overs/{hand_over_id}/cancel/", "post", None, "200", "HandOverDetail"),
    ("paks/", "post", "Claim", "201", "PakDetail"),
    ("paks/{pak_id}/convert/", "post", "Convert", "200", "PakDetail"),
    ("reservations/", "post", "ReservationCreate", "201", "ReservationDetail"),
    ("reservations/{reservation_id}/update/", "post", "ReservationUpdate", "200", "ReservationDetail"),
    ("reservations/{reservation_id}/release/", "post", "Release", "200", "ReservationDetail"),
    ("reservations/{reservation_id}/rehost/", "post", "Rehost", "201", "ReservationDetail"),
    ("usage-reports/", "post", "Upload", "201", "UploadAnswer"),
    ("usage-reports/{report_id}/", "get", None, "200", "UsageReportDetail"),
    ("alerts/", "get", None, "200", "AlertPage"),
]
LISTS = ["hand-overs/", "paks/", "reservations/", "usage-reports/"]


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _ref(content: dict) -> str:
    return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]


@pytest.mark.parametrize("path, method, request_body, status, answer", DOCUMENTED)
def test_each_operation_documents_its_bodies(schema, path, method, request_body, status, answer):
    operation = schema["paths"][ACCOUNT + path][method]
    if request_body is None:
        assert "requestBody" not in operation
    else:
        assert _ref(operation["requestBody"]["content"]) == request_body
    assert _ref(operation["responses"][status]["content"]) == answer


@pytest.mark.parametrize("path", LISTS)
def test_each_list_documents_its_cursor_pages(schema, path):
    operation = schema["paths"][ACCOUNT + path]["get"]
    assert "cursor" in {parameter["name"] for parameter in operation["parameters"]}
    assert _ref(operation["responses"]["200"]["content"]).startswith("Paginated")
