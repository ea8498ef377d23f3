"""SLR/PLR reservations as Cisco's clients ask for them, over `licensing.services.reserve_licenses`.

- `POST v1|v2/accounts/{domain}/virtual-accounts/{va}/reserve-licenses` and the "Software APIs"
  `POST licensing/v2/account/{domain}/virtual-account/{va}/licenses/reserve` take
  `{"reservationRequests": [{"reservationCode", "reservationType": "SPECIFIC"|"UNIVERSAL",
  "licenses": [{"entitlementTag", "quantity", "precedence"}]}]}`. Each request is one call of the
  service (its own transaction: a refused request writes nothing and does not stop the others).
  The answer is HTTP 200 whatever became of the requests (the clients treat anything else as a
  failure and read the reason from `authorizationCodes[i].statusMessage`); one entry per request,
  in order, echoing its `reservationCode`.
- SPECIFIC answers the signed authorization code as the portal issues it (a JSON document, no
  `<smartLicense>` wrapper); UNIVERSAL answers its short key
  (`licensing.reservation_codes.universal_authorization_key`), the only shape PLR clients accept.
- `precedence` (which of a license's lots to use first) is accepted and ignored: a reservation
  holds a count of a license in the VA, not particular lots.
- `POST licensing/v1/search-slr-details` `{"softwareTags": [...]}`: a software tag names a product
  family of the catalog (its name, or a product ID whose model number names exactly one family);
  the answer lists the family's entitlement tags, each reservable as SPECIFIC.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from licensing import services as licensing_services
from licensing.models import Reservation
from licensing.reservation_codes import universal_authorization_key
from licensing.selectors import reservations as reservation_selectors

from .base import AccountlessCssmView, CssmView, as_int, ok

TYPES = {"SPECIFIC": Reservation.Type.SPECIFIC, "UNIVERSAL": Reservation.Type.UNIVERSAL}
MAX_REQUESTS = 100


def error_text(error: ValidationError) -> str:
    """A service's refusal as one sentence for a Cisco `statusMessage` (field names left out)."""
    if hasattr(error, "error_dict"):
        return " ".join(" ".join(messages) for messages in error.message_dict.values())
    return " ".join(error.messages)


def requested_licenses(items) -> dict:
    """{License: quantity} from Cisco's `licenses` list (quantities as numbers or strings; a tag twice adds up)."""
    if not isinstance(items, list) or not items:
        raise ValidationError("A SPECIFIC reservation lists its licenses: entitlementTag and quantity.")
    wanted: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("entitlementTag"), str):
            raise ValidationError(f"licenses[{index}]: give an entitlementTag and a quantity.")
        quantity = as_int(item.get("quantity"), f"licenses[{index}].quantity", minimum=1)
        tag = item["entitlementTag"].strip()
        wanted[tag] = wanted.get(tag, 0) + quantity
    catalog = reservation_selectors.licenses_by_tag(wanted)
    unknown = sorted(tag for tag in wanted if tag not in catalog)
    if unknown:
        raise ValidationError(f"Not in the catalog: {', '.join(unknown)}.")
    return {catalog[tag]: quantity for tag, quantity in wanted.items()}


def authorization_text(reservation: Reservation) -> str:
    """What Cisco's clients receive as `authorizationCode`."""
    if reservation.reservation_type == Reservation.Type.UNIVERSAL:
        return universal_authorization_key(licensing_services.authorization_signature(reservation))
    return reservation.authorization_code.strip()


class ReserveLicensesView(CssmView):
    """v1/v2 `reserve-licenses` and the apx `licenses/reserve` (see the module docstring)."""

    required_write_action = "operate"

    def post(self, request, *args, **kwargs):
        entries = self.body.get("reservationRequests")
        if not isinstance(entries, list) or not entries:
            return self._answer([], "Send reservationRequests: a list of reservation requests.")
        if len(entries) > MAX_REQUESTS:
            return self._answer([], f"Send at most {MAX_REQUESTS} reservation requests at once.")
        results = [self._reserve(entry) for entry in entries]
        failed = [r for r in results if r["status"] != "SUCCESS"]
        message = f"{len(failed)} of {len(results)} reservation requests failed." if failed else ""
        return self._answer(results, message)

    def _answer(self, results: list, message: str):
        response = ok({"authorizationCodes": results}, status="ERROR" if message else "SUCCESS")
        response.data["statusMessage"] = message
        return response

    def _reserve(self, entry) -> dict:
        code = entry.get("reservationCode") if isinstance(entry, dict) else None
        result = {"reservationCode": code, "status": "ERROR", "statusMessage": "", "authorizationCode": None}
        try:
            if not isinstance(entry, dict):
                raise ValidationError("Each reservation request is an object.")
            if not isinstance(code, str) or not code.strip():
                raise ValidationError("Give the reservationCode the device printed.")
            kind = TYPES.get(str(entry.get("reservationType") or "").strip().upper())
            if kind is None:
                raise ValidationError("reservationType must be SPECIFIC or UNIVERSAL.")
            licenses = requested_licenses(entry.get("licenses")) if kind == Reservation.Type.SPECIFIC else None
            reservation = licensing_services.reserve_licenses(
                actor=self.request.user,
                virtual_account=self.virtual_account,
                request_code=code,
                reservation_type=kind,
                licenses=licenses,
            )
        except ValidationError as error:
            result["statusMessage"] = error_text(error)
            return result
        result.update(status="SUCCESS", authorizationCode=authorization_text(reservation))
        return result


class SlrDetailsView(AccountlessCssmView):
    """apx `licensing/v1/search-slr-details`: the entitlement tags a software tag can reserve."""

    def post(self, request, *args, **kwargs):
        tags = self.body.get("softwareTags")
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not tags or not all(isinstance(t, str) and t.strip() for t in tags):
            raise ValidationError({"softwareTags": "Send softwareTags: a list of software tags."})
        if len(tags) > MAX_REQUESTS:
            raise ValidationError({"softwareTags": f"Send at most {MAX_REQUESTS} software tags at once."})
        families = reservation_selectors.catalog_families()
        by_lower = {f.casefold(): f for f in families}
        named = {
            tag: by_lower.get(tag.strip().casefold()) or licensing_services.infer_product_family(tag.strip(), families)
            for tag in tags
        }
        licenses = reservation_selectors.family_licenses({f for f in named.values() if f})
        data = [
            {
                "softwareTag": tag,
                "entitlements": [{"entitlementTag": lic.tag, "type": "SPECIFIC"} for lic in licenses.get(family, [])]
                if family
                else [],
            }
            for tag, family in named.items()
        ]
        return ok({"data": data})
