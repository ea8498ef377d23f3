"""License reservations: SLR (specific) and PLR (universal) for devices that never reach the portal.

The device prints a request code; the portal reserves licenses in a Virtual Account for it and
answers with an authorization code signed with the portal's Ed25519 key. Reserved licenses count
as in use (the balance's `reserved`, moved by RESERVATION and RELEASE ledger entries); the device
appears as a product instance with status "reserved" and no usage rows.

- SPECIFIC: the licenses and quantities the user chose, each at most what the VA has available.
- UNIVERSAL (all features): one license of every license of the device's product family that the
  VA has available when the reservation is made (or updated). The product family is chosen in the
  wizard, or inferred from the product ID when exactly one family with available licenses matches.
  From then on those licenses count like a specific reservation's.

Release needs the device's return code (see `licensing.reservation_codes`), which proves the device
gave back exactly the current authorization code. An Admin can remove the reservation of an
unmanaged device without a code. Rehosting moves an active reservation from a failed device to its
replacement; a device that is still reporting has not failed, so it is refused.

Lock order: the reservation row, then product instance rows (`ledger.lock_instances`), then the
balances (`ledger.lock_balances`, once). Every change sets the reporting status of the instances it
touches in the same transaction (`policy.deadlines.refresh_reporting_deadlines`: a reserved instance
reports nothing).
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from policy import signing
from policy.deadlines import refresh_reporting_deadlines
from smartaccounts.models import SmartAccount, User, VirtualAccount
from smartaccounts.services import record_event, require_va_role

from .. import ledger, reservation_codes
from ..limits import instance_usage_problem
from ..models import License, LicenseBalance, ProductInstance, Reservation, ReservationLine

__all__ = [
    "REHOST_SILENT_DAYS",
    "authorization_signature",
    "check_device_free",
    "device_product_family",
    "fits_device",
    "infer_product_family",
    "rehost_reservation",
    "release_reservation",
    "require_reservation_enabled",
    "reserve_licenses",
    "universal_licenses",
    "update_reservation",
]

# A device that reported usage (or contacted the portal) this recently is still working: no rehost.
REHOST_SILENT_DAYS = 30


def require_reservation_enabled(account: SmartAccount) -> None:
    """Reservations exist only in customer accounts that staff enabled them for."""
    if account.kind == SmartAccount.Kind.PARTNER_HOLDING:
        raise ValidationError(
            f"{account.name} is a Partner Holding account: its licenses cannot be reserved. Hand them over to "
            "a Customer account first."
        )
    if account.kind == SmartAccount.Kind.LIMITED_USE:
        raise ValidationError(f"{account.name} is a Limited Use account: Limited Use accounts cannot reserve licenses.")
    if not account.license_reservation_enabled:
        raise ValidationError(
            f"License reservation is not enabled for {account.name}. Staff enable it on request for accounts "
            "with devices that cannot reach the portal."
        )


def _live_va(virtual_account: VirtualAccount) -> VirtualAccount:
    va = VirtualAccount.objects.select_related("smart_account").filter(pk=virtual_account.pk).first()
    if va is None or va.is_deleted:
        raise ValidationError("That Virtual Account has been deleted: choose another one.")
    return va


def check_device_free(request: reservation_codes.RequestCode, account: SmartAccount, *, rehost_of=None) -> None:
    """The device must not be a product instance already (connected or reserved) anywhere.

    The wizard's first step calls it (licensing.forms.RequestCodeForm) and `reserve_licenses` again at
    confirm: one rule, refused as early as the request code is known."""
    if rehost_of is not None and (rehost_of.pid, rehost_of.serial_number) == (request.pid, request.serial_number):
        raise ValidationError(
            "That request code comes from the device that holds the reservation: enter the replacement device's code."
        )
    existing = (
        ProductInstance.objects.filter(pid=request.pid, serial_number=request.serial_number)
        .exclude(status=ProductInstance.Status.REMOVED)
        .first()
    )
    if existing is not None:
        if existing.smart_account_id != account.pk:
            raise ValidationError(
                f"The device {request.udi} is registered in another Smart Account; it must be removed there first."
            )
        if existing.status == ProductInstance.Status.RESERVED:
            raise ValidationError(
                f"The device {request.udi} already has an active reservation in this account: update that "
                "reservation instead of making another."
            )
        raise ValidationError(
            f"The device {request.udi} is a connected product instance in this account: it reports its usage "
            "and needs no reservation. Remove it first if it has been taken offline for good."
        )
    if Reservation.objects.filter(request_code=request.text).exists():
        raise ValidationError(
            "This request code has already been used. Ask the device for a new request code (each has a new nonce)."
        )


def _device(request_code: str, account: SmartAccount, *, rehost_of=None) -> reservation_codes.RequestCode:
    """The device a request code names, free to reserve for; errors are about the `request_code` field."""
    try:
        request = reservation_codes.parse_request_code(request_code)
        check_device_free(request, account, rehost_of=rehost_of)
    except ValidationError as error:
        raise ValidationError({"request_code": error.messages}) from None
    return request


def infer_product_family(pid: str, families: list[str]) -> str | None:
    """The product family a PID belongs to, when exactly one of `families` names the PID's model number.

    "C9300-48P-4X" has the model number 9300, which "Catalyst 9300" names; "ISR4451-X/K9" gives 4451.
    """
    model = pid.split("-", 1)[0]
    numbers = re.findall(r"\d{3,}", model)
    if not numbers:
        return None
    matches = [f for f in families if any(re.search(rf"(?<!\d){n}(?!\d)", f) for n in numbers)]
    if len(matches) == 1:
        return matches[0]
    return None


def device_product_family(pid: str) -> str | None:
    """The catalog's product family of a device (by its PID), or None when the PID names none or several."""
    families = License.objects.order_by().values_list("product_family", flat=True).distinct()
    return infer_product_family(pid, [f for f in families if f])


def fits_device(license_family: str, device_family: str | None) -> bool:
    """Whether a license of `license_family` may be reserved for a device of `device_family`: a device
    whose family the catalog names takes only that family's licenses (a C9300 no Catalyst 9200 license).
    The wizard lists only the licenses that fit; `reserve_licenses` refuses the others."""
    return device_family is None or license_family == device_family


def _check_families(pid: str, wanted: dict[int, int]) -> None:
    family = device_product_family(pid)
    if family is None:
        return
    wrong = sorted(
        name
        for name, license_family in License.objects.filter(pk__in=wanted).values_list("name", "product_family")
        if not fits_device(license_family, family)
    )
    if wrong:
        raise ValidationError(
            f"{pid} is a {family} device: {', '.join(wrong)} {'is' if len(wrong) == 1 else 'are'} for another "
            "product family and cannot be reserved for it."
        )


def universal_licenses(virtual_account: VirtualAccount, product_family: str) -> dict[int, int]:
    """What a universal reservation takes: one of every license of the family available in the VA."""
    rows = LicenseBalance.objects.filter(
        virtual_account=virtual_account, license__product_family=product_family
    ).filter(purchased__gt=F("in_use") + F("reserved"))
    return dict.fromkeys(rows.values_list("license_id", flat=True), 1)


def _available_families(virtual_account: VirtualAccount) -> list[str]:
    return sorted(
        set(
            LicenseBalance.objects.filter(virtual_account=virtual_account, purchased__gt=F("in_use") + F("reserved"))
            .values_list("license__product_family", flat=True)
            .distinct()
        )
    )


def _specific_quantities(licenses: dict | None) -> dict[int, int]:
    if not licenses:
        raise ValidationError("Choose at least one license and how many to reserve.")
    wanted: dict[int, int] = {}
    for license, quantity in licenses.items():
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            raise ValidationError(f"Quantities are whole numbers, not {quantity!r}.")
        # A reservation holds licenses for one device: at most what a device may use (licensing.limits).
        problem = instance_usage_problem(quantity, license.name if isinstance(license, License) else "a license")
        if problem:
            raise ValidationError(problem, code="instance_usage_limit")
        if quantity:
            wanted[license.pk if isinstance(license, License) else int(license)] = quantity
    if not wanted:
        raise ValidationError("Choose at least one license and how many to reserve.")
    if License.objects.filter(pk__in=wanted).count() != len(wanted):
        raise ValidationError("One of the licenses chosen is not in the catalog.")
    return wanted


def _universal_quantities(va: VirtualAccount, pid: str, product_family: str | None) -> tuple[str, dict[int, int]]:
    families = _available_families(va)
    family = product_family or infer_product_family(pid, families)
    if not family:
        raise ValidationError(
            {
                "product_family": f"Choose the product family of {pid}: a universal reservation reserves one of every "
                "license of that family available in the Virtual Account."
            }
        )
    wanted = universal_licenses(va, family)
    if not wanted:
        raise ValidationError(
            {"product_family": f"{va.name} has no {family} licenses available to reserve for all features."}
        )
    return family, wanted


def _check_available(balances, va: VirtualAccount, deltas: dict[int, int]) -> None:
    """Refuse, naming each license, any increase beyond what the VA has available."""
    names = dict(License.objects.filter(pk__in=deltas).values_list("pk", "name"))
    problems = []
    for license_id, delta in sorted(deltas.items()):
        if delta <= 0:
            continue
        available = balances[(va.pk, license_id)].available
        if delta > available:
            problems.append(
                f"{names.get(license_id, license_id)}: only {available} available in {va.name}, not {delta}."
            )
    if problems:
        raise ValidationError(problems)


def _sign(payload: dict) -> str:
    return reservation_codes.build_authorization(payload, signing.sign(reservation_codes.canonical(payload)))


def authorization_signature(reservation: Reservation) -> str:
    return reservation_codes.load_authorization(reservation.authorization_code)["signature"]


def _authorization(reservation: Reservation, instance: ProductInstance, sequence: int) -> str:
    lines = reservation.lines.select_related("license").order_by("license__tag")
    payload = {
        "reservation": reservation.pk,
        "sequence": sequence,
        "type": reservation.reservation_type,
        "udi": {"pid": instance.pid, "serial_number": instance.serial_number},
        "product_family": instance.product_family,
        "request_code": reservation.request_code,
        "smart_account": reservation.smart_account.domain,
        "issued_at": timezone.now().replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "licenses": [{"tag": line.license.tag, "name": line.license.name, "count": line.quantity} for line in lines],
    }
    return _sign(payload)


def _sequence(reservation: Reservation) -> int:
    return int(reservation_codes.load_authorization(reservation.authorization_code)["payload"].get("sequence", 1))


def _licenses_text(reservation: Reservation) -> str:
    return ", ".join(f"{line.quantity} × {line.license.name}" for line in reservation.lines.select_related("license"))


def _lock_reservation(reservation: Reservation) -> Reservation:
    locked = (
        Reservation.objects.select_for_update(of=("self",))
        .select_related("smart_account", "virtual_account", "product_instance")
        .filter(pk=reservation.pk)
        .first()
    )
    if locked is None:
        raise ValidationError("That reservation does not exist.")
    return locked


def _require_active(reservation: Reservation, verb: str) -> None:
    if reservation.status == Reservation.Status.ACTIVE:
        return
    state = "released" if reservation.status == Reservation.Status.RELEASED else "rehosted to another device"
    raise ValidationError(f"This reservation was {state}; it can no longer be {verb}.")


def _new_instance(request, va: VirtualAccount, family: str) -> ProductInstance:
    try:
        with transaction.atomic():
            return ProductInstance.objects.create(
                smart_account_id=va.smart_account_id,
                virtual_account=va,
                pid=request.pid,
                serial_number=request.serial_number,
                product_family=family,
                status=ProductInstance.Status.RESERVED,
            )
    except IntegrityError:
        # Someone registered or reserved the same device a moment ago.
        raise ValidationError(f"The device {request.udi} was registered a moment ago; look it up first.") from None


def _new_reservation(*, actor, va, request, reservation_type, instance) -> Reservation:
    try:
        with transaction.atomic():
            return Reservation.objects.create(
                smart_account_id=va.smart_account_id,
                virtual_account=va,
                product_instance=instance,
                reservation_type=reservation_type,
                request_code=request.text,
                authorization_code="",
                created_by=actor,
            )
    except IntegrityError:
        raise ValidationError(
            "This request code has already been used. Ask the device for a new request code (each has a new nonce)."
        ) from None


@transaction.atomic
def reserve_licenses(
    *,
    actor: User,
    virtual_account: VirtualAccount,
    request_code: str,
    reservation_type: str,
    licenses: dict | None = None,
    product_family: str | None = None,
) -> Reservation:
    """Reserve licenses of a VA for the device whose request code is given; returns the reservation
    with its signed authorization code.

    `reservation_type`: `specific` (`licenses`: {License: quantity}, each at most what the VA has
    available) or `universal` (one of every license of the device's product family available in
    the VA; `product_family` names it, or it is inferred from the PID).
    """
    va = _live_va(virtual_account)
    require_va_role(actor, va, "operate")
    account = va.smart_account
    require_reservation_enabled(account)
    if reservation_type not in Reservation.Type.values:
        raise ValidationError({"reservation_type": "Choose Specific (SLR) or Universal (PLR)."})
    request = _device(request_code, account)
    if reservation_type == Reservation.Type.SPECIFIC:
        wanted = _specific_quantities(licenses)
        _check_families(request.pid, wanted)
        families = sorted(set(License.objects.filter(pk__in=wanted).values_list("product_family", flat=True)))
        family = families[0] if len(families) == 1 else ""
    else:
        family, wanted = _universal_quantities(va, request.pid, product_family)

    balances = ledger.lock_balances((account.pk, va.pk, license_id) for license_id in wanted)
    _check_available(balances, va, wanted)
    instance = _new_instance(request, va, family)
    reservation = _new_reservation(
        actor=actor, va=va, request=request, reservation_type=reservation_type, instance=instance
    )
    ReservationLine.objects.bulk_create(
        [
            ReservationLine(
                reservation=reservation, smart_account_id=reservation.smart_account_id, license_id=lic, quantity=q
            )
            for lic, q in sorted(wanted.items())
        ]
    )
    movement = ledger.new_movement()
    for license_id, quantity in sorted(wanted.items()):
        ledger.change_reserved(
            balance=balances[(va.pk, license_id)],
            quantity=quantity,
            movement=movement,
            actor=actor,
            reservation=reservation,
            note=f"Reserved for {request.udi}",
        )
    reservation.authorization_code = _authorization(reservation, instance, 1)
    Reservation.objects.filter(pk=reservation.pk).update(authorization_code=reservation.authorization_code)
    refresh_reporting_deadlines(instance_ids=[instance.pk])
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=va,
        action="reservation.created",
        message=f"{actor.email} reserved {_licenses_text(reservation)} for {request.udi} "
        f"({reservation.get_reservation_type_display()}).",
        details={"reservation": reservation.pk, "udi": request.udi, "type": reservation_type},
    )
    return reservation


@transaction.atomic
def update_reservation(
    *, actor: User, reservation: Reservation, licenses: dict | None = None, product_family: str | None = None
) -> Reservation:
    """Change what an active reservation holds and issue a new authorization code.

    Specific: `licenses` are the new quantities ({License: quantity}; 0 drops a license). Universal:
    the family's licenses are taken again, so licenses that became available are added.
    """
    reservation = _lock_reservation(reservation)
    va = reservation.virtual_account
    require_va_role(actor, va, "operate")
    _require_active(reservation, "updated")
    require_reservation_enabled(reservation.smart_account)
    instance = ledger.lock_instances([reservation.product_instance_id])[reservation.product_instance_id]
    current = dict(reservation.lines.values_list("license_id", "quantity"))
    if reservation.reservation_type == Reservation.Type.SPECIFIC:
        wanted = _specific_quantities(licenses)
        _check_families(instance.pid, {k: v for k, v in wanted.items() if v > current.get(k, 0)})
    else:
        family = product_family or instance.product_family
        if not family:
            _, wanted = _universal_quantities(va, instance.pid, product_family)
        else:
            wanted = {**universal_licenses(va, family), **current}
    deltas = {lic: wanted.get(lic, 0) - current.get(lic, 0) for lic in set(wanted) | set(current)}
    deltas = {lic: d for lic, d in deltas.items() if d}
    if not deltas:
        if reservation.reservation_type == Reservation.Type.UNIVERSAL:
            raise ValidationError(
                f"Nothing changed: no other {instance.product_family} licenses have become available in {va.name}."
            )
        raise ValidationError("Nothing changed: the reservation already holds exactly these licenses.")
    balances = ledger.lock_balances((va.smart_account_id, va.pk, lic) for lic in deltas)
    _check_available(balances, va, deltas)
    movement = ledger.new_movement()
    for license_id, delta in sorted(deltas.items()):
        ledger.change_reserved(
            balance=balances[(va.pk, license_id)],
            quantity=delta,
            movement=movement,
            actor=actor,
            reservation=reservation,
            note=f"Reservation of {instance.udi} updated",
        )
        new = wanted.get(license_id, 0)
        if new == 0:
            ReservationLine.objects.filter(reservation=reservation, license_id=license_id).delete()
        elif license_id in current:
            ReservationLine.objects.filter(reservation=reservation, license_id=license_id).update(quantity=new)
        else:
            ReservationLine.objects.create(
                reservation=reservation,
                smart_account_id=reservation.smart_account_id,
                license_id=license_id,
                quantity=new,
            )
    sequence = _sequence(reservation) + 1
    reservation.authorization_code = _authorization(reservation, instance, sequence)
    reservation.updated_at = timezone.now()
    Reservation.objects.filter(pk=reservation.pk).update(
        authorization_code=reservation.authorization_code, updated_at=reservation.updated_at
    )
    refresh_reporting_deadlines(instance_ids=[instance.pk], now=reservation.updated_at)
    record_event(
        actor=actor,
        smart_account=reservation.smart_account,
        virtual_account=va,
        action="reservation.updated",
        message=f"{actor.email} updated the reservation of {instance.udi}: it now holds {_licenses_text(reservation)}. "
        f"Authorization code {sequence} replaces the previous one; install it on the device.",
        details={"reservation": reservation.pk, "udi": instance.udi, "sequence": sequence, "changes": deltas},
    )
    return reservation


def _release_lines(reservation: Reservation, *, actor, note: str) -> None:
    lines = list(reservation.lines.values_list("license_id", "quantity"))
    balances = ledger.lock_balances(
        (reservation.smart_account_id, reservation.virtual_account_id, lic) for lic, _ in lines
    )
    movement = ledger.new_movement()
    for license_id, quantity in lines:
        ledger.change_reserved(
            balance=balances[(reservation.virtual_account_id, license_id)],
            quantity=-quantity,
            movement=movement,
            actor=actor,
            reservation=reservation,
            note=note,
        )


@transaction.atomic
def release_reservation(*, actor: User, reservation: Reservation, return_code: str | None = None) -> Reservation:
    """Give a reservation's licenses back to its VA.

    With the device's return code (User or Admin): the code must answer the reservation's current
    authorization code. Without one (an unmanaged device that cannot give a code): Admins only,
    and the event records that it was released without a code.
    """
    reservation = _lock_reservation(reservation)
    va = reservation.virtual_account
    require_va_role(actor, va, "operate")
    if return_code is None:
        require_va_role(actor, va, "admin")
    _require_active(reservation, "released")
    instance = ledger.lock_instances([reservation.product_instance_id])[reservation.product_instance_id]
    if return_code is not None:
        problem = reservation_codes.describe_return_code_problem(return_code)
        if problem:
            raise ValidationError({"return_code": problem})
        if not reservation_codes.return_code_matches(
            return_code,
            pid=instance.pid,
            serial_number=instance.serial_number,
            signature=authorization_signature(reservation),
        ):
            raise ValidationError(
                {
                    "return_code": f"That return code does not answer the current authorization code of "
                    f"{instance.udi}. Make sure the device has the latest authorization code installed, release "
                    "it on the device again and enter the code it prints."
                }
            )
    _release_lines(
        reservation,
        actor=actor,
        note=f"Released {instance.udi}" + ("" if return_code is not None else " without a code"),
    )
    now = timezone.now()
    Reservation.objects.filter(pk=reservation.pk).update(
        status=Reservation.Status.RELEASED,
        released_by=actor,
        released_at=now,
        return_code="".join(return_code.split()) if return_code is not None else "",
        released_without_code=return_code is None,
        updated_at=now,
    )
    ProductInstance.objects.filter(pk=instance.pk).update(status=ProductInstance.Status.REMOVED, removed_at=now)
    refresh_reporting_deadlines(instance_ids=[instance.pk], now=now)
    text = _licenses_text(reservation)
    if return_code is not None:
        message = f"{actor.email} released the reservation of {instance.udi} with the device's return code ({text})."
    else:
        message = (
            f"{actor.email} removed the reservation of {instance.udi} released without a code: the device is "
            f"unmanaged and cannot give one ({text})."
        )
    record_event(
        actor=actor,
        smart_account=reservation.smart_account,
        virtual_account=va,
        action="reservation.released" if return_code is not None else "reservation.removed_without_code",
        message=message,
        details={"reservation": reservation.pk, "udi": instance.udi, "without_code": return_code is None},
    )
    reservation.refresh_from_db()
    return reservation


@transaction.atomic
def rehost_reservation(*, actor: User, reservation: Reservation, request_code: str) -> Reservation:
    """Move an active reservation from a failed device to its replacement (the replacement's request code).

    The licenses move to a new reserved product instance with a new authorization code; the failed
    one is marked removed. A device that reported in the last 30 days is still working: refused.
    """
    reservation = _lock_reservation(reservation)
    va = reservation.virtual_account
    require_va_role(actor, va, "operate")
    _require_active(reservation, "rehosted")
    require_reservation_enabled(reservation.smart_account)
    old = ledger.lock_instances([reservation.product_instance_id])[reservation.product_instance_id]
    since = timezone.now() - timedelta(days=REHOST_SILENT_DAYS)
    last_heard = max(
        (t for t in (old.last_report_received_at, old.last_contact_at, old.last_report_at) if t is not None),
        default=None,
    )
    if old.status == ProductInstance.Status.ACTIVE or (last_heard is not None and last_heard >= since):
        raise ValidationError(
            f"{old.udi} reported on {last_heard:%Y-%m-%d}, less than {REHOST_SILENT_DAYS} days ago: a device that is "
            "still reporting has not failed, so its licenses cannot be rehosted."
            if last_heard
            else f"{old.udi} is a connected product instance that is still reporting; it cannot be rehosted."
        )
    request = _device(request_code, reservation.smart_account, rehost_of=old)
    lines = list(reservation.lines.values_list("license_id", "quantity"))
    new_instance = _new_instance(request, va, old.product_family)
    new = _new_reservation(
        actor=actor, va=va, request=request, reservation_type=reservation.reservation_type, instance=new_instance
    )
    ReservationLine.objects.bulk_create(
        [
            ReservationLine(reservation=new, smart_account_id=new.smart_account_id, license_id=lic, quantity=q)
            for lic, q in lines
        ]
    )
    balances = ledger.lock_balances((va.smart_account_id, va.pk, lic) for lic, _ in lines)
    movement = ledger.new_movement()
    for license_id, quantity in lines:
        balance = balances[(va.pk, license_id)]
        ledger.change_reserved(
            balance=balance, quantity=-quantity, movement=movement, actor=actor, reservation=reservation,
            note=f"Rehosted from {old.udi} to {request.udi}",
        )  # fmt: skip
        ledger.change_reserved(
            balance=balance, quantity=quantity, movement=movement, actor=actor, reservation=new,
            note=f"Rehosted from {old.udi} to {request.udi}",
        )  # fmt: skip
    new.authorization_code = _authorization(new, new_instance, 1)
    now = timezone.now()
    Reservation.objects.filter(pk=new.pk).update(authorization_code=new.authorization_code)
    Reservation.objects.filter(pk=reservation.pk).update(
        status=Reservation.Status.REHOSTED, replaced_by=new, released_by=actor, released_at=now, updated_at=now
    )
    ProductInstance.objects.filter(pk=old.pk).update(status=ProductInstance.Status.REMOVED, removed_at=now)
    refresh_reporting_deadlines(instance_ids=[old.pk, new_instance.pk], now=now)
    record_event(
        actor=actor,
        smart_account=reservation.smart_account,
        virtual_account=va,
        action="reservation.rehosted",
        message=f"{actor.email} rehosted the reservation of the failed device {old.udi} to {request.udi} "
        f"({_licenses_text(new)}); {old.udi} is marked removed.",
        details={"from": old.udi, "to": request.udi, "reservation": new.pk, "replaces": reservation.pk},
    )
    return new
