"""Demo data for Smart Licensing using Policy: signed reports from online devices, unsigned offline
uploads (creating devices the portal had not seen), a change notice, some instances due soon, some
overdue, and one change reported late; then an evaluation, so the alerts and panels are filled.

Idempotent: report ids are derived from the UDI, so a report made on an earlier run is not sent again.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from django.utils import timezone

from licensing.models import ProductInstance, ProductInstanceUsage
from smartaccounts.models import SmartAccount, User, VirtualAccount

from .deadlines import evaluate_reporting_deadlines
from .formats import iso, sign_with_trust_code
from .models import Change, Policy, UsageReport
from .services import (
    create_policy,
    ingest_usage_report,
    record_change_notice,
    set_default_policy,
    upload_usage_file,
)

NAMESPACE = uuid.UUID("8d0f5a4e-6c1b-4f2a-9e3d-7b5c1a2f4e60")
# Offline devices an upload brings in: (PID, serial, hostname prefix, entitlement tag suffix, count).
OFFLINE = [("IR1101-K9", f"FCW2519{n:04d}", "rtu-substation", 1) for n in range(1, 5)]


def _report_id(instance_key: str, label: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{instance_key}/{label}"))


def _usage(instance: ProductInstance) -> dict[str, int]:
    return dict(ProductInstanceUsage.objects.filter(product_instance=instance).values_list("license__tag", "count"))


def _document(instance: ProductInstance, label: str, generated, *, events=None, software_version="") -> dict:
    document = {
        "report_id": _report_id(instance.udi, label),
        "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
        "hostname": instance.hostname,
        "generated_at": iso(generated),
        "measurements": [
            {
                "entitlement_tag": tag,
                "count": count,
                "start": iso(generated - timedelta(days=30)),
                "end": iso(generated),
            }
            for tag, count in sorted(_usage(instance).items())
        ],
    }
    if software_version:
        document["software_version"] = software_version
    if events:
        document["events"] = events
    return sign_with_trust_code(document, instance.trust_code) if instance.trust_code else document


def _instances(demo) -> list[ProductInstance]:
    shared = demo.objects.get("instances")
    if shared:
        ids = [i.pk for i in shared if isinstance(i, ProductInstance)]
    else:
        customer = demo.objects.get("customer") or (
            SmartAccount.objects.filter(kind=SmartAccount.Kind.CUSTOMER, status="active").order_by("pk").first()
        )
        if customer is None:
            return []
        ids = list(ProductInstance.objects.filter(smart_account=customer).values_list("pk", flat=True))
    return list(
        ProductInstance.objects.filter(pk__in=ids, status=ProductInstance.Status.ACTIVE)
        .select_related("virtual_account", "smart_account")
        .order_by("pk")
    )


def _send(document: dict, instance: ProductInstance, *, online: bool) -> bool:
    """Ingest one demo report unless an earlier run did. True when it was sent now."""
    if UsageReport.objects.filter(report_id=document["report_id"]).exists():
        return False
    if online and instance.trust_code:
        ingest_usage_report(payload=document, source="device")
    else:
        actor = instance.smart_account.created_by
        ingest_usage_report(payload=document, source="upload", actor=actor, virtual_account=instance.virtual_account)
    return True


def _ensure_default_policy(demo) -> None:
    """The default policy comes with a data migration; a database emptied since gets it back here."""
    if Policy.objects.filter(is_default=True).exists():
        return
    staff = demo.objects.get("staff") or User.objects.filter(is_staff=True, is_active=True).order_by("pk").first()
    if staff is None:
        return
    rules = {"unenforced_perpetual": (90, 365, 90, True), "unenforced_subscription": (90, 365, 90, True),
             "enforced": (0, 0, 0, False), "export_controlled": (0, 0, 0, False)}  # fmt: skip
    existing = Policy.objects.filter(name="Default").first()
    if existing is not None:
        set_default_policy(actor=staff, policy=existing)
    else:
        create_policy(actor=staff, name="Default", rules=rules, is_default=True)


def seed(demo) -> None:
    """The demo's reporting story, step by step (online reports, an offline upload, a late change,
    overdue devices). Longer than our usual: it reads top to bottom as the story it tells."""
    _ensure_default_policy(demo)
    instances = _instances(demo)
    if not instances:
        demo.stdout.write("Policy: no product instances to report for; usage reporting demo skipped.")
        return
    now = timezone.now()
    sent = 0
    reporting = [i for i in instances if _usage(i)]
    # Online devices that reported three weeks ago: OK for the next eleven months.
    for instance in reporting[:40]:
        sent += _send(_document(instance, "recent", now - timedelta(days=21)), instance, online=True)
    # Devices whose yearly report falls due within the fortnight.
    for instance in reporting[40:48]:
        sent += _send(_document(instance, "yearly", now - timedelta(days=356)), instance, online=True)
    # Devices that last reported over a year ago, from a saved offline file: overdue.
    for instance in reporting[48:54]:
        sent += _send(_document(instance, "stale", now - timedelta(days=400)), instance, online=False)
    # One device reporting a software upgrade four months after it happened: a late change.
    if len(reporting) > 54:
        late = reporting[54]
        upgrade = {"type": "software_upgrade", "at": iso(now - timedelta(days=130)), "from_version": "17.9.4",
                   "to_version": "17.12.1"}  # fmt: skip
        sent += _send(
            _document(late, "late-change", now - timedelta(days=10), events=[upgrade], software_version="17.12.1"),
            late,
            online=True,
        )
    # One device that reported 100 days ago and announced an upgrade 80 days ago: due soon.
    if len(reporting) > 55:
        noticed = reporting[55]
        sent += _send(_document(noticed, "before-notice", now - timedelta(days=100)), noticed, online=True)
        if noticed.trust_code and not Change.objects.filter(product_instance=noticed, source="notice").exists():
            notice = {
                "notice_id": _report_id(noticed.udi, "notice"),
                "udi": {"pid": noticed.pid, "serial_number": noticed.serial_number},
                "generated_at": iso(now - timedelta(days=80)),
                "changes": [{"type": "software_upgrade", "at": iso(now - timedelta(days=80)),
                             "from_version": "17.9.4", "to_version": "17.12.1"}],
            }  # fmt: skip
            record_change_notice(payload=sign_with_trust_code(notice, noticed.trust_code))

    # An offline upload of unsigned reports from field routers the portal has never seen.
    first = instances[0]
    tags = list(_usage(first))
    va = (
        VirtualAccount.objects.filter(smart_account=first.smart_account, name="Berlin", deleted_at__isnull=True).first()
        or first.virtual_account
    )
    offline = [
        {
            "report_id": str(uuid.uuid5(NAMESPACE, f"offline/{serial}")),
            "udi": {"pid": pid, "serial_number": serial},
            "hostname": f"{prefix}-{n}.{first.smart_account.domain}",
            "software_version": "17.12.1",
            "generated_at": iso(now - timedelta(days=2)),
            "measurements": [
                {
                    "entitlement_tag": tags[0],
                    "count": count,
                    "start": iso(now - timedelta(days=32)),
                    "end": iso(now - timedelta(days=2)),
                }
            ],
        }  # fmt: skip
        for n, (pid, serial, prefix, count) in enumerate(OFFLINE, start=1)
    ]
    if tags and not UsageReport.objects.filter(report_id__in=[d["report_id"] for d in offline]).exists():
        upload_usage_file(
            actor=first.smart_account.created_by,
            virtual_account=va,
            file_name="substation-routers-usage.json",
            content=json.dumps({"reports": offline}, indent=2).encode(),
        )
        sent += len(offline)

    result = evaluate_reporting_deadlines()
    demo.stdout.write(
        f"Policy: {sent} usage reports sent; {result['ok']} OK, {result['due_soon']} due soon, "
        f"{result['overdue']} overdue, {result['not_required']} not required."
    )
