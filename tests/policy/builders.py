"""URL-argument builders of the policy pages (see tests/isolation.py)."""

from __future__ import annotations

import json
import secrets

from django.utils import timezone

from licensing.models import ProductInstance
from policy.services import ingest_usage_report, upload_usage_file
from tests.isolation import builds, load_builders

from .helpers import make_license, report


def _license(tenant):
    if "policy.license" not in tenant.cache:
        tenant.cache["policy.license"] = make_license(name=f"Policy builder license {secrets.token_hex(3)}")
    return tenant.cache["policy.license"]


@builds("report_id")
def report_id(tenant, va):
    """An accepted usage report of the tenant's product instance in `va`."""
    key = ("policy.report", va.pk)
    if key not in tenant.cache:
        instance = ProductInstance.objects.get(pk=load_builders()["instance_id"](tenant, va))
        document = report(instance, generated_at=timezone.now(), usage={_license(tenant): 1})
        ack = ingest_usage_report(payload=document, source="upload", actor=tenant.admin, virtual_account=va)
        tenant.cache[key] = ack.report
    return tenant.cache[key].pk


@builds("upload_id")
def upload_id(tenant, va):
    """An offline upload into `va` that created a product instance the portal had not seen."""
    key = ("policy.upload", va.pk)
    if key not in tenant.cache:
        serial = f"OFF{secrets.token_hex(4).upper()}"
        hostname = f"offline-{secrets.token_hex(3)}.{tenant.account.domain}"
        document = report(
            None,
            generated_at=timezone.now(),
            usage={_license(tenant): 2},
            pid="ISR4451-X",
            serial_number=serial,
            hostname=hostname,
        )
        tenant.cache[key] = upload_usage_file(
            actor=tenant.admin,
            virtual_account=va,
            file_name=f"usage-{serial}.json",
            content=json.dumps(document).encode(),
        )
        tenant.remember(serial, hostname, f"usage-{serial}.json")
    return tenant.cache[key].pk
