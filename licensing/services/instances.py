"""Licensing services: registration tokens, product instances (devices) and their registration."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from policy.deadlines import refresh_reporting_deadlines
from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.selectors import effective_roles, live_virtual_accounts
from smartaccounts.services import record_event, require_va_role

from .. import ledger
from ..identifiers import has_control_characters, is_entitlement_tag, printable, udi_part
from ..limits import instance_usage_problem
from ..models import License, ProductInstance, ProductInstanceUsage, RegistrationToken

__all__ = [
    "MAX_USAGE_TAGS",
    "TOKEN_MAX_DAYS",
    "TOKEN_MAX_USES",
    "TOKEN_MIN_DAYS",
    "create_registration_token",
    "new_trust_code",
    "register_product_instance",
    "remove_product_instance",
    "revoke_registration_token",
]

TOKEN_MIN_DAYS, TOKEN_MAX_DAYS = 1, 365
# Entitlement tags one registration may name: as many as a usage report may measure (its schema's maxItems).
MAX_USAGE_TAGS = 1000
# A token for a whole roll-out still stays far below the column's 32-bit limit; more than this is a typo.
TOKEN_MAX_USES = 1_000_000


def _field_error(field: str, message: str, code: str) -> ValidationError:
    """A ValidationError on one field that keeps its code (a dict of plain messages would drop it)."""
    return ValidationError({field: ValidationError(message, code=code)})


def new_trust_code() -> str:
    """A device's shared secret for signing its usage reports (HMAC-SHA256): 256 random bits, hex."""
    return secrets.token_hex(32)


def _refuse_unusable_account(account: SmartAccount, field: str | None = None) -> None:
    """Devices, usage and tokens exist only in active customer and limited use accounts."""
    if account.is_partner_holding:
        message = (
            f"{account.name} is a Partner Holding account: licenses cannot be activated there, so it has no "
            "registration tokens and no product instances. Transfer the licenses to a Customer account and "
            "register the device with a token of that account."
        )
        raise (
            _field_error(field, message, "partner_holding")
            if field
            else ValidationError(message, code="partner_holding")
        )
    if not account.is_active:
        message = f"{account.name} is {account.get_status_display().lower()}; devices register once it is active."
        raise (
            _field_error(field, message, "account_inactive")
            if field
            else ValidationError(message, code="account_inactive")
        )


# --- Registration tokens -----------------------------------------------------------------------------


@transaction.atomic
def create_registration_token(
    *,
    actor,
    virtual_account: VirtualAccount,
    description: str = "",
    expires_after_days: int = 30,
    max_uses: int | None = None,
    export_controlled: bool = False,
) -> RegistrationToken:
    """Create a token devices register with into `virtual_account`: valid 1–365 days, optionally limited
    to 1–TOKEN_MAX_USES uses.

    Users and Admins of the VA may create one; never in a Partner Holding account. Only tokens
    that allow export-controlled functionality let devices use export-controlled licenses.
    """
    va = live_virtual_accounts().select_related("smart_account").filter(pk=virtual_account.pk).first()
    if va is None:
        raise ValidationError("That Virtual Account no longer exists.")
    require_va_role(actor, va, "operate")
    _refuse_unusable_account(va.smart_account)
    if isinstance(expires_after_days, bool) or not isinstance(expires_after_days, int):
        raise ValidationError({"expires_after_days": "Enter a whole number of days."})
    if not TOKEN_MIN_DAYS <= expires_after_days <= TOKEN_MAX_DAYS:
        raise ValidationError(
            {"expires_after_days": f"A token expires after {TOKEN_MIN_DAYS} to {TOKEN_MAX_DAYS} days."}
        )
    if max_uses is not None and (
        isinstance(max_uses, bool) or not isinstance(max_uses, int) or not 1 <= max_uses <= TOKEN_MAX_USES
    ):
        raise ValidationError(
            {
                "max_uses": f"Enter a number of uses from 1 to at most {TOKEN_MAX_USES:,}, "
                "or leave it empty for no limit."
            }
        )
    description = (description or "").strip()
    if len(description) > 255:
        raise ValidationError({"description": "Keep the description to 255 characters or fewer."})
    now = timezone.now()
    token = RegistrationToken.objects.create(
        smart_account_id=va.smart_account_id,
        virtual_account=va,
        token=secrets.token_urlsafe(48),
        description=description,
        created_by=actor,
        created_at=now,
        expires_at=now + dt.timedelta(days=expires_after_days),
        max_uses=max_uses,
        export_controlled_allowed=bool(export_controlled),
    )
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="token.created",
        message=f"{actor.email} created a registration token for {va.name}"
        + (f" (“{description}”)" if description else "")
        + f", valid {expires_after_days} day{'s' if expires_after_days != 1 else ''}"
        + (f", at most {max_uses} use{'s' if max_uses != 1 else ''}" if max_uses else "")
        + (", export-controlled functionality allowed." if export_controlled else "."),
        details={
            "token_id": token.pk,
            "description": description,
            "expires_at": token.expires_at.isoformat(),
            "max_uses": max_uses,
            "export_controlled_allowed": bool(export_controlled),
        },
    )
    return token


@transaction.atomic
def revoke_registration_token(*, actor, token: RegistrationToken) -> RegistrationToken:
    """Revoke a token: devices can no longer register with it (those registered stay)."""
    locked = (
        RegistrationToken.objects.select_for_update().select_related("virtual_account__smart_account").get(pk=token.pk)
    )
    va = locked.virtual_account
    require_va_role(actor, va, "operate")
    if locked.is_revoked:
        raise ValidationError(f"This token was already revoked on {locked.revoked_at:%Y-%m-%d}.")
    locked.revoked_at = timezone.now()
    locked.revoked_by = actor
    locked.save(update_fields=["revoked_at", "revoked_by"])
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="token.revoked",
        message=f"{actor.email} revoked the registration token {locked.description or f'#{locked.pk}'} of {va.name}.",
        details={"token_id": locked.pk, "description": locked.description, "uses": locked.uses},
    )
    token.revoked_at, token.revoked_by = locked.revoked_at, actor
    return locked


# --- Registration ---------------------------------------------------------------------------------------


def _udi_part(value, field: str, label: str) -> str:
    """The PID or serial number in its stored form (see `licensing.identifiers`); spaces around it are dropped."""
    value = value.strip() if isinstance(value, str) else ""
    if not value:
        raise _field_error(field, f"The {label} is required.", "invalid")
    stored = udi_part(value)
    if stored is None:
        raise _field_error(
            field,
            f"“{printable(value, 70)}” is not a {label}: up to 64 letters, digits and - . _ / + :, "
            "starting with a letter or digit.",
            "invalid",
        )
    return stored


def _text(value, field: str, limit: int) -> str:
    value = value.strip() if isinstance(value, str) else ""
    if has_control_characters(value):
        raise _field_error(field, "Leave out control characters (NUL, line breaks, tabs).", "invalid")
    if len(value) > limit:
        raise _field_error(field, f"Keep it to {limit} characters or fewer.", "invalid")
    return value


def _usage_by_license(usage) -> dict[License, int]:
    if usage is None:
        return {}
    if not isinstance(usage, dict):
        raise _field_error("usage", "Usage is a mapping of entitlement tag to count.", "invalid")
    if len(usage) > MAX_USAGE_TAGS:
        raise _field_error("usage", f"Name at most {MAX_USAGE_TAGS} entitlement tags.", "invalid")
    counts: dict[str, int] = {}
    for tag, count in usage.items():
        tag = tag.strip() if isinstance(tag, str) else tag
        if not is_entitlement_tag(tag):
            raise _field_error(
                "usage", f"“{printable(tag, 70)}” is not an entitlement tag: printable ASCII, no spaces.", "invalid"
            )
        problem = instance_usage_problem(count, tag)
        if problem:
            raise _field_error("usage", problem, "invalid")
        counts[tag] = count
    licenses = {lic.tag: lic for lic in License.objects.filter(tag__in=list(counts))}
    unknown = sorted(set(counts) - licenses.keys())
    if unknown:
        raise _field_error(
            "usage",
            f"Unknown entitlement tag{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
            "unknown_license",
        )
    return {licenses[tag]: count for tag, count in counts.items()}


def _check_token(token: RegistrationToken, now) -> None:
    if token.is_revoked:
        raise ValidationError(
            f"This registration token was revoked on {token.revoked_at:%Y-%m-%d}. "
            "Create a new token on the Registration Tokens page of the Virtual Account.",
            code="token_revoked",
        )
    account = token.virtual_account.smart_account
    _refuse_unusable_account(account)
    if token.virtual_account.is_deleted:
        raise ValidationError(
            "The Virtual Account this token registers into has been deleted. Use a token of another Virtual Account.",
            code="token_revoked",
        )
    if token.expires_at <= now:
        raise ValidationError(
            f"This registration token expired on {token.expires_at:%Y-%m-%d %H:%M} UTC. Create a new token.",
            code="token_expired",
        )
    if token.is_used_up:
        raise ValidationError(
            f"This registration token has been used {token.uses} time{'s' if token.uses != 1 else ''}, its maximum. "
            "Create a new token or one with more uses.",
            code="token_used_up",
        )


def _require_move_rights(
    token: RegistrationToken, source: VirtualAccount, target: VirtualAccount, *, pid: str, serial_number: str
) -> None:
    """Re-registering a live device into another VA moves it, as `transfer_product_instances` does, so it needs
    the same rights: the User role on the VA it leaves and on the one it joins. The acting person is the
    token's creator (a device presents no login: the person who issued the token vouches for what
    registers with it). Refused with `registered_in_another_va`, without naming the other VA."""
    creator = token.created_by
    if creator is not None and creator.is_active:
        roles = effective_roles(creator, [source, target])
        if all(roles[va.pk] is not None and roles[va.pk].allows("operate") for va in (source, target)):
            return
    raise ValidationError(
        f"The device PID:{pid} SN:{serial_number} is registered in another Virtual Account of "
        f"{target.smart_account.name}, and the person who created this token may not move devices from there. "
        "Transfer it on the Product Instances page, or register it with a token created by someone with the "
        "User role on both Virtual Accounts.",
        code="registered_in_another_va",
    )


@dataclass(frozen=True)
class _Device:
    """What a device tells about itself when it registers, in stored form."""

    pid: str
    serial_number: str
    hostname: str
    product_family: str
    software_version: str


def _device(*, pid, serial_number, hostname, product_family, software_version) -> _Device:
    return _Device(
        pid=_udi_part(pid, "pid", "product ID"),
        serial_number=_udi_part(serial_number, "serial_number", "serial number"),
        hostname=_text(hostname, "hostname", 255),
        product_family=_text(product_family, "product_family", 100),
        software_version=_text(software_version, "software_version", 64),
    )


def _lock_token(token) -> RegistrationToken:
    """The token a device presents, locked with its VA and account: the row lock serialises
    registrations with one token, so `uses` never passes `max_uses`."""
    token_value = (token or "").strip() if isinstance(token, str) else ""
    if not token_value:
        raise ValidationError("A registration token is required.", code="token_missing")
    found = (
        RegistrationToken.objects.select_for_update(of=("self",))
        .select_related("virtual_account__smart_account")
        .filter(token=token_value)
        .first()
    )
    if found is None:
        raise ValidationError(
            "This registration token is not valid. Copy it again from the Registration Tokens page.",
            code="token_unknown",
        )
    return found


def _lock_existing_instance(
    found: RegistrationToken, device: _Device
) -> tuple[ProductInstance | None, VirtualAccount | None]:
    """The live instance with the device's UDI, locked, and the VA it moves from (None when it stays or is new).

    Refused when it is live in another Smart Account, holds a reservation, or would move from another VA
    without the rights of a transfer."""
    va = found.virtual_account
    pid, serial_number = device.pid, device.serial_number
    existing = (
        ProductInstance.objects.select_for_update()
        .filter(pid=pid, serial_number=serial_number)
        .exclude(status=ProductInstance.Status.REMOVED)
        .first()
    )
    if existing is not None and existing.smart_account_id != va.smart_account.pk:
        raise ValidationError(
            f"The device PID:{pid} SN:{serial_number} is registered in another Smart Account. "
            "Remove it there before registering it here.",
            code="registered_elsewhere",
        )
    if existing is not None and existing.status == ProductInstance.Status.RESERVED:
        raise ValidationError(
            f"The device PID:{pid} SN:{serial_number} holds a license reservation in {va.smart_account.name}. "
            "Release the reservation before registering it online.",
            code="reserved",
        )
    moved_from = None
    if existing is not None and existing.virtual_account_id != va.pk:
        moved_from = VirtualAccount.objects.get(pk=existing.virtual_account_id)
        _require_move_rights(found, moved_from, va, pid=pid, serial_number=serial_number)
    return existing, moved_from


def _usage_plan(
    existing: ProductInstance | None, wanted: dict[License, int], usage
) -> tuple[dict[int, int], dict[int, int], dict[int, License]]:
    """({license id: count} the instance has now, {license id: count} it will have, {license id: License}
    for both): `usage` replaces the current usage when given, else the current usage stays."""
    current = (
        dict(ProductInstanceUsage.objects.filter(product_instance=existing).values_list("license_id", "count"))
        if existing
        else {}
    )
    target_usage = {lic.pk: count for lic, count in wanted.items()} if usage is not None else dict(current)
    licenses = {lic.pk: lic for lic in wanted} | (
        {lic.pk: lic for lic in License.objects.filter(pk__in=set(target_usage) - {lic.pk for lic in wanted})}
    )
    return current, target_usage, licenses


def _refuse_export_controlled(found: RegistrationToken, target_usage: dict[int, int], licenses: dict) -> None:
    controlled = sorted(
        licenses[lic].name for lic, count in target_usage.items() if count > 0 and licenses[lic].is_export_controlled
    )
    if controlled and not found.export_controlled_allowed:
        raise ValidationError(
            f"This token does not allow export-controlled functionality, which {', '.join(controlled)} "
            f"{'is' if len(controlled) == 1 else 'are'}. Register with a token that allows it.",
            code="export_controlled",
        )


def _lock_and_check_enforced(
    va: VirtualAccount,
    existing: ProductInstance | None,
    current: dict[int, int],
    target_usage: dict[int, int],
    licenses: dict,
) -> None:
    """Lock every balance this registration can touch, once, before reading availability; refuse an
    enforced license the VA has too few available of (usage already in this VA counts as held)."""
    account = va.smart_account
    pairs = {(account.pk, va.pk, lic) for lic in set(current) | set(target_usage)}
    if existing is not None:
        pairs |= {(account.pk, existing.virtual_account_id, lic) for lic in current}
    balances = ledger.lock_balances(pairs)
    same_va = existing is not None and existing.virtual_account_id == va.pk
    for lic_id, count in target_usage.items():
        license = licenses[lic_id]
        if license.enforcement == License.Enforcement.UNENFORCED:
            continue
        increase = count - (current.get(lic_id, 0) if same_va else 0)
        available = balances[(va.pk, lic_id)].available
        if increase > 0 and increase > available:
            raise ValidationError(
                f"{license.name} is an enforced license: {va.name} has {available} available, "
                f"and this device needs {increase} more. Add or transfer licenses to {va.name} first.",
                code="insufficient_enforced",
            )


def _reregister(
    instance: ProductInstance, found: RegistrationToken, device: _Device, moved: bool, now
) -> ProductInstance:
    """Give a live instance a new trust code under the token, moving it (with its usage) to the token's VA."""
    va = found.virtual_account
    if moved:
        ledger.move_instance_usage([instance], va)
    instance.virtual_account = va
    instance.hostname = device.hostname or instance.hostname
    instance.product_family = device.product_family or instance.product_family
    instance.software_version = device.software_version or instance.software_version
    instance.registration_token = found
    instance.export_controlled_allowed = found.export_controlled_allowed
    instance.trust_code = new_trust_code()
    instance.trust_code_issued_at = now
    instance.last_contact_at = now
    instance.save(
        update_fields=[
            "virtual_account", "hostname", "product_family", "software_version", "registration_token",
            "export_controlled_allowed", "trust_code", "trust_code_issued_at", "last_contact_at",
        ]
    )  # fmt: skip
    return instance


def _create_instance(found: RegistrationToken, device: _Device, now) -> ProductInstance:
    """A new active instance in the token's VA; a concurrent registration of the same UDI is refused."""
    va = found.virtual_account
    instance = ProductInstance(
        smart_account=va.smart_account,
        virtual_account=va,
        pid=device.pid,
        serial_number=device.serial_number,
        hostname=device.hostname,
        product_family=device.product_family,
        software_version=device.software_version,
        status=ProductInstance.Status.ACTIVE,
        registered_at=now,
        last_contact_at=now,
        registration_token=found,
        export_controlled_allowed=found.export_controlled_allowed,
        trust_code=new_trust_code(),
        trust_code_issued_at=now,
    )
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise ValidationError(
            f"The device PID:{device.pid} SN:{device.serial_number} was registered by another request a moment "
            "ago. Try again.",
            code="registered_concurrently",
        ) from None
    return instance


def _record_registration(
    instance: ProductInstance,
    device: _Device,
    found: RegistrationToken,
    moved_from: VirtualAccount | None,
    target_usage: dict[int, int],
    licenses: dict,
) -> None:
    va = found.virtual_account
    udi = f"PID:{device.pid} SN:{device.serial_number}"
    if instance.was_registered_before:
        action = "instance.reregistered"
        message = f"{instance} ({udi}) registered again with a token of {va.name}" + (
            f", moved from {moved_from.name}." if moved_from else "."
        )
    else:
        action = "instance.registered"
        message = f"{instance} ({udi}) registered into {va.name}."
    record_event(
        actor=None,
        smart_account=va.smart_account,
        virtual_account=va,
        action=action,
        message=message,
        details={
            "udi": instance.udi,
            "hostname": instance.hostname,
            "token_id": found.pk,
            "usage": {licenses[lic].tag: count for lic, count in target_usage.items()},
        },
    )


@transaction.atomic
def register_product_instance(
    *,
    token: str,
    pid: str,
    serial_number: str,
    hostname: str = "",
    product_family: str = "",
    software_version: str = "",
    usage: dict[str, int] | None = None,
) -> ProductInstance:
    """Register a device (UDI: PID and serial number) with a registration token; issue its trust code.

    Refused, each with its own message (and code): an unknown, revoked, expired or used-up token;
    any token of a Partner Holding or inactive account; export-controlled licenses in `usage`
    under a token that does not allow them; enforced licenses beyond what the VA has available;
    a UDI active in another Smart Account (without naming it).
    A UDI already active in the token's account is re-registered: it gets a new trust code, and the
    registration counts as a use of the token. When it is live in another VA it also moves to the
    token's VA with its usage, which needs the rights of a transfer: the token's creator must hold the
    User role on both VAs (else `registered_in_another_va`, and nothing changes).
    `usage` ({entitlement tag: count}) replaces the instance's usage when given.
    The returned instance carries the new `trust_code` (returned to the device once) and
    `was_registered_before` (True for a re-registration).
    Locks, in this order: the token, the instance with the UDI, the balances it can touch.
    """
    found = _lock_token(token)
    now = timezone.now()
    _check_token(found, now)
    va = found.virtual_account
    device = _device(
        pid=pid,
        serial_number=serial_number,
        hostname=hostname,
        product_family=product_family,
        software_version=software_version,
    )
    wanted = _usage_by_license(usage)
    existing, moved_from = _lock_existing_instance(found, device)
    current, target_usage, licenses = _usage_plan(existing, wanted, usage)
    _refuse_export_controlled(found, target_usage, licenses)
    _lock_and_check_enforced(va, existing, current, target_usage, licenses)

    if existing is not None:
        instance = _reregister(existing, found, device, moved_from is not None, now)
    else:
        instance = _create_instance(found, device, now)
    RegistrationToken.objects.filter(pk=found.pk).update(uses=F("uses") + 1)
    if usage is not None:
        ledger.set_instance_usage(instance, target_usage)
    if instance.first_use_at is None and any(count > 0 for count in target_usage.values()):
        instance.first_use_at = now
        instance.save(update_fields=["first_use_at"])
    refresh_reporting_deadlines(instance_ids=[instance.pk], now=now)  # its deadline, in this transaction
    instance.was_registered_before = existing is not None
    _record_registration(instance, device, found, moved_from, target_usage, licenses)
    return instance


@transaction.atomic
def remove_product_instance(*, actor, product_instance: ProductInstance) -> ProductInstance:
    """Remove a device: its licenses are freed (its usage leaves the VA's in-use count) and its UDI can register again.

    A device holding a license reservation is released on the Reservations page instead. Its open
    reporting alerts are resolved in the same transaction.
    """
    locked = ledger.lock_instances([product_instance.pk]).get(product_instance.pk)
    if locked is None:
        raise ValidationError("That product instance does not exist.")
    va = VirtualAccount.objects.select_related("smart_account").get(pk=locked.virtual_account_id)
    require_va_role(actor, va, "operate")
    if locked.status == ProductInstance.Status.REMOVED:
        raise ValidationError(f"{locked} was already removed on {locked.removed_at:%Y-%m-%d}.")
    if locked.status == ProductInstance.Status.RESERVED:
        raise ValidationError(
            f"{locked} holds a license reservation. Release the reservation on the Reservations page to remove it."
        )
    usage = dict(
        ProductInstanceUsage.objects.filter(product_instance=locked).values_list("license__tag", "count")
    )  # fmt: skip
    ledger.set_instance_usage(locked, {})
    locked.status = ProductInstance.Status.REMOVED
    locked.removed_at = timezone.now()
    locked.save(update_fields=["status", "removed_at"])
    refresh_reporting_deadlines(instance_ids=[locked.pk], now=locked.removed_at)
    freed = sum(usage.values())
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="instance.removed",
        message=f"{actor.email} removed {locked} ({locked.udi}) from {va.name}"
        + (f", freeing {freed} license{'s' if freed != 1 else ''}." if freed else "."),
        details={"udi": locked.udi, "freed": usage},
    )
    product_instance.status, product_instance.removed_at = locked.status, locked.removed_at
    return locked
