"""PAK conversion: traditional licenses (a PAK's lines of SKUs) become smart licenses in a Virtual Account.

A PAK with an owner is converted only by that account. An unowned PAK belongs to the first
account that enters its number (`claim_pak`, or converting it). A line is converted fully or
partly, but never beyond its quantity: conversions lock the PAK's lines in primary-key order
(after the balances, as every ledger writer does) and the database refuses a converted quantity
above the line's quantity whatever the code does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Lower, Upper
from django.utils import timezone

from smartaccounts import selectors as sa_selectors
from smartaccounts.models import SmartAccount, User, VirtualAccount
from smartaccounts.services import record_event, require_operator, require_va_role

from .. import ledger
from ..limits import MAX_LINE_UNITS, refuse_past_account_maximum
from ..models import LedgerEntry, Pak, PakLine, Sku
from .orders import add_months, cell_problems, whole_number

__all__ = [
    "NO_SUCH_PAK",
    "PAK_CSV_COLUMNS",
    "PakImportResult",
    "claim_pak",
    "convert_pak",
    "import_paks",
    "normalise_pak_number",
]

NO_SUCH_PAK = (
    "No PAK with that number is available to this Smart Account. Check the number on the PAK certificate; "
    "a PAK that belongs to another account cannot be converted here."
)
PAK_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)
PAK_CSV_COLUMNS = ("pak_number", "sku", "quantity", "owner_domain")
_PAK_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9-]{3,63}")  # matched whole (fullmatch)
PAK_TEXT_LIMITS = {
    "sku": Sku._meta.get_field("code").max_length,
    "owner_domain": SmartAccount._meta.get_field("domain").max_length,
}


def normalise_pak_number(number: str) -> str:
    return "".join((number or "").split()).upper()


def _require_pak_account(account: SmartAccount) -> None:
    if account.kind not in PAK_KINDS:
        raise ValidationError(
            f"{account.name} is a {account.get_kind_display()} account: PAKs are converted into Customer or "
            "Limited Use accounts, where the licenses can be used."
        )


def _lines_summary(converted: list[tuple[PakLine, int]]) -> str:
    return ", ".join(f"{units} × {line.sku.code}" for line, units in converted)


def _claim(pak: Pak, account: SmartAccount, actor: User) -> None:
    """Make an unowned (locked) PAK the account's, once."""
    now = timezone.now()
    Pak.objects.filter(pk=pak.pk, owner__isnull=True).update(owner=account, claimed_at=now, claimed_by=actor)
    PakLine.objects.filter(pak_id=pak.pk).update(smart_account=account)
    pak.owner, pak.claimed_at, pak.claimed_by = account, now, actor
    pak.claimed_now = True  # for the page that says so
    record_event(
        actor=actor,
        smart_account=account,
        action="pak.claimed",
        message=f"{actor.email} entered PAK {pak.number}; it now belongs to this account.",
        details={"pak": pak.number},
    )


@transaction.atomic
def claim_pak(*, actor: User, smart_account: SmartAccount, number: str) -> Pak:
    """Find a PAK by its number for `smart_account`: its own, or an unowned one, which it claims.

    Any other PAK (unknown, or another account's) gets the same neutral refusal.
    """
    role = sa_selectors.strongest_role_in_account(actor, smart_account)
    if role is None or not role.allows("operate"):
        raise PermissionDenied(f"You need the User or Admin role on {smart_account.name} to convert PAKs.")
    _require_pak_account(smart_account)
    number = normalise_pak_number(number)
    if not number:
        raise ValidationError({"number": "Enter the PAK number printed on the certificate."})
    # Only what can be a PAK number is looked up (the answer to anything else is the same).
    pak = Pak.objects.select_for_update().filter(number=number).first() if _PAK_NUMBER.fullmatch(number) else None
    if pak is None or (pak.owner_id is not None and pak.owner_id != smart_account.pk):
        raise ValidationError({"number": NO_SUCH_PAK})
    if pak.owner_id is None:
        _claim(pak, smart_account, actor)
    return pak


def _conversion_target(actor: User, virtual_account: VirtualAccount) -> VirtualAccount:
    """The VA to convert into, with its account: it exists, the actor may operate on it, it is not
    deleted, and its account takes PAKs."""
    va = VirtualAccount.objects.select_related("smart_account").filter(pk=virtual_account.pk).first()
    if va is None:
        raise ValidationError("That Virtual Account does not exist.")
    require_va_role(actor, va, "operate")
    if va.is_deleted:
        raise ValidationError(f"{va.name} has been deleted: choose another Virtual Account.")
    _require_pak_account(va.smart_account)
    return va


def _lock_pak_for(pak: Pak, account: SmartAccount, actor: User) -> Pak:
    """Lock the PAK (after the balances); claim it for `account` when unowned, refuse another account's."""
    pak = Pak.objects.select_for_update().get(pk=pak.pk)
    if pak.owner_id is None:
        _claim(pak, account, actor)
    elif pak.owner_id != account.pk:
        raise ValidationError(f"PAK {pak.number} can only be converted by the Smart Account that owns it.")
    return pak


def _units_to_convert(pak: Pak, locked: list[PakLine], lines: dict | None) -> list[tuple[PakLine, int]]:
    """The (line, units) pairs to convert: all that is left when `lines` is None, else the units asked
    per SKU code, each a whole number within what is left of its line (every problem reported at once)."""
    if lines is None:
        wanted = [(line, line.remaining) for line in locked if line.remaining > 0]
        if not wanted:
            raise ValidationError(f"PAK {pak.number} has been converted completely: nothing is left.")
        return wanted
    by_code = {line.sku.code.upper(): line for line in locked}
    wanted = []
    problems = []
    for code, units in lines.items():
        line = by_code.get(str(code).strip().upper())
        if line is None:
            problems.append(f"SKU {code} is not on PAK {pak.number}.")
        elif not isinstance(units, int) or isinstance(units, bool) or units < 0:
            problems.append(f"{line.sku.code}: enter a whole number of units, not {units!r}.")
        elif units > line.remaining:
            problems.append(
                f"PAK {pak.number}, SKU {line.sku.code}: only {line.remaining} "
                f"unit{'s are' if line.remaining != 1 else ' is'} left to convert, not {units}."
            )
        elif units:
            wanted.append((line, units))
    if problems:
        raise ValidationError(problems)
    if not wanted:
        raise ValidationError("Enter how many units to convert for at least one line.")
    return wanted


def _licenses_added(wanted: list[tuple[PakLine, int]]) -> dict:
    """{License: licenses} a conversion adds: units × the SKU's licenses per unit, summed per license."""
    added: dict = {}
    for line, units in wanted:
        added[line.sku.license] = added.get(line.sku.license, 0) + units * line.sku.licenses_per_unit
    return added


def _write_conversion(
    *, actor: User, pak: Pak, va: VirtualAccount, balances: dict, wanted: list[tuple[PakLine, int]]
) -> None:
    """Count the units as converted on their lines and add the licenses to the VA, one movement; term
    SKUs start their term today."""
    movement = ledger.new_movement()
    today = timezone.localdate()
    for line, units in wanted:
        PakLine.objects.filter(pk=line.pk).update(converted_quantity=F("converted_quantity") + units)
        line.converted_quantity += units
        sku = line.sku
        term = sku.default_term_months if sku.license.is_time_bound else None
        ledger.add_to_va(
            balance=balances[(va.pk, sku.license_id)],
            quantity=units * sku.licenses_per_unit,
            kind=LedgerEntry.Kind.CONVERSION,
            movement=movement,
            actor=actor,
            start_date=today if term else None,
            end_date=add_months(today, term) if term else None,
            pak_line=line,
            note=f"PAK {pak.number}",
        )


def _record_conversion(*, actor: User, pak: Pak, va: VirtualAccount, wanted: list[tuple[PakLine, int]]) -> None:
    record_event(
        actor=actor,
        smart_account=va.smart_account,
        virtual_account=va,
        action="pak.converted",
        message=f"{actor.email} converted {_lines_summary(wanted)} from PAK {pak.number} into {va.name}.",
        details={
            "pak": pak.number,
            "lines": [
                {"sku": line.sku.code, "units": units, "licenses": units * line.sku.licenses_per_unit}
                for line, units in wanted
            ],
        },
    )


@transaction.atomic
def convert_pak(*, actor: User, pak: Pak, virtual_account: VirtualAccount, lines: dict | None = None) -> Pak:
    """Convert PAK lines into smart licenses in `virtual_account` (the actor may operate on it).

    `lines`: {SKU code: units}; None converts everything that is left. Licenses = units × the
    SKU's licenses per unit; term SKUs start their term today. The new lots name the PAK line as
    their source. An unowned PAK is claimed by the VA's account on the way. Refused when it would take
    the account past MAX_LICENSES_PER_ACCOUNT licenses of one license.
    Locks, in this order: the balances the lines name, the PAK, its lines (primary-key order).
    """
    va = _conversion_target(actor, virtual_account)
    account = va.smart_account
    # SKUs and licenses of a PAK's lines never change, so this read needs no lock; it names the balances.
    meta = list(PakLine.objects.filter(pak_id=pak.pk).select_related("sku__license").order_by("pk"))
    if not meta:
        raise ValidationError(f"PAK {pak.number} has no lines to convert.")
    balances = ledger.lock_balances((account.pk, va.pk, line.sku.license_id) for line in meta)
    pak = _lock_pak_for(pak, account, actor)
    locked = list(
        PakLine.objects.select_for_update().filter(pak_id=pak.pk).select_related("sku__license").order_by("pk")
    )
    wanted = _units_to_convert(pak, locked, lines)
    refuse_past_account_maximum(
        smart_account=account, added=_licenses_added(wanted), what=f"Converting PAK {pak.number}"
    )
    _write_conversion(actor=actor, pak=pak, va=va, balances=balances, wanted=wanted)
    _record_conversion(actor=actor, pak=pak, va=va, wanted=wanted)
    return pak


# --- Loading PAKs (staff) --------------------------------------------------------------------------


@dataclass
class PakImportResult:
    created_paks: int = 0
    created_lines: int = 0
    unchanged_paks: int = 0


def _owner_accounts(domains: set[str]) -> dict[str, SmartAccount]:
    if not domains:
        return {}
    found = SmartAccount.objects.annotate(domain_lower=Lower("domain")).filter(
        domain_lower__in=domains, kind__in=PAK_KINDS
    )
    return {account.domain.lower(): account for account in found}


# A PAK read from the rows: {"owner": domain, "lines": {SKU code upper: (code, units, line number)},
# "first": its first line number}, by normalised PAK number.
_PakRows = dict[str, dict]


def _read_pak_rows(rows: Iterable[tuple[int, dict]], problems: list[str]) -> _PakRows:
    """Group readable rows by PAK number; every unreadable row adds its problems (with its line number)."""
    paks: _PakRows = {}
    for number_of_line, row in rows:
        unreadable = cell_problems(row, number_of_line, PAK_TEXT_LIMITS)
        if unreadable:
            problems += unreadable
            continue
        raw_number = (row.get("pak_number") or "").strip()
        number = normalise_pak_number(raw_number)
        code = (row.get("sku") or "").strip()
        quantity_text = (row.get("quantity") or "").strip()
        owner = (row.get("owner_domain") or "").strip().lower()
        where = f"line {number_of_line}"
        if not _PAK_NUMBER.fullmatch(number):
            problems.append(f"{where}: “{raw_number}” is not a PAK number (4–64 letters, digits and hyphens).")
            continue
        if not code:
            problems.append(f"{where}: the sku column is empty.")
            continue
        units = whole_number(quantity_text, "quantity", MAX_LINE_UNITS, problems, number_of_line)
        if not units:
            continue
        pak = paks.setdefault(number, {"owner": owner, "lines": {}, "first": number_of_line})
        if pak["owner"] != owner:
            problems.append(
                f"{where}: PAK {number} names the owner “{owner or '(none)'}” but line {pak['first']} "
                f"named “{pak['owner'] or '(none)'}”; all lines of a PAK name the same owner."
            )
            continue
        if code.upper() in pak["lines"]:
            problems.append(
                f"{where}: PAK {number} lists SKU {code} twice (also on line {pak['lines'][code.upper()][2]})."
            )
            continue
        pak["lines"][code.upper()] = (code, units, number_of_line)
    return paks


def _loaded_pak_problem(number: str, pak: dict, loaded: Pak) -> str | None:
    """Why the rows of a PAK already loaded do not match it (other lines, or another owner), or None."""
    have = {line.sku.code.upper(): line.quantity for line in loaded.lines.all()}
    want = {key: units for key, (_, units, _) in pak["lines"].items()}
    if have != want:
        listed = ", ".join(f"{code} × {units}" for code, units in sorted(have.items())) or "no lines"
        return (
            f"line {pak['first']}: PAK {number} is already loaded with different lines ({listed}); "
            "a loaded PAK is not changed by an import."
        )
    if pak["owner"] and (loaded.owner is None or loaded.owner.domain.lower() != pak["owner"]):
        return (
            f"line {pak['first']}: PAK {number} is already loaded "
            + ("without an owner" if loaded.owner is None else "for another account")
            + "; a loaded PAK's owner is not changed by an import."
        )
    return None


def _pak_problems(paks: _PakRows, skus: dict, owners: dict, existing: dict) -> list[str]:
    """Problems with the catalog and the database: unknown SKUs and owners, loaded PAKs that differ."""
    problems = []
    for number, pak in paks.items():
        for key, (code, _units, line_no) in pak["lines"].items():
            if key not in skus:
                problems.append(f"line {line_no}: there is no SKU {code} in the catalog.")
        if pak["owner"] and pak["owner"] not in owners:
            problems.append(
                f"line {pak['first']}: no Customer or Limited Use account has the domain identifier “{pak['owner']}”."
            )
        loaded = existing.get(number)
        problem = _loaded_pak_problem(number, pak, loaded) if loaded is not None else None
        if problem:
            problems.append(problem)
    return problems


def _create_paks(paks: _PakRows, new: list[str], skus: dict, owners: dict) -> int:
    """Write the new PAKs and their lines in bulk; the number of lines written."""
    created = Pak.objects.bulk_create(
        [Pak(number=number, owner=owners.get(paks[number]["owner"])) for number in new], batch_size=500
    )
    by_number = {pak.number: pak for pak in Pak.objects.filter(number__in=new)} if created else {}
    pak_lines = [
        PakLine(pak=by_number[number], smart_account_id=by_number[number].owner_id, sku=skus[key], quantity=units)
        for number in new
        for key, (_code, units, _) in paks[number]["lines"].items()
    ]
    PakLine.objects.bulk_create(pak_lines, batch_size=1000)
    return len(pak_lines)


def _record_import(*, actor: User | None, paks: _PakRows, new: list[str], owners: dict, lines: int, unchanged: int):
    """One `pak.loaded` event per owning account, and one `pak.imported` for the load when it added PAKs."""
    per_owner: dict[str, list[str]] = {}
    for number in new:
        if paks[number]["owner"]:
            per_owner.setdefault(paks[number]["owner"], []).append(number)
    for domain, numbers in per_owner.items():
        record_event(
            actor=actor,
            smart_account=owners[domain],
            action="pak.loaded",
            message=f"{len(numbers)} PAK{'s were' if len(numbers) != 1 else ' was'} loaded for this account: "
            f"{', '.join(numbers[:20])}{' …' if len(numbers) > 20 else ''}. Convert them under PAKs.",
            details={"paks": numbers},
        )
    if new:
        record_event(
            actor=actor,
            smart_account=None,
            action="pak.imported",
            message=f"Loaded {len(new)} PAKs with {lines} lines"
            + (f"; {unchanged} were already loaded." if unchanged else "."),
            details={"paks": len(new), "lines": lines, "unchanged": unchanged},
        )


@transaction.atomic
def import_paks(*, rows: Iterable[tuple[int, dict]], actor: User | None = None) -> PakImportResult:
    """Load PAKs from rows `(line number, {pak_number, sku, quantity, owner_domain})`, all or nothing.

    A PAK already loaded must match the rows exactly (same SKUs and quantities; an owner named in
    the rows must be its owner): loading a file again changes nothing. Every problem is reported
    with its line number, and then nothing is written. A staff member named as `actor` needs the add
    permission on PAKs (the command runs without one).
    """
    if actor is not None:
        require_operator(actor, "licensing.add_pak", "load PAKs")
    problems: list[str] = []
    paks = _read_pak_rows(rows, problems)
    wanted_codes = {key for pak in paks.values() for key in pak["lines"]}
    skus = {
        sku.code.upper(): sku
        for sku in Sku.objects.annotate(code_upper=Upper("code")).filter(code_upper__in=wanted_codes)
    }
    owners = _owner_accounts({p["owner"] for p in paks.values() if p["owner"]})
    existing = {
        pak.number: pak
        for pak in Pak.objects.filter(number__in=paks).prefetch_related("lines__sku").select_related("owner")
    }
    problems += _pak_problems(paks, skus, owners, existing)
    if problems:
        raise ValidationError(problems)

    new = [number for number in paks if number not in existing]
    lines = _create_paks(paks, new, skus, owners)
    _record_import(actor=actor, paks=paks, new=new, owners=owners, lines=lines, unchanged=len(existing))
    return PakImportResult(created_paks=len(new), created_lines=lines, unchanged_paks=len(existing))
