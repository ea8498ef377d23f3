"""Devices (product instances) as Cisco's API names them (CSSM_API.md §2 "Devices").

- `GET v1/accounts/{d}/virtual-accounts/{va}/devices[?limit=&offset=]` and
  `POST v1/accounts/{d}/devices {"virtualAccounts":[...],"limit","offset"}`: `{"totalRecords","devices":[...]}`,
  each device with `sudi`, `licenseUsage`, `displayName` ("UDI_PID:...; UDI_SN:...; "), dates and status.
- `POST .../virtual-accounts/{va}/devices/transfer {"productInstances":[{"sudi":{udiPid,udiSerialNumber},
  "targetVirtualAccount"}]}` through `licensing.services.transfer_product_instances`;
  `POST .../devices/remove {"productInstances":[{"sudi"}]}` through `remove_product_instance`. Both all or
  nothing: a device not found in the VA, or a refusal, leaves every device where it was.
- apx `GET licensing/v2/accounts/{d}/devices?virtualAccountName=&instanceName=&limit=&offset=`.

We keep a device's PID and serial number, not its SUVI, MAC address, UUID, host identifier or VID: those
are null. `productTagName` (the device's software tag) is not kept either: it is "" as in Cisco's own
answers for devices without one.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404

from licensing import selectors as licensing_selectors
from licensing import services as licensing_services
from licensing.models import ProductInstance

from .base import CssmView, iso_z, ok, page

__all__ = ["ApxDevices", "DeviceRemove", "DeviceTransfer", "Devices", "VaDevices", "device_row"]

MAX_DEVICES_PER_REQUEST = 500


def sudi(instance: ProductInstance) -> dict:
    return {
        "macAddress": None,
        "suvi": None,
        "hostIdentifier": None,
        "udiSerialNumber": instance.serial_number,
        "udiPid": instance.pid,
        "uuid": None,
        "udiVid": None,
    }


def device_status(instance: ProductInstance) -> str:
    if instance.status == ProductInstance.Status.RESERVED:
        return "Reserved"
    if instance.reporting_status == ProductInstance.ReportingStatus.OVERDUE:
        return "Out Of Compliance"
    return "In Compliance"


def device_row(instance: ProductInstance, usage) -> dict:
    return {
        "licenseUsage": [{"license": u.license.name, "quantity": u.count} for u in usage],
        "hostName": instance.hostname,
        "sudi": sudi(instance),
        "displayName": f"UDI_PID:{instance.pid}; UDI_SN:{instance.serial_number}; ",
        "registrationDate": iso_z(instance.registered_at),
        "productTagName": "",
        "virtualAccount": instance.virtual_account.name,
        "productName": instance.pid,
        "productDescription": instance.product_family or None,
        "productType": instance.product_family or None,
        "softwareVersion": instance.software_version or None,
        "status": device_status(instance),
        "lastContactDate": iso_z(instance.last_contact_at),
    }


def _rows(instances) -> list[dict]:
    usage = licensing_selectors.usage_of_instances([i.pk for i in instances]) if instances else {}
    return [device_row(i, usage.get(i.pk, [])) for i in instances]


class VaDevices(CssmView):
    """GET v1/accounts/{d}/virtual-accounts/{va}/devices."""

    def get(self, request, *args, **kwargs):
        limit, offset = page(request, {})
        instances = licensing_selectors.instances_in([self.virtual_account])
        total = instances.count()
        return ok({"devices": _rows(list(instances[offset : offset + limit]))}, total=total)


class Devices(CssmView):
    """POST v1/accounts/{d}/devices: a read sent as a POST (Viewers may)."""

    required_write_action = "view"

    def post(self, request, *args, **kwargs):
        body = self.body
        vas = self.vas_named(body.get("virtualAccounts"), "view")
        limit, offset = page(request, body)
        instances = licensing_selectors.instances_in(vas)
        total = instances.count()
        return ok({"devices": _rows(list(instances[offset : offset + limit]))}, total=total)


def _udi(item, number: int) -> tuple[str, str]:
    if not isinstance(item, dict) or not isinstance(item.get("sudi"), dict):
        raise ValidationError(
            {"productInstances": f"productInstances[{number}] needs a sudi with udiPid and udiSerialNumber."},
            code="invalid",
        )
    pid, serial = item["sudi"].get("udiPid"), item["sudi"].get("udiSerialNumber")
    if not isinstance(pid, str) or not pid.strip() or not isinstance(serial, str) or not serial.strip():
        raise ValidationError(
            {"productInstances": f"productInstances[{number}] needs sudi.udiPid and sudi.udiSerialNumber."},
            code="invalid",
        )
    return pid.strip(), serial.strip()


class _DeviceAction(CssmView):
    def items(self) -> list:
        items = self.body.get("productInstances")
        if not isinstance(items, list) or not items:
            raise ValidationError({"productInstances": "List the product instances."}, code="invalid")
        if len(items) > MAX_DEVICES_PER_REQUEST:
            raise ValidationError(
                {"productInstances": f"Send at most {MAX_DEVICES_PER_REQUEST} product instances in one request."},
                code="invalid",
            )
        return items

    def instances(self, udis: list[tuple[str, str]]) -> dict:
        found = licensing_selectors.instances_by_udi(self.virtual_account, udis)
        for pid, serial in udis:
            if (pid.upper(), serial.upper()) not in found:
                raise Http404(f"{self.virtual_account.name} has no product instance UDI_PID:{pid}; UDI_SN:{serial}.")
        return found


class DeviceTransfer(_DeviceAction):
    """POST .../virtual-accounts/{va}/devices/transfer."""

    def post(self, request, *args, **kwargs):
        items = self.items()
        udis = [_udi(item, n) for n, item in enumerate(items, start=1)]
        found = self.instances(udis)
        by_target: dict[int, tuple] = {}
        for (pid, serial), item in zip(udis, items, strict=True):
            name = item.get("targetVirtualAccount")
            target = self.va_named(name, "operate")
            by_target.setdefault(target.pk, (target, []))[1].append(found[(pid.upper(), serial.upper())])
        results = []
        with transaction.atomic():
            for target, instances in by_target.values():
                licensing_services.transfer_product_instances(
                    actor=request.user, product_instances=instances, target=target
                )
                results += [
                    {"sudi": sudi(i), "targetVirtualAccount": target.name, "status": "SUCCESS", "statusMessage": ""}
                    for i in instances
                ]
        return ok({"productInstances": results})


class DeviceRemove(_DeviceAction):
    """POST .../virtual-accounts/{va}/devices/remove."""

    def post(self, request, *args, **kwargs):
        items = self.items()
        udis = [_udi(item, n) for n, item in enumerate(items, start=1)]
        found = self.instances(udis)
        results = []
        with transaction.atomic():
            for pid, serial in dict.fromkeys((p.upper(), s.upper()) for p, s in udis):
                instance = found[(pid, serial)]
                licensing_services.remove_product_instance(actor=request.user, product_instance=instance)
                results.append({"sudi": sudi(instance), "status": "SUCCESS", "statusMessage": ""})
        return ok({"productInstances": results})


class ApxDevices(CssmView):
    """GET licensing/v2/accounts/{d}/devices?virtualAccountName=&instanceName=&limit=&offset=."""

    def get(self, request, *args, **kwargs):
        params = request.query_params
        limit, offset = page(request, {})
        name = params.get("virtualAccountName")
        vas = [self.va_named(name)] if name else self.vas_named(None)
        instances = licensing_selectors.instances_in(vas, hostname=(params.get("instanceName") or "").strip())
        total = instances.count()
        devices = [
            {
                "instanceName": i.hostname,
                "productTagName": "",
                "virtualAccount": i.virtual_account.name,
                "sudi": {"udiPid": i.pid, "udiSerialNumber": i.serial_number},
            }
            for i in instances[offset : offset + limit]
        ]
        return ok({"devices": devices}, total=total)
