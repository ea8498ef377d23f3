"""Licensing services: orders. A sales order's lines deposit licenses into the account and VA chosen at ordering."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.params import has_control_characters, parse_whole_number
from smartaccounts.selectors import live_virtual_accounts
from smartaccounts.services import record_event, require_operator

from .. import ledger
from ..limits import MAX_LINE_NUMBER, MAX_LINE_UNITS, refuse_past_account_maximum
from ..models import LedgerEntry, Order, OrderLine, Sku

__all__ = [
    "ORDER_CSV_COLUMNS",
    "OrderImportResult",
    "add_months",
    "assign_order_account",
    "deposit_held_orders",
    "deposit_order",
    "import_orders",
    "line_term",
]


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` later (the month's last day when it is shorter): 31 Jan + 1 month = 28/29 Feb."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def line_term(line: OrderLine, today: dt.date | None = None) -> tuple[dt.date | None, dt.date | None]:
    """The term a line's licenses get: none for perpetual licenses; otherwise the line's own dates,
    the start defaulting to the deposit day and the end to start + the SKU's default term."""
    license = line.sku.license
    if not license.is_time_bound:
        return None, None
    start = line.term_start or today or timezone.localdate()
    end = line.term_end
    if end is None:
        if not line.sku.default_term_months:
            raise ValidationError(
                f"Line {line.line_number} ({line.sku.code}) is a {license.get_license_type_display().lower()} "
                "license without a term end, and the SKU has no default term. Give the line a term end."
            )
        end = add_months(start, line.sku.default_term_months)
    if end <= start:
        raise ValidationError(f"Line {line.line_number} ({line.sku.code}) ends on {end}, before it starts ({start}).")
    return start, end


def _hold(order: Order, reason: str, actor) -> Order:
    if order.status == Order.Status.ON_HOLD and order.hold_reason == reason:
        return order
    order.status = Order.Status.ON_HOLD
    order.hold_reason = reason
    order.save(update_fields=["status", "hold_reason"])
    if order.smart_account_id:
        record_event(
            actor=actor,
            smart_account=order.smart_account,
            action="order.held",
            message=f"Order {order.number} waits on Smart Account hold: {reason}",
            details={"order": order.number, "reason": reason},
        )
    return order


def _deposit_va(order: Order, account: SmartAccount) -> VirtualAccount:
    default = live_virtual_accounts().get(smart_account=account, is_default=True)
    if order.virtual_account_id is None:
        return default
    va = VirtualAccount.objects.get(pk=order.virtual_account_id)
    if va.smart_account_id != account.pk:
        raise ValidationError(
            f"Order {order.number} names the Virtual Account {va.name}, which is not in {account.name}. "
            "Choose one of that account's Virtual Accounts or leave it empty for the default."
        )
    # A VA deleted since the order was placed: its licenses go to the default VA.
    return default if va.is_deleted else va


@transaction.atomic
def deposit_order(*, order: Order, actor=None) -> Order:
    """Deposit an order's licenses into its account and VA (the default VA when none is named). Idempotent.

    The order row is locked first, so two deposits of one order (a double click, an import
    racing the admin) deposit once. An order without an account, or whose account is not
    active, waits on "Smart Account hold" and is deposited when an active account is assigned.
    A staff member named as `actor` needs the change permission on orders (imports and the
    account's activation deposit without an actor).
    No deposit takes the account past MAX_LICENSES_PER_ACCOUNT licenses of one license (a line's
    units and a SKU's licenses per unit are bounded by the models: licensing.limits).
    """
    if actor is not None:
        require_operator(actor, "licensing.change_order", "deposit orders")
    locked = Order.objects.select_for_update().filter(pk=order.pk).first()
    if locked is None:
        raise ValidationError(f"Order {order.number} does not exist.")
    order_obj = Order.objects.select_related("smart_account").get(pk=locked.pk)
    if order_obj.status == Order.Status.DEPOSITED:
        _copy_state(order_obj, order)
        return order_obj
    account = order_obj.smart_account
    if account is None:
        _copy_state(_hold(order_obj, "no Smart Account is assigned to the order.", actor), order)
        return order_obj
    if not account.is_active:
        reason = f"the Smart Account {account.name} is {account.get_status_display().lower()}."
        _copy_state(_hold(order_obj, reason, actor), order)
        return order_obj
    lines = list(order_obj.lines.select_related("sku__license").order_by("line_number"))
    if not lines:
        raise ValidationError(f"Order {order_obj.number} has no lines to deposit.")
    va = _deposit_va(order_obj, account)
    today = timezone.localdate()
    terms = {line.pk: line_term(line, today) for line in lines}
    balances = ledger.lock_balances((account.pk, va.pk, line.sku.license_id) for line in lines)
    added: dict = {}
    for line in lines:
        added[line.sku.license] = added.get(line.sku.license, 0) + line.license_quantity
    refuse_past_account_maximum(smart_account=account, added=added, what=f"Order {order_obj.number}")
    movement = ledger.new_movement()
    for line in lines:
        start, end = terms[line.pk]
        ledger.add_to_va(
            balance=balances[(va.pk, line.sku.license_id)],
            quantity=line.license_quantity,
            kind=LedgerEntry.Kind.DEPOSIT,
            movement=movement,
            actor=actor,
            start_date=start,
            end_date=end,
            order_line=line,
            note=f"Order {order_obj.number} line {line.line_number}",
        )
    order_obj.status = Order.Status.DEPOSITED
    order_obj.deposited_at = timezone.now()
    order_obj.virtual_account = va
    order_obj.hold_reason = ""
    order_obj.save(update_fields=["status", "deposited_at", "virtual_account", "hold_reason"])
    total = sum(line.license_quantity for line in lines)
    record_event(
        actor=actor,
        smart_account=account,
        virtual_account=va,
        action="order.deposited",
        message=f"Order {order_obj.number} deposited {total} license{'s' if total != 1 else ''} "
        f"({len(lines)} line{'s' if len(lines) != 1 else ''}) into {va.name}.",
        details={
            "order": order_obj.number,
            "lines": [
                {"line": line.line_number, "sku": line.sku.code, "license": line.sku.license.tag,
                 "quantity": line.license_quantity}
                for line in lines
            ],
        },
    )  # fmt: skip
    _copy_state(order_obj, order)
    return order_obj


def _copy_state(source: Order, target: Order) -> None:
    if source is target:
        return
    for name in ("status", "hold_reason", "deposited_at", "virtual_account_id", "smart_account_id"):
        setattr(target, name, getattr(source, name))


@transaction.atomic
def deposit_held_orders(*, smart_account: SmartAccount, actor=None) -> list[Order]:
    """Deposit every order of `smart_account` still waiting (on hold or just entered), oldest first."""
    waiting = Order.objects.filter(smart_account=smart_account).exclude(status=Order.Status.DEPOSITED)
    return [deposit_order(order=order, actor=actor) for order in waiting.order_by("created_at", "pk")]


@transaction.atomic
def assign_order_account(
    *, actor, order: Order, smart_account: SmartAccount, virtual_account: VirtualAccount | None = None
) -> Order:
    """Staff (with the change permission on orders) assign the account (and optionally VA) of an order that has
    not been deposited, then deposit it."""
    require_operator(actor, "licensing.change_order", "assign orders to Smart Accounts")
    locked = Order.objects.select_for_update().get(pk=order.pk)
    if locked.status == Order.Status.DEPOSITED:
        raise ValidationError(f"Order {locked.number} is already deposited; its licenses move by transfer now.")
    if virtual_account is not None and virtual_account.smart_account_id != smart_account.pk:
        raise ValidationError({"virtual_account": f"{virtual_account.name} is not in {smart_account.name}."})
    locked.smart_account = smart_account
    locked.virtual_account = virtual_account
    locked.save(update_fields=["smart_account", "virtual_account"])
    return deposit_order(order=locked, actor=actor)


# --- CSV import ------------------------------------------------------------------------------------

ORDER_CSV_COLUMNS = (
    "order_number",
    "line_number",
    "sku",
    "quantity",
    "smart_account",
    "virtual_account",
    "ordered_by",
    "end_customer",
    "term_start",
    "term_end",
)
REQUIRED_COLUMNS = ("order_number", "sku", "quantity")
ORDER_LEVEL = ("smart_account", "virtual_account", "ordered_by", "end_customer")


@dataclass
class OrderImportResult:
    created: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already imported with the same lines
    deposited: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"{len(self.created)} order(s) imported ({len(self.deposited)} deposited, {len(self.held)} on "
            f"Smart Account hold); {len(self.skipped)} already imported, skipped."
        )


@dataclass
class _ParsedLine:
    row: int
    line_number: int
    sku: Sku
    quantity: int
    term_start: dt.date | None
    term_end: dt.date | None


@dataclass
class _ParsedOrder:
    number: str
    row: int
    header: dict
    account: SmartAccount | None = None
    virtual_account: VirtualAccount | None = None
    lines: list[_ParsedLine] = field(default_factory=list)


# The longest text each order column may hold (the model's columns; longer would not fit).
ORDER_TEXT_LIMITS = {
    "order_number": Order._meta.get_field("number").max_length,
    "ordered_by": Order._meta.get_field("ordered_by").max_length,
    "end_customer": Order._meta.get_field("end_customer").max_length,
    "sku": Sku._meta.get_field("code").max_length,
    "smart_account": SmartAccount._meta.get_field("domain").max_length,
    "virtual_account": VirtualAccount._meta.get_field("name").max_length,
}


def cell_problems(row: dict, row_number: int, limits: dict[str, int]) -> list[str]:
    """What makes a CSV row's cells unusable before any of it is looked up: a control character (NUL,
    which PostgreSQL refuses in text, included) in any cell, or a cell longer than its column."""
    problems = []
    for column, value in row.items():
        value = value or ""
        if has_control_characters(value):
            problems.append(
                f"line {row_number}: {column} contains a control character (such as NUL or a tab); remove it."
            )
        elif column in limits and len(value.strip()) > limits[column]:
            problems.append(
                f"line {row_number}: {column} is {len(value.strip())} characters long; at most {limits[column]} fit."
            )
    return problems


def whole_number(text: str, column: str, maximum: int, errors: list, row: int) -> int:
    """A CSV cell read as a whole number from 1 to `maximum` (ASCII digits only); 0 after noting an error."""
    text = (text or "").strip()
    number = parse_whole_number(text, maximum=maximum)
    if number is not None:
        return number
    if text.isascii() and text.isdigit() and (len(text.lstrip("0")) > len(str(maximum)) or int(text) > maximum):
        errors.append(f"line {row}: {column} {text} is more than the maximum, {maximum:,}.")
    else:
        errors.append(f"line {row}: {column} “{text}” is not a whole number above 0.")
    return 0


def _date(value: str, column: str, errors: list, row: int) -> dt.date | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        errors.append(f"line {row}: {column} “{value}” is not a date (use YYYY-MM-DD).")
        return None


def _parse_rows(rows: Iterable[tuple[int, dict]], progress: Callable) -> tuple[dict[str, _ParsedOrder], list[str]]:
    errors: list[str] = []
    orders: dict[str, _ParsedOrder] = {}
    rows = list(rows)
    skus = {s.code.upper(): s for s in Sku.objects.select_related("license")}
    domains = {(r.get("smart_account") or "").strip().lower() for _, r in rows} - {""}
    domains = {d for d in domains if not has_control_characters(d)}  # such rows are refused below, unread
    accounts = {a.domain.lower(): a for a in SmartAccount.objects.filter(domain__in=domains)}
    accounts.update({a.domain.lower(): a for a in _iexact_accounts(domains - accounts.keys())})
    for row_number, row in progress(rows, desc="Checking rows", unit="row"):
        unreadable = cell_problems(row, row_number, ORDER_TEXT_LIMITS)
        if unreadable:
            errors += unreadable
            continue
        missing = [c for c in REQUIRED_COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            errors.append(f"line {row_number}: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} empty.")
            continue
        number = row["order_number"].strip()
        header = {c: (row.get(c) or "").strip() for c in ORDER_LEVEL}
        order = orders.get(number)
        if order is None:
            order = orders[number] = _ParsedOrder(number=number, row=row_number, header=header)
            domain = header["smart_account"].lower()
            if domain:
                order.account = accounts.get(domain)
                if order.account is None:
                    errors.append(f"line {row_number}: no Smart Account has the domain “{header['smart_account']}”.")
                elif header["virtual_account"]:
                    order.virtual_account = (
                        live_virtual_accounts()
                        .filter(smart_account=order.account, name__iexact=header["virtual_account"])
                        .first()
                    )
                    if order.virtual_account is None:
                        errors.append(
                            f"line {row_number}: {order.account.name} has no Virtual Account named "
                            f"“{header['virtual_account']}”."
                        )
            elif header["virtual_account"]:
                errors.append(f"line {row_number}: a virtual_account needs the smart_account it belongs to.")
        elif header != order.header:
            differing = ", ".join(c for c in ORDER_LEVEL if header[c] != order.header[c])
            errors.append(
                f"line {row_number}: order {number} has a different {differing} than on line {order.row}; "
                "every line of an order names the same account, Virtual Account, buyer and end customer."
            )
        sku = skus.get(row["sku"].strip().upper())
        if sku is None:
            errors.append(f"line {row_number}: unknown SKU “{row['sku'].strip()}”.")
        quantity = whole_number(row["quantity"], "quantity", MAX_LINE_UNITS, errors, row_number)
        line_text = (row.get("line_number") or "").strip()
        if line_text:
            line_number = whole_number(line_text, "line_number", MAX_LINE_NUMBER, errors, row_number)
        else:
            line_number = max((ln.line_number for ln in order.lines), default=0) + 1
            if line_number > MAX_LINE_NUMBER:
                errors.append(f"line {row_number}: order {number} has more than {MAX_LINE_NUMBER:,} lines.")
                line_number = 0
        if line_number and any(ln.line_number == line_number for ln in order.lines):
            errors.append(f"line {row_number}: order {number} has line {line_number} twice.")
        start = _date(row.get("term_start", ""), "term_start", errors, row_number)
        end = _date(row.get("term_end", ""), "term_end", errors, row_number)
        if start and end and end <= start:
            errors.append(f"line {row_number}: term_end {end} is not after term_start {start}.")
        if sku is not None and sku.license.is_time_bound and not end and not sku.default_term_months:
            errors.append(f"line {row_number}: SKU {sku.code} has no default term; give a term_end.")
        if sku is not None and quantity and line_number:
            order.lines.append(_ParsedLine(row_number, line_number, sku, quantity, start, end))
    return orders, errors


def _iexact_accounts(domains: set[str]):
    if not domains:
        return []
    from django.db.models.functions import Lower

    return SmartAccount.objects.annotate(domain_lower=Lower("domain")).filter(domain_lower__in=domains)


def _same_order(existing: Order, parsed: _ParsedOrder) -> str | None:
    """None when the file's order matches the one already imported; else what differs."""
    if parsed.account is not None and existing.smart_account_id not in (None, parsed.account.pk):
        return "a different Smart Account"
    have = {(ln.line_number, ln.sku_id, ln.quantity) for ln in existing.lines.all()}
    want = {(ln.line_number, ln.sku.pk, ln.quantity) for ln in parsed.lines}
    return None if have == want else "different lines"


@transaction.atomic
def import_orders(
    *, rows: Iterable[tuple[int, dict]], actor=None, progress: Callable | None = None
) -> OrderImportResult:
    """Import orders from CSV rows ((file line number, {column: value})), all or nothing, then deposit them.

    Every row is checked before anything is written; any error refuses the whole file with the
    line numbers at fault. An order number already imported with the same lines is skipped, so
    importing a file twice imports nothing new; the same number with other lines is an error.
    A staff member named as `actor` needs the add permission on orders (the command runs without one).
    """
    if actor is not None:
        require_operator(actor, "licensing.add_order", "import orders")
    progress = progress or (lambda iterable, **kwargs: iterable)
    orders, errors = _parse_rows(rows, progress)
    existing = {
        o.number: o for o in Order.objects.filter(number__in=list(orders)).prefetch_related("lines")
    }  # fmt: skip
    for number, parsed in orders.items():
        if number in existing:
            differs = _same_order(existing[number], parsed)
            if differs:
                errors.append(
                    f"line {parsed.row}: order {number} was imported before with {differs}; "
                    "correct the file or change that order in the admin."
                )
    if errors:
        shown = errors[:25] + ([f"… and {len(errors) - 25} more."] if len(errors) > 25 else [])
        raise ValidationError(["Nothing was imported from this file."] + shown)
    result = OrderImportResult()
    for number, parsed in progress(list(orders.items()), desc="Importing orders", unit="order"):
        if number in existing:
            result.skipped.append(number)
            continue
        order = Order.objects.create(
            number=number,
            ordered_by=parsed.header["ordered_by"],
            end_customer=parsed.header["end_customer"],
            smart_account=parsed.account,
            virtual_account=parsed.virtual_account,
        )
        OrderLine.objects.bulk_create(
            [
                OrderLine(
                    order=order,
                    smart_account=parsed.account,
                    line_number=ln.line_number,
                    sku=ln.sku,
                    quantity=ln.quantity,
                    term_start=ln.term_start,
                    term_end=ln.term_end,
                )
                for ln in parsed.lines
            ]
        )
        result.created.append(number)
        try:
            deposit_order(order=order, actor=actor)
        except ValidationError as error:
            raise ValidationError([f"line {parsed.row}: order {number}: {m}" for m in error.messages]) from None
        (result.deposited if order.status == Order.Status.DEPOSITED else result.held).append(number)
    return result
