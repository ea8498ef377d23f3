"""`ingest_usage_reports`: a batch of reports in one transaction, each judged by the rules of one report.

The specification: a batch leaves exactly the state the same reports sent one at a time leave
(usage, balances, instance, changes, alerts, events, ACKs), refuses each report on its own with its
reason and writes nothing of it, answers replays with the first ACK, and costs a fixed number of
statements whatever its size.
"""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext

from licensing.models import LicenseAccountTotal, LicenseBalance, ProductInstance, ProductInstanceUsage
from licensing.verification import verify_ledger
from policy.deadlines import evaluate_reporting_deadlines
from policy.formats import sign_with_trust_code
from policy.models import Acknowledgement, Alert, Change, Policy, UsageMeasurement, UsageReport
from policy.services import (
    ack_is_authentic,
    ingest_usage_report,
    ingest_usage_reports,
    record_change_notice,
    upload_usage_file,
)
from policy.services import rows as statement_rows
from smartaccounts.models import Event
from tests.factories import default_va, grant, make_account, make_user, make_va

from .helpers import T0, TRUST, Clock, make_instance, make_license, notice, report, upgrade

pytestmark = pytest.mark.django_db
D = timedelta(days=1)
NOW = T0 + 200 * D


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, NOW)


def in_use(va, license):
    return LicenseBalance.objects.get(virtual_account=va, license=license).in_use


def statuses(results):
    return [(r.status, r.code) for r in results]


def counts():
    return [m.objects.count() for m in (UsageReport, UsageMeasurement, Acknowledgement, Change, Event)]


# --- Each report judged on its own -----------------------------------------------------------------------


def test_each_report_of_a_batch_is_accepted_replayed_or_refused_on_its_own(clock, account):
    va = default_va(account)
    lic = make_license()
    first = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    second = make_instance(va, usage={lic: 1}, trust_code="e" * 64, first_use_at=T0)
    earlier = report(first, generated_at=NOW - 2 * D, usage={lic: 1})
    ingest_usage_report(payload=earlier, source="device")
    good = report(first, generated_at=NOW, usage={lic: 2})
    tampered = dict(report(second, generated_at=NOW, usage={lic: 1}), hostname="changed-after-signing")
    unknown_tag = report(second, generated_at=NOW, usage={lic: 1})
    unknown_tag["measurements"].append(dict(unknown_tag["measurements"][0], entitlement_tag="regid.nope"))
    batch = [
        good,
        ["not", "a", "report"],
        tampered,
        sign_with_trust_code(unknown_tag, "e" * 64),
        report(second, generated_at=NOW + timedelta(minutes=6), usage={lic: 1}),
        report(None, generated_at=NOW, usage={lic: 1}, pid="C9300-24T", serial_number="NOSUCH1", trust_code=TRUST),
        earlier,  # received before the batch: its ACK again
        report(first, generated_at=NOW - D, usage={lic: 3}),  # older than `good`, accepted just before it
        good,  # the same report twice in one batch: the first copy's ACK
        report(first, generated_at=NOW, usage={lic: 9}, report_id=good["report_id"]),  # another report, used id
        report(second, generated_at=NOW, usage={lic: 4}),
    ]
    before = counts()
    results = ingest_usage_reports(payloads=batch, source="device")

    assert statuses(results) == [
        ("accepted", ""),
        ("refused", "schema"),
        ("refused", "signature_invalid"),
        ("refused", "unknown_tags"),
        ("refused", "future_time"),
        ("refused", "unknown_instance"),
        ("already received", ""),
        ("refused", "out_of_date"),
        ("already received", ""),
        ("refused", "duplicate_id"),
        ("accepted", ""),
    ]
    assert [r.index for r in results] == list(range(len(batch)))
    assert results[0].report_id == good["report_id"] and results[1].report_id == ""
    assert "signature does not match" in results[2].message and "regid.nope" in results[3].message
    assert results[8].acknowledgement.document == results[0].acknowledgement.document
    assert results[6].acknowledgement == Acknowledgement.objects.get(report__report_id=earlier["report_id"])
    assert all(ack_is_authentic(r.acknowledgement.document) for r in results if r.acknowledgement)
    # Only the two accepted reports wrote anything: a report, its measurement, its ACK and its event
    # each, and the first device's usage change (1 -> 2 since its last report) as a derived change.
    assert [after - b for after, b in zip(counts(), before, strict=True)] == [2, 2, 2, 1, 2]
    assert in_use(va, lic) == 6 and UsageReport.objects.get(report_id=good["report_id"]).acknowledgement_id


def test_the_single_entry_point_gives_the_batchs_answer_for_one_report(clock, account):
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    payload = report(device, generated_at=NOW, usage={lic: 2})
    (result,) = ingest_usage_reports(payloads=[payload], source="device")
    ack = ingest_usage_report(payload=payload, source="device")  # a replay now
    assert result.status == "accepted" and ack == result.acknowledgement
    assert ack.document == result.acknowledgement.document and str(ack.report.report_id) == payload["report_id"]


def test_an_upload_batch_checks_the_uploaders_rights_first(clock, account):
    lab = make_va(account, "Lab")
    user = grant(make_user("viewer@acme.example.com"), "viewer", va=lab)
    lic = make_license()
    with pytest.raises(PermissionDenied):
        ingest_usage_reports(
            payloads=[report(None, generated_at=NOW, usage={lic: 1}, pid="C1", serial_number="S1")],
            source="upload",
            actor=user,
            virtual_account=lab,
        )
    with pytest.raises(ValueError):
        ingest_usage_reports(payloads=[], source="upload")


def test_without_a_policy_in_force_every_report_of_the_batch_is_refused_with_the_reason(clock, account):
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    Policy.objects.update(is_default=False)
    (result,) = ingest_usage_reports(payloads=[report(device, generated_at=NOW, usage={lic: 2})], source="device")
    assert result.status == "refused" and result.code == "no_policy" and "No reporting policy" in result.message
    assert UsageReport.objects.count() == 0 and in_use(va, lic) == 1


# --- The same state as one report at a time ----------------------------------------------------------------


def _world(n: int):
    """An account with one device (trust code, one license in use since T0), a pending change notice
    and an open overdue alert: the same for every call but for names."""
    account = make_account(name=f"World {n}", domain=f"world{n}.example.com")
    va = default_va(account)
    perpetual, subscription = make_license(), make_license(license_type="subscription")
    device = make_instance(
        va, usage={perpetual: 1}, trust_code=TRUST, first_use_at=T0, hostname="", software_version="17.9.4"
    )
    return account, va, perpetual, subscription, device


def _sequence(device, perpetual, subscription):
    """Reports of one device, in the order sent: a late upgrade, a usage change covering a noticed
    change, an out-of-date one, a replay, a license dropped for another, and a stale one."""
    r1 = report(device, generated_at=NOW - 5 * D, usage={perpetual: 2}, events=[upgrade(NOW - 120 * D)])
    return [
        r1,
        report(device, generated_at=NOW - 3 * D, usage={perpetual: 3}, software_version="17.12.1", hostname="sw-1"),
        report(device, generated_at=NOW - 4 * D, usage={perpetual: 7}),
        r1,
        report(device, generated_at=NOW - D, usage={perpetual: 0, subscription: 2}),
        report(device, generated_at=NOW - D, usage={subscription: 2}, software_version="17.15.1"),
    ]


def _state(account, va, device, licenses):
    device.refresh_from_db()
    fields = (
        "first_use_at", "last_report_at", "last_report_received_at", "pending_change_at", "next_due_at",
        "reporting_status", "reporting_status_changed_at", "software_version", "hostname", "last_contact_at",
    )  # fmt: skip
    position = {lic.pk: n for n, lic in enumerate(licenses)}
    return {
        "instance": {name: getattr(device, name) for name in fields},
        "usage": sorted(
            (position[lic], count)
            for lic, count in ProductInstanceUsage.objects.filter(product_instance=device).values_list(
                "license_id", "count"
            )
        ),
        "in_use": [LicenseBalance.objects.filter(virtual_account=va, license=lic).first().in_use for lic in licenses],
        "totals": [LicenseAccountTotal.objects.get(smart_account=account, license=lic).in_use for lic in licenses],
        "changes": sorted(
            (
                c.kind,
                c.occurred_at,
                c.from_value,
                c.to_value,
                position.get(c.license_id),
                c.late,
                c.source,
                c.report is not None,
            )
            for c in Change.objects.filter(product_instance=device)
        ),  # fmt: skip
        "alerts": sorted(
            (a.kind, a.severity, a.message.replace(device.udi, "UDI"), a.due_at, a.opened_at, a.resolved_at)
            for a in Alert.objects.filter(product_instance=device)
        ),
        "acks": [
            {
                k: v
                for k, v in r.acknowledgement.document.items()
                if k not in ("ack_id", "signature", "udi", "acknowledged_report_ids")
            }
            for r in UsageReport.objects.filter(product_instance=device).order_by("generated_at")
        ],
        "measurements": sorted(
            (position[m.license_id], m.count, m.start, m.end)
            for m in UsageMeasurement.objects.filter(product_instance=device)
        ),
        # The two worlds' devices differ only by their serial numbers and the ids of their documents.
        "events": sorted(
            (
                e.action,
                e.message.replace(device.udi, "UDI"),
                json.dumps(
                    {k: v for k, v in e.details.items() if k not in ("report_id", "ack_id", "notice_id", "udi")}
                ),
            )
            for e in Event.objects.filter(smart_account=account, action__startswith="usage.")
        ),
    }


@pytest.mark.parametrize("copy_from_rows", [1, 10**9], ids=["copy", "values"])
def test_a_batch_leaves_exactly_the_state_of_the_same_reports_sent_one_at_a_time(clock, monkeypatch, copy_from_rows):
    # On PostgreSQL large batches are written with COPY: both ways are held to the same result.
    monkeypatch.setattr(statement_rows, "COPY_FROM_ROWS", copy_from_rows)
    states, answers = [], []
    for n, one_by_one in ((1, True), (2, False)):
        account, va, perpetual, subscription, device = _world(n)
        clock.set(NOW - 10 * D)
        evaluate_reporting_deadlines(now=clock.now)  # never reported since first use at T0: an overdue alert
        clock.set(NOW - 4 * D)
        record_change_notice(payload=notice(device, changes=[upgrade(NOW - 4 * D)], generated_at=NOW - 4 * D))
        clock.set(NOW)
        sequence = _sequence(device, perpetual, subscription)
        if one_by_one:
            found = []
            for payload in sequence:
                try:
                    ack = ingest_usage_report(payload=payload, source="device")
                    found.append(("ok", ack.document["next_report_due"], ack.document["reporting_status"]))
                except Exception as error:  # noqa: BLE001 - the refusal is the answer compared
                    found.append(("refused", getattr(error, "reason", ""), ""))
        else:
            found = [
                ("ok", r.acknowledgement.document["next_report_due"], r.acknowledgement.document["reporting_status"])
                if r.error is None
                else ("refused", r.code, "")
                for r in ingest_usage_reports(payloads=sequence, source="device")
            ]
        answers.append(found)
        state = _state(account, va, device, [perpetual, subscription])
        states.append(state)
        assert verify_ledger(smart_account=account) == []
    assert answers[0] == answers[1]
    assert [a[0] for a in answers[0]] == ["ok", "ok", "refused", "ok", "ok", "ok"]
    one, batch = states
    for key in one:
        assert one[key] == batch[key], key
    # What the sequence did, once: the late upgrade's alert opened and resolved by the next report,
    # the noticed upgrade covered, usage and software changes derived, the overdue alert resolved.
    assert [(a[0], a[5] is not None) for a in batch["alerts"]] == [("late_change", True), ("overdue", True)]
    assert batch["usage"] == [(1, 2)] and batch["in_use"] == [0, 2]
    assert ("software_upgrade", NOW - D, "17.12.1", "17.15.1", None, False, "usage", True) in batch["changes"]


def test_reports_of_many_instances_move_each_balance_once_and_keep_the_ledger_consistent(clock, account):
    lab, branch = default_va(account), make_va(account, "Branch")
    a, b = make_license(), make_license()
    devices = [
        make_instance(lab if n % 2 else branch, usage={a: 1}, trust_code=TRUST, first_use_at=T0) for n in range(8)
    ]
    batch = [report(d, generated_at=NOW, usage={a: n % 3, b: 1}) for n, d in enumerate(devices)]
    results = ingest_usage_reports(payloads=batch, source="device")
    assert {r.status for r in results} == {"accepted"}
    for va in (lab, branch):
        used = ProductInstanceUsage.objects.filter(product_instance__virtual_account=va)
        assert in_use(va, a) == sum(u.count for u in used.filter(license=a))
        assert in_use(va, b) == 4
    assert LicenseAccountTotal.objects.get(smart_account=account, license=b).in_use == 8
    assert LicenseAccountTotal.objects.get(smart_account=account, license=b).short_vas == 2  # nothing bought
    assert verify_ledger(smart_account=account) == []


def test_an_upload_batch_creates_unknown_devices_once_and_judges_rights_per_instance(clock, account):
    lab, finance = make_va(account, "Lab"), make_va(account, "Finance")
    user = grant(make_user("lab@acme.example.com"), "user", va=lab)
    lic = make_license()
    elsewhere = make_instance(finance, usage={lic: 1}, first_use_at=T0)
    new_first = report(None, generated_at=NOW - D, usage={lic: 2}, pid="isr4451-x", serial_number="fgl1")
    new_again = report(None, generated_at=NOW, usage={lic: 3}, pid="ISR4451-X", serial_number="FGL1")
    signed_new = report(None, generated_at=NOW, usage={lic: 1}, pid="C1", serial_number="S2", trust_code=TRUST)
    results = ingest_usage_reports(
        payloads=[new_first, report(elsewhere, generated_at=NOW, usage={lic: 1}), new_again, signed_new],
        source="upload",
        actor=user,
        virtual_account=lab,
    )
    assert statuses(results) == [
        ("accepted", ""),
        ("refused", "not_permitted"),
        ("accepted", ""),
        ("refused", "signature_unverifiable"),
    ]
    created = ProductInstance.objects.get(serial_number="FGL1")
    assert created.virtual_account == lab and results[0].outcome.instance_pk == results[2].outcome.instance_pk
    assert in_use(lab, lic) == 3 and created.last_report_at == NOW
    assert Change.objects.get(product_instance=created).to_value == "3"  # the second report's derived change
    assert Event.objects.filter(action="instance.created_from_report").count() == 1
    assert UsageReport.objects.get(report_id=new_again["report_id"]).actor == user


def test_an_upload_file_goes_through_batches(clock, account, monkeypatch):
    from policy.services import ingest

    monkeypatch.setattr(ingest, "BATCH_SIZE", 2)
    va = default_va(account)
    lic = make_license()
    documents = [
        report(None, generated_at=NOW, usage={lic: 1}, pid="C8300-1N1S", serial_number=f"FLM{n}") for n in range(5)
    ]
    documents.insert(3, {"report_id": "nope"})
    upload = upload_usage_file(
        actor=account.created_by, virtual_account=va, file_name="f.json", content=json.dumps(documents).encode()
    )
    assert [row["status"] for row in upload.results] == ["accepted"] * 3 + ["refused"] + ["accepted"] * 2
    assert [row["index"] for row in upload.results] == [1, 2, 3, 4, 5, 6]
    assert upload.results[3]["reason"] == "schema" and upload.results[3]["report_id"] == "nope"
    assert upload.accepted_count == 5 and in_use(va, lic) == 5


@pytest.mark.postgres
def test_a_batch_costs_the_same_statements_whatever_its_size(clock, account, postgres):
    va = default_va(account)
    lic = make_license()
    devices = [make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0) for _ in range(24)]
    measured = []
    for group in (devices[:3], devices[3:]):
        payloads = [report(d, generated_at=NOW, usage={lic: 1 + n % 2}) for n, d in enumerate(group)]
        with CaptureQueriesContext(connection) as queries:
            results = ingest_usage_reports(payloads=payloads, source="device")
        assert {r.status for r in results} == {"accepted"}
        measured.append(len(queries.captured_queries))
    assert measured[0] == measured[1] <= 12


def test_a_batch_that_loses_a_deadlock_is_tried_again_and_other_database_errors_are_not(clock, account, monkeypatch):
    from django.db import OperationalError

    from policy.services import batch as engine

    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    original, failures = engine.Batch.run, []

    def fail(code):
        class Cause(Exception):
            pgcode = code

        def run(self):
            if len(failures) < 1:
                failures.append(code)
                raise OperationalError("deadlock detected") from Cause()
            return original(self)

        return run

    monkeypatch.setattr(engine.Batch, "run", fail("40P01"))
    (result,) = ingest_usage_reports(payloads=[report(device, generated_at=NOW, usage={lic: 2})], source="device")
    assert result.status == "accepted" and failures == ["40P01"] and in_use(va, lic) == 2
    failures.clear()
    monkeypatch.setattr(engine.Batch, "run", fail("53300"))  # too many connections: not ours to retry
    with pytest.raises(OperationalError):
        ingest_usage_reports(payloads=[report(device, generated_at=NOW, usage={lic: 3})], source="device")
    assert in_use(va, lic) == 2


def _statements(queries) -> list[str]:
    """The statements the service sent (the test's own savepoints left out)."""
    return [q["sql"] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "ROLLBACK"))]


@pytest.mark.postgres
def test_one_report_costs_three_statements_its_lock_and_read_prepared_once_per_connection(
    clock, account, postgres, settings
):
    settings.PREPARE_STATEMENTS = True
    va = default_va(account)
    lic = make_license()
    devices = [make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0) for _ in range(3)]
    sent = []
    # A periodic report (the same count) and one that raises its count (the account's usage of the
    # license is read with the rest, not by a statement of its own).
    for device, count in zip(devices, (1, 2, 1), strict=True):
        with CaptureQueriesContext(connection) as queries:
            ingest_usage_report(payload=report(device, generated_at=NOW, usage={lic: count}), source="device")
        sent.append(_statements(queries))
    assert [len(s) for s in sent][0] == 3 and len(sent[2]) == 3
    assert in_use(va, lic) == 4 and ProductInstanceUsage.objects.get(product_instance=devices[1]).count == 2
    # Prepared the first time this connection meets the lock and the read, only executed after that.
    lock, read, _ = sent[2]
    assert lock.startswith("EXECUTE prepared_") and read.startswith("EXECUTE prepared_")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'prepared_%%'")
        assert cursor.fetchone()[0] >= 2


@pytest.mark.postgres
def test_prepared_statements_follow_the_connection_and_can_be_turned_off(clock, account, postgres, settings):
    va = default_va(account)
    lic = make_license()
    device = make_instance(va, usage={lic: 1}, trust_code=TRUST, first_use_at=T0)
    settings.PREPARE_STATEMENTS = False
    with CaptureQueriesContext(connection) as queries:
        ingest_usage_report(payload=report(device, generated_at=NOW, usage={lic: 1}), source="device")
    assert not any(s.startswith(("EXECUTE", "PREPARE")) for s in _statements(queries))
    settings.PREPARE_STATEMENTS = True
    for minutes in (1, 2):
        ingest_usage_report(
            payload=report(device, generated_at=NOW + timedelta(minutes=minutes), usage={lic: 1}), source="device"
        )
    # Another connection has none of them prepared: the service notices and prepares them there.
    from policy import prepared

    state = connection._prepared_statements
    connection._prepared_statements = (object(), state[1])
    with CaptureQueriesContext(connection) as queries:
        ingest_usage_report(
            payload=report(device, generated_at=NOW + timedelta(minutes=3), usage={lic: 1}), source="device"
        )
    assert _statements(queries)[0].startswith("PREPARE prepared_")
    assert UsageReport.objects.filter(product_instance=device).count() == 4
    assert prepared.MAX_PER_CONNECTION >= 8


def test_one_value_is_compared_with_equality_many_with_a_list():
    assert statement_rows.in_list(True, "id", [5]) == ("id = %s", [5])
    assert statement_rows.in_list(True, "id", [5, 6]) == ("id = ANY(%s)", [[5, 6]])
    assert statement_rows.in_list(False, "id", [5, 6]) == ("id IN (%s, %s)", [5, 6])
