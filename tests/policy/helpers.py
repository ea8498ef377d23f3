"""Test data for the policy tests: licenses, product instances and usage report documents.

Instances and their usage are made with the models and the ledger directly (the licensing
services register devices with tokens; the policy rules only need an instance, its licenses in
use and, for signed reports, a trust code).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

import django.utils.timezone
from django.db import transaction

from licensing import ledger
from licensing.models import License, ProductInstance
from policy.formats import iso, sign_with_trust_code
from smartaccounts.models import VirtualAccount

_seq = itertools.count(1)
T0 = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)  # a Monday; the worked examples' "T"


class Clock:
    """A controllable `timezone.now()` for the code under test."""

    def __init__(self, monkeypatch, start: datetime):
        self.now = start
        monkeypatch.setattr(django.utils.timezone, "now", lambda: self.now)

    def set(self, when: datetime) -> datetime:
        self.now = when
        return when

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


def make_license(
    *, license_type: str = "perpetual", enforcement: str = "unenforced", name: str | None = None, tag: str | None = None
) -> License:
    n = next(_seq)
    return License.objects.create(
        name=name or f"Catalyst 9300 Network Advantage {n}",
        tag=tag or f"regid.2018-05.com.cisco.C9300_NA_{n},1.0_{uuid.uuid4().hex[:8]}",
        product_family="Catalyst 9300",
        license_type=license_type,
        enforcement=enforcement,
    )


def make_instance(
    va: VirtualAccount,
    *,
    usage: dict[License, int] | None = None,
    trust_code: str = "",
    first_use_at: datetime | None = None,
    registered_at: datetime | None = None,
    hostname: str | None = None,
    pid: str = "C9300-48P",
    serial_number: str | None = None,
    status: str = ProductInstance.Status.ACTIVE,
    software_version: str = "",
) -> ProductInstance:
    n = next(_seq)
    instance = ProductInstance.objects.create(
        smart_account_id=va.smart_account_id,
        virtual_account=va,
        pid=pid,
        serial_number=serial_number or f"FOC{n:08d}",
        hostname=f"switch-{n}.example.com" if hostname is None else hostname,
        status=status,
        trust_code=trust_code,
        trust_code_issued_at=django.utils.timezone.now() if trust_code else None,
        first_use_at=first_use_at,
        registered_at=registered_at or first_use_at or django.utils.timezone.now(),
        software_version=software_version,
    )
    if usage:
        with transaction.atomic():
            ledger.set_instance_usage(instance, {lic.pk: count for lic, count in usage.items()})
    return instance


def report(
    instance: ProductInstance | None = None,
    *,
    generated_at: datetime,
    usage: dict[License, int] | None = None,
    events: list[dict] | None = None,
    report_id: str | None = None,
    trust_code: str | None = None,
    pid: str | None = None,
    serial_number: str | None = None,
    hostname: str = "",
    software_version: str = "",
    period: timedelta = timedelta(days=1),
) -> dict:
    """A usage report document; signed with `trust_code` (default: the instance's) when there is one."""
    document = {
        "report_id": report_id or str(uuid.uuid4()),
        "udi": {
            "pid": pid or instance.pid,
            "serial_number": serial_number or instance.serial_number,
        },
        "generated_at": iso(generated_at),
        "measurements": [
            {
                "entitlement_tag": lic.tag,
                "count": count,
                "start": iso(generated_at - period),
                "end": iso(generated_at),
            }
            for lic, count in (usage or {}).items()
        ],
    }
    if hostname:
        document["hostname"] = hostname
    if software_version:
        document["software_version"] = software_version
    if events:
        document["events"] = events
    code = trust_code if trust_code is not None else (instance.trust_code if instance is not None else "")
    return sign_with_trust_code(document, code) if code else document


def upgrade(at: datetime, from_version: str = "17.9.4", to_version: str = "17.12.1") -> dict:
    return {"type": "software_upgrade", "at": iso(at), "from_version": from_version, "to_version": to_version}


def feature_change(at: datetime, license: License, from_count: int, to_count: int) -> dict:
    return {
        "type": "feature_change",
        "at": iso(at),
        "entitlement_tag": license.tag,
        "from_count": from_count,
        "to_count": to_count,
    }


def notice(instance: ProductInstance, *, changes: list[dict], generated_at: datetime, trust_code: str | None = None):
    document = {
        "notice_id": str(uuid.uuid4()),
        "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
        "generated_at": iso(generated_at),
        "changes": changes,
    }
    return sign_with_trust_code(document, trust_code if trust_code is not None else instance.trust_code)


TRUST = "a3f1c9d27e5b4f08a9c6e1d2b7f4a0c3e8d5b2a9f6c3e0d7b4a1f8c5e2d9b6a3"


def ensure_policy_seed_rows() -> None:
    """Re-create what the data migrations made (the default policy, the beat schedule).

    Transactional tests flush the database when they end, taking migration data with them;
    pytest-django runs them after the others, so only they (and browser tests) need this.
    """
    import importlib

    from django.apps import apps

    importlib.import_module("policy.migrations.0004_default_policy").create_default_policy(apps, None)
    importlib.import_module("policy.migrations.0005_beat_schedule").create_schedule(apps, None)
    importlib.import_module("policy.migrations.0012_partition_usage_by_month").create_schedule(apps, None)
