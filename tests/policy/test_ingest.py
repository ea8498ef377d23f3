"""`ingest_usage_report`: what an accepted report records, the signed ACK, replays, and every refusal."""

import copy
import json
import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from licensing.models import LicenseBalance, ProductInstance, ProductInstanceUsage
from policy import signing
from policy.formats import Refusal, canonical_bytes, sign_with_trust_code
from policy.models import Acknowledgement, Alert, Change, UsageMeasurement, UsageReport
from policy.services import ack_is_authentic, ingest_usage_report, record_change_notice, upload_usage_file
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import T0, TRUST, Clock, feature_change, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db
D = timedelta(days=1)
NOW = T0 + 200 * D


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, NOW)


@pytest.fixture
def lic(db):
    return make_license()


@pytest.fixture
def va(account):
    return default_va(account)


@pytest.fixture
def device(va, lic):
    """A registered device with a trust code, using one license since T0."""
    return make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0, software_version="17.9.4")


def in_use(va, license):
    return LicenseBalance.objects.get(virtual_account=va, license=license).in_use


def refusal(payload, **kwargs) -> Refusal:
    kwargs.setdefault("source", "device")
    counts = (UsageReport.objects.count(), Event.objects.count(), UsageMeasurement.objects.count())
    with pytest.raises(Refusal) as caught:
        ingest_usage_report(payload=payload, **kwargs)
    assert (UsageReport.objects.count(), Event.objects.count(), UsageMeasurement.objects.count()) == counts
    return caught.value


# --- Accepted reports ------------------------------------------------------------------------------


def test_an_accepted_report_records_measurements_usage_software_and_last_report(clock, va, device, lic):
    second = make_license(license_type="subscription")
    generated = NOW - timedelta(minutes=3)
    payload = report(
        device,
        generated_at=generated,
        usage={lic: 3, second: 2},
        hostname="core-sw-01.acme.example.com",
        software_version="17.12.1",
    )
    ack = ingest_usage_report(payload=payload, source="device")

    device.refresh_from_db()
    assert device.last_report_at == generated
    assert device.last_report_received_at == NOW
    assert device.last_contact_at == NOW
    assert device.software_version == "17.12.1"
    assert device.hostname == "core-sw-01.acme.example.com"
    assert dict(ProductInstanceUsage.objects.filter(product_instance=device).values_list("license_id", "count")) == {
        lic.pk: 3,
        second.pk: 2,
    }
    assert in_use(va, lic) == 3 and in_use(va, second) == 2  # the ledger moved the balances
    stored = UsageReport.objects.get(report_id=payload["report_id"])
    assert stored.signed and stored.source == "device" and stored.acknowledgement == ack
    assert sorted(stored.measurements.values_list("count", flat=True)) == [2, 3]
    assert device.next_due_at == generated + 365 * D
    event = Event.objects.get(action="usage.report_accepted")
    assert event.smart_account_id == device.smart_account_id and event.virtual_account_id == va.pk
    assert event.details["report_id"] == payload["report_id"]


def test_the_ack_is_signed_by_the_portal_and_names_report_policy_deadline_and_instance(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    ack = ingest_usage_report(payload=payload, source="device")
    document = ack.document
    assert document["acknowledged_report_ids"] == [payload["report_id"]]
    assert document["policy"] == {"name": "Default", "version": 1}
    assert document["next_report_due"] == (NOW + 365 * D).isoformat().replace("+00:00", "Z")
    assert document["udi"] == {"pid": device.pid, "serial_number": device.serial_number}
    assert document["ack_id"] == str(ack.ack_id)
    assert document["issued_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert ack.policy_version.policy.name == "Default"
    # Anyone can check it with the published public key; a changed ACK fails.
    assert ack_is_authentic(document, signing.public_key_pem())
    assert signing.verify(canonical_bytes(document), document["signature"], signing.public_key_pem())
    forged = {**document, "next_report_due": "2099-01-01T00:00:00Z"}
    assert not ack_is_authentic(forged, signing.public_key_pem())


def test_a_replayed_report_returns_the_same_ack_and_applies_nothing_twice(clock, va, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 4}, events=[upgrade(NOW - D)])
    first = ingest_usage_report(payload=payload, source="device")
    counts = [m.objects.count() for m in (UsageReport, UsageMeasurement, Change, Acknowledgement, Event, Alert)]
    clock.advance(hours=3)
    again = ingest_usage_report(payload=copy.deepcopy(payload), source="device")
    assert again.pk == first.pk and again.document == first.document
    assert [m.objects.count() for m in (UsageReport, UsageMeasurement, Change, Acknowledgement, Event, Alert)] == counts
    assert in_use(va, lic) == 4
    device.refresh_from_db()
    assert device.last_report_received_at == NOW  # not touched by the replay


def test_a_different_report_under_a_used_id_is_refused(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    ingest_usage_report(payload=payload, source="device")
    other = report(device, generated_at=NOW, usage={lic: 2}, report_id=payload["report_id"])
    error = refusal(other)
    assert error.reason == "duplicate_id"
    assert "already used by a different report" in error.message


# --- Refusals: each reason, its own message, nothing written ----------------------------------------


def test_a_schema_error_is_refused_with_its_json_path(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["measurements"][0]["count"] = -1
    error = refusal(sign_with_trust_code(payload, TRUST))
    assert error.reason == "schema"
    assert "$.measurements[0].count" in error.message and "minimum" in error.message


def test_a_missing_field_and_a_bad_time_are_schema_errors_naming_where(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    del payload["generated_at"]
    assert "'generated_at' is a required property" in refusal(payload).message
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["measurements"][0]["end"] = "2026-13-45T00:00:00Z"
    error = refusal(payload)
    assert error.reason == "schema" and "$.measurements[0].end" in error.message
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["measurements"][0]["start"], payload["measurements"][0]["end"] = (
        payload["measurements"][0]["end"],
        payload["measurements"][0]["start"],
    )
    assert "ends before it starts" in refusal(payload).message
    assert refusal(["not", "an", "object"]).reason == "schema"


def test_a_report_without_signature_from_an_instance_with_a_trust_code_is_refused(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    del payload["signature"]
    error = refusal(
        payload, source="upload", actor=device.smart_account.created_by, virtual_account=device.virtual_account
    )
    assert error.reason == "signature_missing"
    assert "not signed" in error.message


def test_a_report_signed_with_another_key_is_refused(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1}, trust_code="0" * 64)
    error = refusal(payload)
    assert error.reason == "signature_invalid"
    assert "signature does not match" in error.message


def test_a_tampered_report_is_refused(clock, va, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["measurements"][0]["count"] = 0  # changed after signing: fewer licenses in use
    error = refusal(payload)
    assert error.reason == "signature_invalid"
    assert in_use(va, lic) == 1


def test_unknown_entitlement_tags_are_refused(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["measurements"].append(dict(payload["measurements"][0], entitlement_tag="regid.2099-01.com.example.NOPE"))
    error = refusal(sign_with_trust_code(payload, TRUST))
    assert error.reason == "unknown_tags"
    assert "regid.2099-01.com.example.NOPE" in error.message


def test_times_more_than_five_minutes_ahead_are_refused(clock, device, lic):
    error = refusal(report(device, generated_at=NOW + timedelta(minutes=5, seconds=1), usage={lic: 1}))
    assert error.reason == "future_time"
    assert "$.generated_at" in error.message and "more than 5 minutes ahead" in error.message
    payload = report(device, generated_at=NOW, usage={lic: 1}, events=[upgrade(NOW + timedelta(minutes=6))])
    assert "$.events[0].at" in refusal(payload).message


def test_a_report_exactly_five_minutes_ahead_is_accepted(clock, device, lic):
    ack = ingest_usage_report(
        payload=report(device, generated_at=NOW + timedelta(minutes=5), usage={lic: 1}), source="device"
    )
    assert ack.report.generated_at == NOW + timedelta(minutes=5)


def test_a_report_older_than_the_last_accepted_one_is_refused(clock, device, lic):
    ingest_usage_report(payload=report(device, generated_at=NOW - D, usage={lic: 1}), source="device")
    error = refusal(report(device, generated_at=NOW - 2 * D, usage={lic: 1}))
    assert error.reason == "out_of_date"
    assert "before the last accepted report" in error.message
    # The same generation time is not older: accepted.
    ingest_usage_report(payload=report(device, generated_at=NOW - D, usage={lic: 2}), source="device")


def test_an_instance_in_a_partner_holding_account_is_refused(clock, lic):
    partner = make_account(kind="partner_holding", domain="partner.example.net")
    instance = make_instance(default_va(partner), trust_code=TRUST, first_use_at=T0)
    error = refusal(report(instance, generated_at=NOW, usage={lic: 1}))
    assert error.reason == "partner_holding"
    assert "Partner Holding" in error.message


def test_an_upload_into_a_partner_holding_account_is_refused(clock, lic):
    partner = make_account(kind="partner_holding", domain="partner.example.net")
    document = report(None, generated_at=NOW, usage={lic: 1}, pid="C9300-24T", serial_number="NEWDEV1")
    with pytest.raises(ValidationError, match="Partner Holding"):
        upload_usage_file(
            actor=partner.created_by,
            virtual_account=default_va(partner),
            file_name="u.json",
            content=json.dumps(document).encode(),
        )
    assert not ProductInstance.objects.filter(serial_number="NEWDEV1").exists()


def test_a_reserved_instance_does_not_report(clock, va, lic):
    instance = make_instance(va, trust_code=TRUST, status=ProductInstance.Status.RESERVED)
    assert refusal(report(instance, generated_at=NOW, usage={lic: 1})).reason == "reserved"


def test_the_device_endpoint_needs_a_trust_code_and_a_registered_instance(clock, va, lic):
    unsigned = make_instance(va, usage={lic: 1})
    error = refusal(report(unsigned, generated_at=NOW, usage={lic: 1}))
    assert error.reason == "no_trust_code"
    error = refusal(
        report(None, generated_at=NOW, usage={lic: 1}, pid="C9300-24T", serial_number="NEVERSEEN", trust_code=TRUST)
    )
    assert error.reason == "unknown_instance"


def test_a_device_can_never_report_for_another_accounts_instance(clock, account, other_account, lic):
    mine = make_instance(default_va(account), usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    theirs = make_instance(default_va(other_account), usage={lic: 1}, trust_code="b" * 64, first_use_at=T0)
    # The other account's device names my instance's UDI and signs with its own trust code.
    forged = report(mine, generated_at=NOW, usage={lic: 0}, trust_code=theirs.trust_code)
    assert refusal(forged).reason == "signature_invalid"
    mine.refresh_from_db()
    assert mine.last_report_at is None
    assert ProductInstanceUsage.objects.get(product_instance=mine).count == 1


# --- Offline uploads -----------------------------------------------------------------------------------


def test_an_offline_report_of_an_unknown_instance_creates_it_in_the_va(clock, account, lic):
    va = make_va(account, "Branch offices")
    user = grant(make_user("ops@acme.example.com"), "user", va=va)
    document = report(
        None, generated_at=NOW - D, usage={lic: 2}, pid="isr4451-x", serial_number="fgl2231a0bc", hostname="branch-17"
    )
    ack = ingest_usage_report(payload=document, source="upload", actor=user, virtual_account=va)
    instance = ProductInstance.objects.get(serial_number="FGL2231A0BC")
    assert instance.pid == "ISR4451-X" and instance.virtual_account == va and instance.hostname == "branch-17"
    assert instance.first_use_at == NOW - 2 * D  # the start of its first measurement in use
    assert ack.product_instance == instance and not ack.report.signed and ack.report.actor == user
    assert in_use(va, lic) == 2
    assert Event.objects.filter(action="instance.created_from_report", virtual_account_id=va.pk).exists()


def test_a_signed_report_of_an_unknown_instance_is_refused_in_an_upload(clock, account, va, lic):
    document = report(
        None, generated_at=NOW, usage={lic: 1}, pid="C9300-24T", serial_number="SIGNEDNEW", trust_code=TRUST
    )
    error = refusal(document, source="upload", actor=account.created_by, virtual_account=va)
    assert error.reason == "signature_unverifiable"
    assert not ProductInstance.objects.filter(serial_number="SIGNEDNEW").exists()


def test_an_upload_cannot_report_for_another_accounts_instance(clock, account, other_account, lic):
    theirs = make_instance(default_va(other_account), usage={lic: 1}, first_use_at=T0)
    document = report(theirs, generated_at=NOW, usage={lic: 5})
    error = refusal(document, source="upload", actor=account.created_by, virtual_account=default_va(account))
    assert error.reason == "other_account"
    assert other_account.name not in error.message


def test_an_upload_reports_only_for_instances_in_vas_the_user_may_operate_on(clock, account, lic):
    lab, finance = make_va(account, "Lab"), make_va(account, "Finance")
    user = grant(make_user("lab@acme.example.com"), "user", va=lab)
    elsewhere = make_instance(finance, usage={lic: 1}, first_use_at=T0)
    error = refusal(
        report(elsewhere, generated_at=NOW, usage={lic: 1}), source="upload", actor=user, virtual_account=lab
    )
    assert error.reason == "not_permitted" and "Finance" not in error.message
    with pytest.raises(PermissionDenied):
        ingest_usage_report(
            payload=report(elsewhere, generated_at=NOW, usage={lic: 1}),
            source="upload",
            actor=user,
            virtual_account=finance,
        )


def test_an_upload_file_is_judged_report_by_report(clock, account, va, device, lic):
    good = report(device, generated_at=NOW, usage={lic: 2})
    bad = report(device, generated_at=NOW, usage={lic: 2}, trust_code="c" * 64)
    new = report(None, generated_at=NOW, usage={lic: 1}, pid="C8300-1N1S", serial_number="FLM9999")
    for content in (
        json.dumps([good, bad, new]),
        json.dumps({"reports": [good, bad, new]}),
        "\n".join(json.dumps(d) for d in (good, bad, new)) + "\n",
    ):
        upload = upload_usage_file(
            actor=account.created_by, virtual_account=va, file_name="f.json", content=content.encode()
        )
        statuses = [row["status"] for row in upload.results]
        assert statuses[1] == "refused" and "signature does not match" in upload.results[1]["message"]
        assert statuses[0] in ("accepted", "already received") and statuses[2] in ("accepted", "already received")
        assert upload.accepted_count == 2 and upload.refused_count == 1
    assert UsageReport.objects.count() == 2


def test_a_file_that_is_not_json_is_refused_whole(account, va):
    with pytest.raises(ValidationError, match="neither JSON nor JSON Lines"):
        upload_usage_file(actor=account.created_by, virtual_account=va, file_name="x.json", content=b"{nope")
    with pytest.raises(ValidationError, match="empty"):
        upload_usage_file(actor=account.created_by, virtual_account=va, file_name="x.json", content=b"  ")


# --- Changes, late changes and alerts ---------------------------------------------------------------------


def test_reported_changes_are_recorded_and_a_late_one_is_flagged_with_an_alert(clock, device, lic):
    payload = report(
        device,
        generated_at=NOW,
        usage={lic: 2},
        events=[upgrade(NOW - 120 * D), feature_change(NOW - 10 * D, lic, 1, 2)],
    )
    ingest_usage_report(payload=payload, source="device")
    changes = {c.kind: c for c in Change.objects.filter(product_instance=device)}
    assert changes["software_upgrade"].late and changes["software_upgrade"].to_value == "17.12.1"
    assert not changes["feature_change"].late and changes["feature_change"].license == lic
    alert = Alert.objects.get(product_instance=device, kind="late_change", resolved_at__isnull=True)
    assert "120 days after it happened; the policy allows 90" in alert.message
    # The next accepted report resolves it.
    clock.advance(days=1)
    ingest_usage_report(payload=report(device, generated_at=clock.now, usage={lic: 2}), source="device")
    alert.refresh_from_db()
    assert alert.resolved_at == clock.now


def test_usage_and_version_differences_are_recorded_as_derived_changes(clock, device, lic):
    ingest_usage_report(
        payload=report(device, generated_at=NOW - 30 * D, usage={lic: 1}, software_version="17.9.4"), source="device"
    )
    ingest_usage_report(
        payload=report(device, generated_at=NOW, usage={lic: 5}, software_version="17.12.1"), source="device"
    )
    derived = Change.objects.filter(product_instance=device, source="usage")
    assert {(c.kind, c.from_value, c.to_value) for c in derived} == {
        ("feature_change", "1", "5"),
        ("software_upgrade", "17.9.4", "17.12.1"),
    }
    assert all(c.occurred_at == NOW and not c.late for c in derived)


def test_a_noticed_change_is_covered_by_the_next_report_and_not_recorded_twice(clock, device, lic):
    clock.set(NOW - 20 * D)
    record_change_notice(payload=notice(device, changes=[upgrade(NOW - 21 * D)], generated_at=clock.now))
    device.refresh_from_db()
    assert device.pending_change_at == NOW - 21 * D
    clock.set(NOW)
    ingest_usage_report(
        payload=report(device, generated_at=NOW, usage={lic: 1}, events=[upgrade(NOW - 21 * D)]), source="device"
    )
    change = Change.objects.get(product_instance=device)
    assert change.source == "notice" and change.report is not None and not change.late
    device.refresh_from_db()
    assert device.pending_change_at is None


def test_a_change_after_the_report_was_generated_stays_pending(clock, device, lic):
    clock.set(NOW)
    record_change_notice(payload=notice(device, changes=[upgrade(NOW - D)], generated_at=NOW))
    ingest_usage_report(payload=report(device, generated_at=NOW - 2 * D, usage={lic: 1}), source="device")
    device.refresh_from_db()
    assert device.pending_change_at == NOW - D
    assert device.next_due_at == NOW - D + 90 * D


def test_an_accepted_report_resolves_the_open_deadline_alert(clock, device, lic):
    from policy.deadlines import evaluate_reporting_deadlines

    evaluate_reporting_deadlines(now=NOW)  # first use T0, never reported: overdue since T0+90
    overdue = Alert.objects.get(product_instance=device, kind="overdue", resolved_at__isnull=True)
    ingest_usage_report(payload=report(device, generated_at=NOW, usage={lic: 1}), source="device")
    overdue.refresh_from_db()
    device.refresh_from_db()
    assert overdue.resolved_at == NOW and device.reporting_status == "ok"
    assert evaluate_reporting_deadlines(now=NOW)["alerts_opened"] == 0


def test_a_stale_offline_report_leaves_the_instance_overdue(clock, account, va, device, lic):
    """A report generated over a year ago is accepted, but its deadline has passed already."""
    from policy.deadlines import evaluate_reporting_deadlines

    evaluate_reporting_deadlines(now=NOW)
    clock.set(T0 + 500 * D)
    ingest_usage_report(
        payload=report(device, generated_at=T0 + 100 * D, usage={lic: 1}),
        source="upload",
        actor=account.created_by,
        virtual_account=va,
    )
    device.refresh_from_db()
    assert device.reporting_status == "overdue" and device.next_due_at == T0 + 465 * D
    open_alert = Alert.objects.get(product_instance=device, kind="overdue", resolved_at__isnull=True)
    assert open_alert.due_at == T0 + 465 * D


# --- Time zones ----------------------------------------------------------------------------------------------


def test_timestamps_with_offsets_are_read_as_the_instant_they_name(clock, device, lic):
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["generated_at"] = "2026-07-24T11:30:00+02:00"  # 09:30 UTC
    payload = sign_with_trust_code(payload, TRUST)
    clock.set(NOW.replace(month=7, day=24))
    ingest_usage_report(payload=payload, source="device")
    device.refresh_from_db()
    assert device.last_report_at.isoformat() == "2026-07-24T09:30:00+00:00"


def test_the_five_minute_limit_holds_across_offsets(clock, device, lic):
    clock.set(NOW)
    payload = report(device, generated_at=NOW, usage={lic: 1})
    local = (NOW + timedelta(minutes=5)).astimezone(__import__("zoneinfo").ZoneInfo("America/New_York"))
    payload["generated_at"] = local.isoformat()  # exactly 5 minutes ahead, written in New York time
    ingest_usage_report(payload=sign_with_trust_code(payload, TRUST), source="device")
    payload = report(device, generated_at=NOW, usage={lic: 1})
    payload["generated_at"] = (local + timedelta(seconds=1)).isoformat()
    assert refusal(sign_with_trust_code(payload, TRUST)).reason == "future_time"


def test_deadlines_are_whole_days_of_24_hours_whatever_the_daylight_saving(clock, device, lic, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    # 2026-03-29 01:30 UTC is just before Berlin's clocks go forward; 365 days later they are back on summer time.
    generated = NOW.replace(year=2026, month=3, day=29, hour=1, minute=30)
    clock.set(generated)
    payload = report(device, generated_at=generated, usage={lic: 1})
    payload["generated_at"] = "2026-03-29T02:30:00+01:00"
    ingest_usage_report(payload=sign_with_trust_code(payload, TRUST), source="device")
    device.refresh_from_db()
    assert device.next_due_at - generated == timedelta(hours=365 * 24)
    from policy.deadlines import evaluate_reporting_deadlines

    evaluate_reporting_deadlines(now=generated)
    device.refresh_from_db()
    assert device.next_due_at - generated == timedelta(hours=365 * 24)


def test_a_report_for_an_unknown_instance_via_the_command_needs_a_va(lic, clock):
    document = report(None, generated_at=NOW, usage={lic: 1}, pid="C9300-24T", serial_number=f"X{uuid.uuid4().hex[:6]}")
    assert refusal(document, source="command").reason == "unknown_instance"


def test_a_report_showing_earlier_use_moves_first_use_back(clock, device, lic):
    ingest_usage_report(
        payload=report(device, generated_at=NOW, usage={lic: 1}, period=NOW - (T0 - 30 * D)), source="device"
    )
    device.refresh_from_db()
    assert device.first_use_at == T0 - 30 * D
    ingest_usage_report(payload=report(device, generated_at=NOW, usage={lic: 1}), source="device")
    device.refresh_from_db()
    assert device.first_use_at == T0 - 30 * D  # never moves later
