"""Ad-hoc measurement of deadline evaluation and report ingestion on PostgreSQL (not a test).

    createdb -h 127.0.0.1 -U postgres sa_policy_perf
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_policy_perf DEBUG=1 .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sa_policy_perf DEBUG=1 \
        .venv/bin/python -m tests.policy.perf_policy --instances 300000 --reports 3000

It fills one account with `--instances` product instances (two licenses in use each, a spread of
first use, last report and pending change times) with bulk SQL, then times: the first evaluation
(every row written), a second one (nothing to write), one a month later, and one hand-written
UPDATE computing the same statuses from the stored deadlines; then `--reports` signed reports
ingested one by one through `ingest_usage_report`, once restating the usage the instances have
(the common periodic report) and once changing it (the ledger then moves `in_use`). The
benchmark issue's `make bench` is the reference; this is the quick check made while designing.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from datetime import timedelta

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "1")
django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from licensing import ledger  # noqa: E402
from licensing.models import License, ProductInstance  # noqa: E402
from policy.deadlines import evaluate_reporting_deadlines  # noqa: E402
from policy.formats import iso, sign_with_trust_code  # noqa: E402
from policy.services import ingest_usage_report  # noqa: E402
from smartaccounts import services as sa_services  # noqa: E402
from smartaccounts.models import User, VirtualAccount  # noqa: E402

CLASSES = [
    ("perpetual", "unenforced"),
    ("subscription", "unenforced"),
    ("term", "enforced"),
    ("perpetual", "export_controlled"),
]


def setup_account(tag: str):
    user = User.objects.create_user(email=f"perf-{tag}@perf-{tag}.example.com", password="x" * 20)
    account = sa_services.create_smart_account(
        creator=user, name=f"Perf {tag}", domain=f"perf-{tag}.example.com", kind="customer"
    )
    va = VirtualAccount.objects.get(smart_account=account, is_default=True)
    licenses = [
        License.objects.create(
            name=f"Perf license {tag} {i}",
            tag=f"regid.perf.{tag}.{i}",
            product_family="Perf",
            license_type=CLASSES[i % 4][0],
            enforcement=CLASSES[i % 4][1],
        )
        for i in range(6)
    ]
    return account, va, licenses


def fill(account, va, licenses, n: int) -> None:
    ids = [lic.pk for lic in licenses]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO licensing_productinstance (pid, serial_number, hostname, product_family, software_version,
                status, registered_at, export_controlled_allowed, trust_code, first_use_at, last_report_at,
                pending_change_at, smart_account_id, virtual_account_id)
            SELECT 'C9300-48P', 'PERF' || %(tag)s || lpad(g::text, 9, '0'), 'sw-' || g, 'Catalyst', '17.9.4',
                CASE WHEN g %% 50 = 0 THEN 'reserved' WHEN g %% 97 = 0 THEN 'removed' ELSE 'active' END,
                now() - (g %% 900) * interval '1 day', false, '',
                now() - (g %% 800) * interval '1 day',
                CASE WHEN g %% 10 < 7 THEN now() - (g %% 500) * interval '1 day' END,
                CASE WHEN g %% 20 = 0 THEN now() - (g %% 120) * interval '1 day' END,
                %(account)s, %(va)s
            FROM generate_series(1, %(n)s) g
            """,
            {"tag": str(account.pk), "account": account.pk, "va": va.pk, "n": n},
        )
        cursor.execute(
            """
            INSERT INTO licensing_productinstanceusage (product_instance_id, license_id, count, updated_at)
            SELECT i.id, (%(ids)s::bigint[])[1 + (i.id %% 6)], 1 + (i.id %% 4), now()
            FROM licensing_productinstance i WHERE i.smart_account_id = %(account)s AND i.status = 'active'
            UNION ALL
            SELECT i.id, (%(ids)s::bigint[])[1 + ((i.id + 3) %% 6)], 1, now()
            FROM licensing_productinstance i WHERE i.smart_account_id = %(account)s AND i.status = 'active'
            """,
            {"ids": ids, "account": account.pk},
        )
        cursor.execute("ANALYZE")


def timed(label: str, fn):
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    print(f"{label:<48} {elapsed:8.2f} s   {result}")
    return elapsed


def single_update(now) -> int:
    """The floor: one UPDATE that derives every status from the stored deadline."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE licensing_instancedeadline SET reporting_status = CASE
                WHEN next_due_at IS NULL THEN 'not_required' WHEN next_due_at < %(now)s THEN 'overdue'
                WHEN next_due_at <= %(soon)s THEN 'due_soon' ELSE 'ok' END
            WHERE NOT removed
            """,
            {"now": now, "soon": now + timedelta(days=14)},
        )
        return cursor.rowcount


def ingest(va, licenses, count: int, *, changing: bool = False) -> float:
    lic = [x for x in licenses if x.enforcement == "unenforced"]
    now = timezone.now()
    instances = []
    for i in range(count):
        instance = ProductInstance.objects.create(
            smart_account_id=va.smart_account_id,
            virtual_account=va,
            pid="C9300-24T",
            serial_number=f"ING{uuid.uuid4().hex[:12].upper()}",
            hostname=f"ingest-{i}",
            trust_code=uuid.uuid4().hex * 2,
            first_use_at=now - timedelta(days=30),
            registered_at=now - timedelta(days=30),
        )
        with transaction.atomic():
            ledger.set_instance_usage(instance, {lic[0].pk: 2, lic[1].pk: 1})
        instances.append(instance)
    documents = []
    for instance in instances:
        document = {
            "report_id": str(uuid.uuid4()),
            "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
            "hostname": instance.hostname,
            "software_version": "17.9.4",
            "generated_at": iso(now - timedelta(minutes=1)),
            "measurements": [
                {"entitlement_tag": lic[0].tag, "count": 3 if changing else 2, "start": iso(now - timedelta(days=1)),
                 "end": iso(now - timedelta(minutes=1))},
                {"entitlement_tag": lic[1].tag, "count": 1, "start": iso(now - timedelta(days=1)),
                 "end": iso(now - timedelta(minutes=1))},
            ],
        }  # fmt: skip
        documents.append(sign_with_trust_code(document, instance.trust_code))
    started = time.perf_counter()
    for document in documents:
        ingest_usage_report(payload=document, source="device")
    elapsed = time.perf_counter() - started
    label = f"ingest {count} signed reports, usage {'changed' if changing else 'restated'}"
    print(f"{label:<48} {elapsed:8.2f} s   {count / elapsed:.0f}/s")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=300_000)
    parser.add_argument("--reports", type=int, default=2_000)
    args = parser.parse_args()
    assert connection.vendor == "postgresql", "measure on PostgreSQL"
    tag = uuid.uuid4().hex[:6]
    account, va, licenses = setup_account(tag)
    started = time.perf_counter()
    fill(account, va, licenses, args.instances)
    print(f"filled {args.instances} instances in {time.perf_counter() - started:.1f} s")
    now = timezone.now()
    timed("evaluation, first run (every row written)", lambda: evaluate_reporting_deadlines(now=now))
    timed("evaluation, second run (nothing to write)", lambda: evaluate_reporting_deadlines(now=now))
    later = now + timedelta(days=30)
    timed("evaluation, 30 days later", lambda: evaluate_reporting_deadlines(now=later))
    timed("single UPDATE from stored deadlines (floor)", lambda: single_update(later))
    if args.reports:
        ingest(va, licenses, args.reports)  # the common periodic report: the same usage again
        ingest(va, licenses, args.reports, changing=True)  # every report moves in_use through the ledger


if __name__ == "__main__":
    main()
