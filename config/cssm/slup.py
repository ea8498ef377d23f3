"""The Smart Licensing using Policy device flow (Cisco's §G), over reservations and usage reports.

The Smart Account and VA come from the `X-CSW-SMART-ACCOUNT-ID` / `X-CSW-VIRTUAL-ACCOUNT-ID`
headers (the ids `v2/accounts/search` gives: our account and VA ids), resolved by the same scope
mixin as every page: 404 when the caller's role reaches neither, 403 when it is too low (operate
for authrequest and reportusage, view for poll and the summary). `X-CSW-REQUESTING-SYSTEM` is
accepted and not interpreted.

- `v2/devices/authrequest`: each device of `data.licenses` asks for the enforced or
  export-controlled licenses in `keys` (entitlement tag, count). That is a SPECIFIC reservation in
  the VA for the device's UDI (`licensing.services.reserve_licenses`, with the request code the
  device would print; a device asking again gets its current code, or its reservation updated to the
  licenses it now asks for); `"keys": []` with `remove_code` releases the device's reservation with
  that return code (`release_reservation`). Each device succeeds or fails on its own.
- `v2/devices/reportusage`: each `usage[].payload` is a usage report in the portal's format (a
  JSON string; `policy/schemas/usage-report.schema.json`), signed with the device's trust code in
  its `signature` member or in `usage[].signature.value`. The reports go to
  `policy.services.ingest_usage_reports` (source "device") in one transaction: a refused report,
  or one received before, refuses the request whole (`{"status": "FAILED", "message"}`), and
  nothing is written.
- Both answer 202 `OK_POLL` with an 18-digit `poll_id`. The portal processes a request as it
  arrives and keeps the result (`policy.models.DevicePoll`), so `v2/accounts/poll` answers
  `COMPLETE` with it the first time (and again if asked again): authorizations carry the signed
  authorization code, acknowledgements the signed ACK, base64-encoded in `smart_license`.
- `v3/licenses/summary`: the VA's licenses from the Licenses page's selector.

The 202 answers are compact JSON and hold no string with `:`, `|`, `*` or a blank before a digit
(a Postman test script rewrites `[:| *](\\d+)` into strings before parsing, to keep `poll_id` whole).
"""

from __future__ import annotations

import base64
import json
import re
import time

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import Http404
from rest_framework.response import Response

from config.jsondoc import DocumentError, load_json
from licensing import services as licensing_services
from licensing.models import License
from licensing.reservation_codes import make_request_code
from licensing.selectors import license_rows, scope_for
from licensing.selectors import reservations as reservation_selectors
from policy import selectors as policy_selectors
from policy import services as policy_services
from policy.models import DevicePoll

from .base import CssmView, as_int, cssm_exception_handler
from .reservations import error_text, requested_licenses

POLL_INTERVAL = 300
MAX_DEVICES = 100
MAX_REPORTS = 1000
_UNSAFE = re.compile(r"[:| *]\d")
_AUTHORIZED = {License.Enforcement.ENFORCED, License.Enforcement.EXPORT_CONTROLLED}


def slup_exception_handler(exc, context):
    """The Cisco layer's handler (statuses, rollback), its body in the SLUP scripts' shape."""
    response = cssm_exception_handler(exc, context)
    if response is not None:
        data = response.data or {}
        response.data = {
            "status": "FAILED",
            "message_code": data.get("errorCode", "invalid"),
            "message": data.get("statusMessage", ""),
        }
    return response


def failed(message: str, code: str = "invalid", http_status: int = 400) -> Response:
    return Response({"status": "FAILED", "message_code": code, "message": message}, status=http_status)


def b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _code(error: ValidationError) -> str:
    """A machine-readable reason: the error's code, else the field it is about."""
    if getattr(error, "code", None):
        return error.code
    if hasattr(error, "error_dict"):
        return next(iter(error.error_dict))
    return getattr(error.error_list[0], "code", None) or "invalid"


class SlupView(CssmView):
    """Account and VA from the X-CSW headers (see the module docstring)."""

    def get_exception_handler(self):
        return slup_exception_handler

    def _header_id(self, name: str, label: str) -> int:
        value = self.request.headers.get(name, "")
        if not value.strip():
            raise ValidationError(f"Send the {name} header: the {label} id from v2/accounts/search.")
        try:
            return as_int(value, name, minimum=1)
        except ValidationError:
            raise Http404(f"No such {label}.") from None

    def account_lookup(self, kwargs) -> dict:
        return {"pk": self._header_id("X-CSW-SMART-ACCOUNT-ID", "Smart Account")}

    def va_lookup(self, kwargs) -> dict:
        return {"pk": self._header_id("X-CSW-VIRTUAL-ACCOUNT-ID", "Virtual Account")}

    @property
    def request_data(self) -> dict:
        data = self.body.get("data")
        if not isinstance(data, dict):
            raise ValidationError("Send the request in a data object.")
        return data

    def accepted(self, poll: DevicePoll) -> Response:
        """The 202 OK_POLL answer, safe for the Postman script's rewrite."""
        data = self.request_data
        stamp = data.get("timestamp")
        if isinstance(stamp, bool) or not (isinstance(stamp, int) or (isinstance(stamp, str) and stamp.isdigit())):
            stamp = int(time.time() * 1000)
        nonce = data.get("nonce")
        if not isinstance(nonce, str) or _UNSAFE.search(nonce):
            nonce = None
        body = {
            "status": "OK_POLL",
            "message_code": None,
            "message": None,
            "timestamp": stamp,
            "nonce": nonce,
            "type": None,
            "poll_id": poll.poll_id,
            "poll_interval": POLL_INTERVAL,
            "action": poll.action,
        }
        return Response(body, status=202)


def _sudi(item, where: str) -> tuple[str, str]:
    sudi = item.get("sudi") if isinstance(item, dict) else None
    pid = sudi.get("udi_pid") if isinstance(sudi, dict) else None
    serial = sudi.get("udi_serial_number") if isinstance(sudi, dict) else None
    if not isinstance(pid, str) or not pid.strip() or not isinstance(serial, str) or not serial.strip():
        raise ValidationError(f"{where}: give the device's sudi with udi_pid and udi_serial_number.")
    return pid.strip(), serial.strip()


class AuthRequestView(SlupView):
    required_write_action = "operate"

    def post(self, request, *args, **kwargs):
        devices = self.request_data.get("licenses")
        if not isinstance(devices, list) or not devices:
            raise ValidationError("Send data.licenses: the devices asking for authorization.")
        if len(devices) > MAX_DEVICES:
            raise ValidationError(f"Send at most {MAX_DEVICES} devices at once.")
        asks = [self._read(index, item) for index, item in enumerate(devices)]
        with transaction.atomic():
            result = [self._authorize(*ask) for ask in asks]
            poll = policy_services.record_device_poll(
                actor=request.user,
                virtual_account=self.virtual_account,
                action=DevicePoll.Action.AUTHORIZATIONS,
                result=result,
            )
        return self.accepted(poll)

    def _read(self, index: int, item) -> tuple:
        """(pid, serial, keys or None, remove code or None): the shape checked before anything is written."""
        where = f"data.licenses[{index}]"
        pid, serial = _sudi(item, where)
        keys = item.get("keys")
        remove_code = item.get("remove_code")
        if keys in (None, []) and isinstance(remove_code, str) and remove_code.strip():
            return pid, serial, None, remove_code
        if not isinstance(keys, list) or not keys:
            raise ValidationError(f"{where}: list the keys (entitlement, count), or send no keys and a remove_code.")
        licenses = []
        for n, key in enumerate(keys):
            if not isinstance(key, dict):
                raise ValidationError(f"{where}.keys[{n}]: give an entitlement and a count.")
            licenses.append({"entitlementTag": key.get("entitlement"), "quantity": key.get("count")})
        return pid, serial, licenses, None

    def _authorize(self, pid: str, serial: str, licenses, remove_code) -> dict:
        entry = {
            "product_instance_identifier": None,
            "sudi": {"udi_pid": pid, "udi_serial_number": serial},
            "smart_license": None,
            "auth_status": [],
            "error_code": None,
            "status": "SUCCESS",
            "status_message": None,
        }
        try:
            if remove_code is not None:
                reservation = reservation_selectors.active_reservation_of(
                    self.virtual_account, pid=pid, serial_number=serial
                )
                if reservation is None:
                    raise ValidationError(
                        f"PID:{pid} SN:{serial} has no active reservation in {self.virtual_account.name}.",
                        code="not_found",
                    )
                licensing_services.release_reservation(
                    actor=self.request.user, reservation=reservation, return_code=remove_code
                )
            else:
                wanted = requested_licenses(licenses)
                plain = sorted(lic.tag for lic in wanted if lic.enforcement not in _AUTHORIZED)
                if plain:
                    raise ValidationError(
                        f"Not enforced or export-controlled, so no authorization is needed (report their usage "
                        f"instead): {', '.join(plain)}.",
                        code="not_enforced",
                    )
                reservation = self._reserve(pid, serial, wanted)
                entry["smart_license"] = b64(reservation.authorization_code)
            entry["product_instance_identifier"] = str(reservation.product_instance_id)
        except ValidationError as error:
            entry.update(status="FAILED", error_code=_code(error), status_message=error_text(error))
        return entry

    def _reserve(self, pid: str, serial: str, wanted: dict):
        """A new reservation for the device; a device asking again gets its current code, or, when it asks
        for other licenses, the reservation updated to them (a new code)."""
        current = reservation_selectors.active_reservation_of(self.virtual_account, pid=pid, serial_number=serial)
        if current is None:
            return licensing_services.reserve_licenses(
                actor=self.request.user,
                virtual_account=self.virtual_account,
                request_code=make_request_code(pid=pid.upper(), serial_number=serial.upper(), prefix="SL"),
                reservation_type="specific",
                licenses=wanted,
            )
        held = dict(reservation_selectors.reservation_lines(current).values_list("license_id", "quantity"))
        if current.reservation_type == "specific" and held == {lic.pk: n for lic, n in wanted.items()}:
            return current
        return licensing_services.update_reservation(actor=self.request.user, reservation=current, licenses=wanted)


class ReportUsageView(SlupView):
    required_write_action = "operate"

    def post(self, request, *args, **kwargs):
        reports = self.request_data.get("reports")
        if not isinstance(reports, list) or not reports:
            raise ValidationError("Send data.reports: each device's usage.")
        payloads, sudis = [], []
        for index, item in enumerate(reports):
            pid, serial = _sudi(item, f"data.reports[{index}]")
            usage = item.get("usage")
            if not isinstance(usage, list) or not usage:
                return failed(f"data.reports[{index}].usage: send the device's usage reports.")
            for n, use in enumerate(usage):
                document = self._document(use, f"data.reports[{index}].usage[{n}]")
                if isinstance(document, Response):
                    return document
                payloads.append(document)
                sudis.append((pid, serial))
        if len(payloads) > MAX_REPORTS:
            return failed(f"Send at most {MAX_REPORTS} usage reports at once.")
        problem = self._foreign_device(payloads, sudis)
        if problem:
            return failed(problem, "unknown_instance")
        with transaction.atomic():
            results = policy_services.ingest_usage_reports(payloads=payloads, source="device")
            refused = [r for r in results if r.status != "accepted"]
            if refused:
                transaction.set_rollback(True)
                first = refused[0]
                if first.status == "already received":
                    return failed(
                        f"Usage report {first.report_id} was received before; its acknowledgement was issued then.",
                        "duplicate",
                    )
                return failed(f"Usage report {first.report_id or first.index + 1}: {first.message}", first.code)
            acknowledgements = [
                {
                    "sudi": {"udi_pid": pid, "udi_serial_number": serial},
                    "software_tag_identifier": None,
                    "smart_license": b64(json.dumps(result.acknowledgement.document, sort_keys=True)),
                }
                for result, (pid, serial) in zip(results, sudis, strict=True)
            ]
            poll = policy_services.record_device_poll(
                actor=request.user,
                virtual_account=self.virtual_account,
                action=DevicePoll.Action.ACKNOWLEDGEMENTS,
                result=acknowledgements,
            )
        return self.accepted(poll)

    def _document(self, use, where: str):
        """The usage report a `usage[]` item carries, with its signature; a FAILED answer when it is not one."""
        payload = use.get("payload") if isinstance(use, dict) else None
        if isinstance(payload, dict):
            document = dict(payload)
        elif isinstance(payload, str):
            try:
                document = load_json(payload)
            except DocumentError as error:
                return failed(f"{where}.payload is not JSON: {error}", "schema")
            if not isinstance(document, dict):
                return failed(f"{where}.payload must be a usage report (a JSON object).", "schema")
        else:
            return failed(f"{where}: send the usage report as payload.", "schema")
        signature = use.get("signature")
        value = signature.get("value") if isinstance(signature, dict) else None
        if "signature" not in document and isinstance(value, str) and value:
            document["signature"] = value
        return document

    def _foreign_device(self, payloads: list, sudis: list) -> str | None:
        """Each report must be of a device in the headers' VA, named as the report's sudi names it."""
        udis = set()
        for document, (pid, serial) in zip(payloads, sudis, strict=True):
            udi = document.get("udi") if isinstance(document.get("udi"), dict) else {}
            if (str(udi.get("pid", "")).upper(), str(udi.get("serial_number", "")).upper()) != (
                pid.upper(),
                serial.upper(),
            ):
                return f"The usage report of PID:{pid} SN:{serial} names another device."
            udis.add((pid.upper(), serial.upper()))
        match = Q()
        for pid, serial in udis:
            match |= Q(pid__iexact=pid, serial_number__iexact=serial)
        known = {
            (pid.upper(), serial.upper())
            for pid, serial in policy_selectors.instances_for(self.request.user, self.smart_account, "operate")
            .filter(match, virtual_account=self.virtual_account)
            .values_list("pid", "serial_number")
        }
        missing = sorted(udis - known)
        if missing:
            pid, serial = missing[0]
            return f"PID:{pid} SN:{serial} is not a product instance in {self.virtual_account.name}."
        return None


class PollView(SlupView):
    required_write_action = "view"

    def post(self, request, *args, **kwargs):
        poll_id = as_int(self.request_data.get("poll_id"), "poll_id", minimum=1)
        poll = policy_selectors.device_poll_for(self.virtual_account, poll_id)
        if poll is None:
            raise Http404("No such poll_id in this Virtual Account.")
        action = self.request_data.get("action")
        if action not in (None, "", poll.action):
            raise ValidationError(f"poll_id {poll_id} is a request for {poll.action}, not {action}.")
        policy_services.mark_polled(poll)
        return Response(
            {
                "status": "COMPLETE",
                "message_code": None,
                "message": "",
                "type": poll.action,
                "correlation_id": str(poll.poll_id),
                "data": {poll.action: poll.result},
            }
        )


class LicenseSummaryView(SlupView):
    required_write_action = "view"

    def post(self, request, *args, **kwargs):
        tags = self.request_data.get("tags") or []
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ValidationError("data.tags is a list of entitlement tags ([] for all).")
        wanted = set(tags)
        rows = license_rows(scope_for(request.user, self.smart_account, self.virtual_account))
        summary = [self._row(row) for row in rows if not wanted or row.license.tag in wanted]
        return Response(
            {
                "status": "SUCCESS",
                "out_standing_reports": policy_selectors.unpolled_acknowledgements(self.virtual_account),
                "summary": summary,
            }
        )

    @staticmethod
    def _row(row) -> dict:
        lic = row.license
        return {
            "tag": lic.tag,
            "compliance_status": "Out Of Compliance" if row.balance < 0 else "In Compliance",
            "display_name": lic.name,
            "enforced": lic.enforcement in _AUTHORIZED,
            "export_restricted": lic.enforcement == License.Enforcement.EXPORT_CONTROLLED,
            "license_details": [
                {
                    "billing_type": lic.billing.upper(),
                    "quantity": row.purchased,
                    "status": "ACTIVE",
                    "license_type": lic.license_type.upper(),
                }
            ],
            "prepaid_entitled": row.purchased if lic.billing == License.Billing.PREPAID else 0,
            "prepaid_inuse": row.in_use if lic.billing == License.Billing.PREPAID else 0,
            "prepaid_reserved": row.reserved if lic.billing == License.Billing.PREPAID else 0,
        }
