"""Device-led conversion (`POST v1/accounts/{domain}/dlc_convert`) as PAK conversion.

Cisco's device-led conversion turns the traditional licenses a device holds into smart licenses
in a Virtual Account. The portal's traditional licenses are PAKs, so each conversion line maps
onto `licensing.services.convert_pak`:

- `conversionString` names a PAK the account holds (its number), optionally with the SKU after a
  colon (`PAK-NUMBER:SKU`); `conversionCount` is the number of units of that SKU to convert
  (default 1). A PAK with one SKU needs no SKU in the string.
- The licenses go into the VA named by `virtualAccounts[].name` (the caller needs the User role
  there: 404 when they see no such VA, 403 when their role is too low).
- Each device's lines are converted together (one call of the service per PAK, each its own
  transaction); the device answers `IN_PROGRESS` when they all converted, else `CONVERT_FAILED`
  with a `statusMessage` saying why (a PAK the account does not hold, a SKU not on it, more units
  than are left...), and nothing of that device is converted. `conversionType` and
  `conversionEncodingType` are accepted and not interpreted. The device need not be a product
  instance of the portal.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from licensing import services as licensing_services
from licensing.selectors.paks import paks_of

from .base import CssmView, as_int, ok
from .reservations import error_text

MAX_DEVICES = 100


def _lines(request: dict, where: str) -> dict[str, dict[str, int]]:
    """{PAK number: {SKU or "": units}} from a device's conversion lines."""
    lines = request.get("conversionLines")
    if not isinstance(lines, list) or not lines:
        raise ValidationError(f"{where}: list the conversionLines.")
    wanted: dict[str, dict[str, int]] = {}
    for n, line in enumerate(lines):
        text = line.get("conversionString") if isinstance(line, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"{where}.conversionLines[{n}]: give the conversionString (a PAK number).")
        number, _, sku = text.partition(":")
        count = line.get("conversionCount", 1)
        units = as_int(1 if count in (None, "") else count, f"conversionLines[{n}].conversionCount", minimum=1)
        skus = wanted.setdefault(licensing_services.normalise_pak_number(number), {})
        key = sku.strip().upper()
        skus[key] = skus.get(key, 0) + units
    return wanted


class DlcConvertView(CssmView):
    required_write_action = "operate"

    def post(self, request, *args, **kwargs):
        vas = self.body.get("virtualAccounts")
        if not isinstance(vas, list) or not vas:
            raise ValidationError({"virtualAccounts": "Send virtualAccounts: [{name, dlcRequests}]."})
        work = []
        for index, item in enumerate(vas):
            if not isinstance(item, dict) or not isinstance(item.get("dlcRequests"), list):
                raise ValidationError({"virtualAccounts": f"virtualAccounts[{index}]: give a name and dlcRequests."})
            va = self.va_named(item.get("name"), "operate")
            where = f"virtualAccounts[{index}].dlcRequests"
            work.extend((va, req, f"{where}[{n}]") for n, req in enumerate(item["dlcRequests"]))
        if len(work) > MAX_DEVICES:
            raise ValidationError(f"Send at most {MAX_DEVICES} devices at once.")
        return ok({"devices": [self._convert(*job) for job in work]})

    def _convert(self, va, req, where: str) -> dict:
        sudi = req.get("sudi") if isinstance(req, dict) else None
        sudi = sudi if isinstance(sudi, dict) else {}
        device = {
            "sudi": {"udiPid": sudi.get("udiPid"), "udiSerialNumber": sudi.get("udiSerialNumber")},
            "softwareTagIdentifier": req.get("softwareTagIdentifier") if isinstance(req, dict) else None,
            "conversionStatus": "IN_PROGRESS",
            "statusMessage": "",
        }
        try:
            if not isinstance(req, dict):
                raise ValidationError(f"{where}: each DLC request is an object.")
            wanted = _lines(req, where)
            paks = {pak.number: pak for pak in paks_of(self.smart_account).filter(number__in=list(wanted))}
            with transaction.atomic():
                for number, skus in wanted.items():
                    pak = paks.get(number)
                    if pak is None:
                        raise ValidationError(licensing_services.NO_SUCH_PAK)
                    lines = self._sku_lines(pak, skus)
                    licensing_services.convert_pak(actor=self.request.user, pak=pak, virtual_account=va, lines=lines)
        except ValidationError as error:
            device.update(conversionStatus="CONVERT_FAILED", statusMessage=error_text(error))
        return device

    @staticmethod
    def _sku_lines(pak, skus: dict[str, int]) -> dict[str, int]:
        if "" not in skus:
            return skus
        codes = [line.sku.code for line in pak.lines.all()]
        if len(codes) != 1:
            raise ValidationError(
                f"PAK {pak.number} has {len(codes)} SKUs: write the conversionString as {pak.number}:SKU."
            )
        units = skus.pop("")
        skus[codes[0]] = skus.get(codes[0], 0) + units
        return skus
