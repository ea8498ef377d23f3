"""Documents built to break ingestion: a UDI with a final newline, NUL and lone surrogates in text, times
at the ends of the calendar. Each is refused on its own, with a code, on every path (device endpoint, batch,
change notice, upload page, `ingest_usage`), and never stops the good reports beside it."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from licensing.identifiers import TAG_PATTERN, TEXT_PATTERN, UDI_PART_PATTERN, udi_part
from licensing.models import ProductInstance
from policy import formats
from policy.formats import sign_with_trust_code
from policy.models import Change, UsageReport, UsageUpload
from tests.factories import default_va

from .helpers import T0, TRUST, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db
REPORTS, NOTICES = "/api/v1/usage/reports/", "/api/v1/usage/change-notices/"


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def device(account, lic):
    return make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)


def post(client, url, body):
    return client.post(url, json.dumps(body), content_type="application/json")


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:400]
    body = response.json()
    assert body["code"] == code and set(body) == {"code", "detail", "fields"}, body
    return body


def resign(document: dict, trust_code: str = TRUST) -> dict:
    try:
        return sign_with_trust_code(document, trust_code)
    except UnicodeEncodeError:  # a lone surrogate has no UTF-8: no device can sign it
        return {**document, "signature": "0" * 64}


def upload(client, account, documents, *, va=None):
    client.force_login(account.created_by)
    file = SimpleUploadedFile("usage.json", json.dumps(documents).encode(), content_type="application/json")
    response = client.post(
        reverse("policy_usage_upload", kwargs={"account_id": account.pk}),
        {"virtual_account": (va or default_va(account)).pk, "file": file},
    )
    assert response.status_code in (200, 302), response.content[:300]
    return response


# --- One UDI, one instance: identifiers are matched whole -------------------------------------------------


def test_the_schemas_udi_tag_and_text_patterns_are_the_portals_identifier_rules():
    schema = json.loads(formats.schema_text())["$defs"]
    assert schema["udi"]["properties"]["pid"]["pattern"] == f"^{UDI_PART_PATTERN}$"
    assert schema["udi"]["properties"]["serial_number"]["pattern"] == f"^{UDI_PART_PATTERN}$"
    assert schema["tag"]["pattern"] == f"^{TAG_PATTERN}$" and schema["text"]["pattern"] == f"^{TEXT_PATTERN}$"


@pytest.mark.parametrize("serial", ["FOC24100001\n", "FOC24100001\r\n", " FOC24100001", "FOC24100001\x00"])
def test_a_serial_number_with_a_final_newline_or_space_is_not_a_udi(client, device, lic, serial):
    body = report(device, generated_at=timezone.now(), usage={lic: 1}, serial_number=serial)
    answer = refusal(post(client, REPORTS, body), 400, "schema")
    assert "$.udi.serial_number" in answer["detail"]
    changed = notice(device, changes=[upgrade(timezone.now())], generated_at=timezone.now())
    changed["udi"]["serial_number"] = serial
    refusal(post(client, NOTICES, resign(changed)), 400, "schema")


def test_an_upload_cannot_make_a_second_udi_beside_another_tenants_device(client, account, other_account, lic):
    theirs = make_instance(default_va(other_account), usage={lic: 1}, serial_number="FOC24100001", first_use_at=T0)
    now = timezone.now()
    documents = [
        report(None, generated_at=now, usage={lic: 5}, pid=theirs.pid, serial_number="FOC24100001\n"),
        report(None, generated_at=now, usage={lic: 5}, pid=theirs.pid, serial_number="foc24100001"),
    ]
    upload(client, account, documents)
    results = UsageUpload.objects.get().results
    assert [(r["status"], r.get("reason")) for r in results] == [("refused", "schema"), ("refused", "other_account")]
    assert list(ProductInstance.objects.values_list("serial_number", flat=True)) == ["FOC24100001"]
    assert results[0]["udi"] == f"PID:{theirs.pid} SN:FOC24100001\ufffd"  # shown, never stored as a UDI


def test_ingest_usage_refuses_a_udi_with_a_final_newline(account, lic, tmp_path):
    path = tmp_path / "usage.json"
    document = report(None, generated_at=timezone.now(), usage={lic: 1}, pid="IR1101", serial_number="FCW1\n")
    path.write_text(json.dumps(document))
    err = StringIO()
    with pytest.raises(SystemExit):
        call_command("ingest_usage", str(path), "--virtual-account", str(default_va(account).pk), stderr=err,
                     stdout=StringIO(), no_progress=True)  # fmt: skip
    assert "[schema]" in err.getvalue() and not ProductInstance.objects.exists()


def test_lower_case_is_the_same_udi_on_every_path(client, device, lic):
    body = report(device, generated_at=timezone.now(), usage={lic: 2}, serial_number=device.serial_number.lower())
    assert post(client, REPORTS, body).status_code == 200
    assert ProductInstance.objects.count() == 1 and UsageReport.objects.get().product_instance == device


@pytest.mark.parametrize("value", ["FOC1\n", "foc1", "FOC 1", "", "ıOS1", "FOC1\x00", "-FOC1"])
def test_the_database_keeps_one_spelling_of_a_udi(account, value):
    # (psycopg refuses a NUL before PostgreSQL sees it: ValueError.)
    expected = ValueError if "\x00" in value and connection.vendor == "postgresql" else IntegrityError
    with pytest.raises(expected), transaction.atomic():
        ProductInstance.objects.create(
            smart_account=account, virtual_account=default_va(account), pid="C9300-48P", serial_number=value
        )


def test_a_udi_part_is_checked_before_it_is_upper_cased():
    assert udi_part("foc1") == "FOC1" and udi_part("C9300-48P") == "C9300-48P"
    for odd in ("ıos1", "ßerial", "ﬁ1", "FOC1\n", "FOC1 ", "x" * 65, "", None, 5):
        assert udi_part(odd) is None, odd


# --- Text a device chooses: no NUL, no control characters, no lone surrogates -----------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("hostname", "sw\x00lab"),
        ("hostname", "sw-lab\n"),
        ("hostname", "sw\ud800"),
        ("software_version", "17.9\x00"),
        ("software_version", "\udfff"),
    ],
)
def test_control_characters_and_lone_surrogates_in_text_are_refused(client, device, lic, field, value):
    body = report(device, generated_at=timezone.now(), usage={lic: 2})
    body[field] = value
    answer = refusal(post(client, REPORTS, resign(body)), 400, "schema")
    assert f"$.{field}" in answer["detail"]
    assert not UsageReport.objects.exists()


@pytest.mark.parametrize("tag", ["regid\x00", "regid.x\n", "\ud83d", "two words", ""])
def test_an_entitlement_tag_that_cannot_be_one_is_refused_as_malformed(client, device, lic, tag):
    body = report(device, generated_at=timezone.now(), usage={lic: 2})
    body["measurements"][0]["entitlement_tag"] = tag
    refusal(post(client, REPORTS, resign(body)), 400, "schema")
    changed = notice(device, changes=[upgrade(timezone.now())], generated_at=timezone.now())
    changed["changes"] = [
        {"type": "feature_change", "at": changed["generated_at"], "entitlement_tag": tag, "from_count": 0,
         "to_count": 1}
    ]  # fmt: skip
    refusal(post(client, NOTICES, resign(changed)), 400, "schema")


def test_a_version_in_an_event_with_a_nul_is_refused(client, device, lic):
    body = report(device, generated_at=timezone.now(), usage={lic: 2}, events=[upgrade(T0, to_version="17\x00")])
    refusal(post(client, REPORTS, resign(body)), 400, "schema")
    changed = notice(device, changes=[upgrade(T0)], generated_at=timezone.now())
    changed["changes"][0]["from_version"] = "\ud800"
    refusal(post(client, NOTICES, resign(changed)), 400, "schema")


# --- Times at the ends of the calendar --------------------------------------------------------------------

EDGES = ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"]


@pytest.mark.parametrize("value", EDGES)
@pytest.mark.parametrize("where", ["generated_at", "start", "end", "event"])
def test_times_outside_the_accepted_range_are_refused_not_a_crash(client, device, lic, value, where):
    body = report(device, generated_at=timezone.now(), usage={lic: 2}, events=[upgrade(timezone.now())])
    if where == "generated_at":
        body["generated_at"] = value
    elif where == "event":
        body["events"][0]["at"] = value
    else:
        body["measurements"][0][where] = value
    answer = refusal(post(client, REPORTS, resign(body)), 400, "time_out_of_range")
    assert value in answer["detail"]


@pytest.mark.parametrize("value", EDGES)
def test_a_change_notice_with_a_time_outside_the_range_is_refused(client, device, value):
    body = notice(device, changes=[upgrade(timezone.now())], generated_at=timezone.now())
    body["generated_at"] = value
    refusal(post(client, NOTICES, resign(body)), 400, "time_out_of_range")
    body = notice(device, changes=[upgrade(timezone.now())], generated_at=timezone.now())
    body["changes"][0]["at"] = value
    refusal(post(client, NOTICES, resign(body)), 400, "time_out_of_range")
    assert not Change.objects.exists()


# --- A refused report does not stop the others -----------------------------------------------------------


def _poisoned(device, lic, kind: str) -> dict:
    body = report(device, generated_at=timezone.now() - timedelta(minutes=1), usage={lic: 7})
    if kind == "old_time":
        body["generated_at"] = "0001-01-01T00:00:00+01:00"
    elif kind == "late_time":
        body["measurements"][0]["end"] = "9999-12-31T23:59:59-01:00"
    elif kind == "nul_hostname":
        body["hostname"] = "sw\x00"
    elif kind == "nul_tag":
        body["measurements"][0]["entitlement_tag"] = "regid\x00"
    elif kind == "surrogate_id":
        body["report_id"] = "\ud800" * 3
    elif kind == "deep":
        body["hostname"] = [[[[[[[[[["x"]]]]]]]]]]
    elif kind == "huge_count":
        body["measurements"][0]["count"] = 2**70
    return resign(body)


KINDS = ["old_time", "late_time", "nul_hostname", "nul_tag", "surrogate_id", "deep", "huge_count"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_batch_stores_its_good_report_beside_a_malformed_one(client, account, device, lic, kind):
    other = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    good = report(other, generated_at=timezone.now(), usage={lic: 3})
    response = post(client, REPORTS, [_poisoned(device, lic, kind), good])
    assert response.status_code == 200, response.content[:400]
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["refused", "accepted"]
    assert results[0]["code"] in ("schema", "time_out_of_range") and results[0]["detail"]
    assert results[1]["report_id"] == good["report_id"]
    assert str(UsageReport.objects.get().report_id) == good["report_id"]


@pytest.mark.parametrize("kind", KINDS)
def test_an_upload_stores_its_good_report_beside_a_malformed_one(client, account, device, lic, kind):
    other = make_instance(default_va(account), usage={lic: 1}, first_use_at=T0)
    good = report(other, generated_at=timezone.now(), usage={lic: 3})
    bad = {k: v for k, v in _poisoned(device, lic, kind).items() if k != "signature"}
    upload(client, account, [bad, good])
    record = UsageUpload.objects.get()
    assert (record.accepted_count, record.refused_count) == (1, 1)
    assert [r["status"] for r in record.results] == ["refused", "accepted"]
    assert str(UsageReport.objects.get().report_id) == good["report_id"]
    for row in record.results:  # what is stored of a refused document is printable
        assert not re.search("[\x00-\x1f\ud800-\udfff]", row["report_id"] + row["udi"] + row["message"])


def test_a_batch_stores_its_good_report_beside_one_nested_100000_deep(client, account, lic):
    other = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    good = report(other, generated_at=timezone.now(), usage={lic: 3})
    deep = "[" * 100_000 + "]" * 100_000
    for body in (f"[{deep}, {json.dumps(good)}]", f'{{"reports": [{{"hostname": {deep}}}, {json.dumps(good)}]}}'):
        response = client.post(REPORTS, body, content_type="application/json")
        assert response.status_code == 200, response.content[:300]
        results = response.json()["results"]
        assert [(r["status"], r.get("code")) for r in results] in (
            [("refused", "too_deep"), ("accepted", None)],
            [("refused", "too_deep"), ("already received", None)],
        )
    assert str(UsageReport.objects.get().report_id) == good["report_id"]


def test_an_upload_refuses_a_report_nested_too_deep_and_keeps_the_others(client, account, lic):
    device = make_instance(default_va(account), usage={lic: 1}, first_use_at=T0)
    good = json.dumps(report(device, generated_at=timezone.now(), usage={lic: 2}))
    client.force_login(account.created_by)
    deep = "[" * 100_000 + "]" * 100_000
    for content in (f"[{deep}, {good}]", f'{{"hostname": {deep}}}\n{good}\n'):
        file = SimpleUploadedFile("usage.json", content.encode(), content_type="application/json")
        response = client.post(
            reverse("policy_usage_upload", kwargs={"account_id": account.pk}),
            {"virtual_account": default_va(account).pk, "file": file},
        )
        assert response.status_code == 302, response.content[:300]
    for upload in UsageUpload.objects.all():
        assert [(r["status"], r.get("reason")) for r in upload.results][0] == ("refused", "too_deep")
        assert upload.results[1]["status"] in ("accepted", "already received")
    assert UsageReport.objects.count() == 1


def test_a_file_deeper_than_any_reader_would_go_is_an_error_on_the_form(client, account):
    client.force_login(account.created_by)
    file = SimpleUploadedFile("usage.json", b"[" * 1_200_000 + b"]" * 1_200_000, content_type="application/json")
    response = client.post(
        reverse("policy_usage_upload", kwargs={"account_id": account.pk}),
        {"virtual_account": default_va(account).pk, "file": file},
    )
    assert response.status_code == 200 and "levels deep" in response.content.decode()
    assert not UsageUpload.objects.exists()


def test_an_uploaded_file_name_is_stored_printable(account, lic):
    from policy.services import upload_usage_file

    device = make_instance(default_va(account), usage={lic: 1}, first_use_at=T0)
    content = json.dumps(report(device, generated_at=timezone.now(), usage={lic: 2})).encode()
    upload = upload_usage_file(
        actor=account.created_by, virtual_account=default_va(account), file_name="site\x00\ud800.json", content=content
    )
    assert upload.file_name == "site\ufffd\ufffd.json" and upload.accepted_count == 1
