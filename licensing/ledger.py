"""Ledger primitives: the only code that changes lots, ledger entries and balances.

Services (`licensing.services` and the workflows built on it) compose these inside one
transaction. The rules that keep concurrent writers correct and deadlock-free:

1. Call `lock_balances` **once per transaction, first**, with every (VA, license) pair the
   transaction will touch. It creates missing balance rows (in sorted order) and then locks
   all of them in primary-key order, the order every writer uses; then, the same way, the
   per-account totals of those licenses (`LicenseAccountTotal`), which every balance change
   moves too. (A later call for a subset of the same pairs takes no new lock and is harmless.)
   A transfer of one license between two VAs of one account moves no total (what leaves one
   VA arrives in the other), only, sometimes, the count of short VAs: it locks the balances
   alone (`totals=False`), and `move_between_vas` updates that one total row, after the
   balances, only when the count changes; an UPDATE locks the row it changes, so the order
   (balances, then totals) holds, and two transfers of different licenses never wait on each other.
2. A VA's lots of a license, and its usage-derived `in_use`, change only while its balance
   row is locked; so lots need no locks of their own. Lots in transit (no VA) belong to a
   hand-over and change only while that hand-over's row is locked.
3. Every change of a lot's quantity writes a `LedgerEntry` for it; every balance change is
   made in the same transaction as the entries or usage behind it.
4. Product instance rows are locked *before* balance rows (`lock_instances`, pk order). An
   instance's usage, status and VA change only while its row is locked, so two writers can
   never both compute a usage difference from the same stale reading. `set_instance_usage`
   and `move_instance_usage` take these locks themselves (re-taking a lock the caller already
   holds is harmless), but a service that must lock instances and then call
   `lock_balances` directly has to lock the instances first, never the other way round.

The database refuses negative lots and balances (check constraints) whatever the code does.
Usage is bounded (`licensing.limits`): a device's count of a license, and an account's in use plus
reserved of a license, checked here under the locks (so the refusal is exact, `ValidationError` with
code `instance_usage_limit` or `account_usage_limit`); the columns that add counts up are 64-bit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from .limits import MAX_ACCOUNT_USAGE, MAX_INSTANCE_USAGE, account_usage_refusal, instance_usage_problem
from .models import (
    LedgerEntry,
    License,
    LicenseAccountTotal,
    LicenseBalance,
    LicenseLot,
    ProductInstance,
    ProductInstanceUsage,
)

__all__ = [
    "BalanceKey",
    "LockedBalances",
    "Portion",
    "add_to_va",
    "change_reserved",
    "expire_lot",
    "lock_balances",
    "lock_instances",
    "move_between_vas",
    "move_instance_usage",
    "new_movement",
    "put_in_transit",
    "rebuild_account_totals",
    "set_instance_usage",
    "set_instances_usage",
    "take_from_transit",
    "take_from_va",
]

BalanceKey = tuple[int, int]  # (virtual_account_id, license_id)


def new_movement() -> uuid.UUID:
    return uuid.uuid4()


def _statements(cursor, statements: list[tuple[str, list]]) -> None:
    """Run `statements` in order in one transaction; on PostgreSQL in one round trip (the cursor then
    holds the last statement's rows). Each statement still sees what committed before it started."""
    options = connection.settings_dict.get("OPTIONS", {})
    if connection.vendor == "postgresql" and not options.get("server_side_binding"):
        cursor.execute(";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params])
    else:
        for sql, params in statements:
            cursor.execute(sql, params)


def _for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


class LockedBalances(dict):
    """The locked balance rows, keyed by (virtual_account_id, license_id); `totals` holds what the locked
    account totals had in use and reserved, keyed by (smart_account_id, license_id) (empty when not locked)."""

    totals: dict[tuple[int, int], tuple[int, int]]


def _balance_rows(rows) -> LockedBalances:
    names = [f.attname for f in LicenseBalance._meta.concrete_fields]
    balances = (LicenseBalance.from_db(connection.alias, names, row) for row in rows)
    locked = LockedBalances({(b.virtual_account_id, b.license_id): b for b in balances})
    locked.totals = {}
    return locked


def lock_balances(pairs: Iterable[tuple[int, int, int]], *, totals: bool = True) -> LockedBalances:
    """Create missing balance rows and lock every requested one, in primary-key order.

    `pairs`: (smart_account_id, virtual_account_id, license_id) triples. Returns the locked
    rows keyed by (virtual_account_id, license_id). Then the per-account totals of those
    licenses are created and locked, unless `totals=False` (rule 1: a transfer inside one account);
    what they hold in use and reserved is in the result's `totals`.
    Two written-out statements, sent in one round trip on PostgreSQL (and one more for the totals):
    the insert of missing rows (`ON CONFLICT DO NOTHING`), then the locking read.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_balances must run inside transaction.atomic().")
    wanted = sorted({(int(a), int(v), int(lic)) for a, v, lic in pairs}, key=lambda t: (t[1], t[2]))
    if not wanted:
        return _balance_rows([])
    table = LicenseBalance._meta.db_table
    columns = ", ".join(f.column for f in LicenseBalance._meta.concrete_fields)
    insert = (
        f"INSERT INTO {table} (smart_account_id, virtual_account_id, license_id, purchased, in_use, reserved) "
        f"VALUES {', '.join(['(%s, %s, %s, 0, 0, 0)'] * len(wanted))} ON CONFLICT DO NOTHING"
    )
    select = (
        f"SELECT {columns} FROM {table} "
        f"WHERE {' OR '.join(['(virtual_account_id = %s AND license_id = %s)'] * len(wanted))} "
        f"ORDER BY id{_for_update()}"
    )
    with connection.cursor() as cursor:
        _statements(
            cursor,
            [
                (insert, [value for triple in wanted for value in triple]),
                (select, [value for _, v, lic in wanted for value in (v, lic)]),
            ],
        )
        locked = _balance_rows(cursor.fetchall())
    missing = {(v, lic) for _, v, lic in wanted} - locked.keys()
    if missing:  # pragma: no cover - would mean the insert above failed silently
        raise RuntimeError(f"Balance rows could not be created for {sorted(missing)}")
    if totals:
        locked.totals = _lock_totals({(a, lic) for a, _, lic in wanted})
    return locked


def _lock_totals(pairs: set[tuple[int, int]]) -> dict[tuple[int, int], tuple[int, int]]:
    """Create and lock the per-account totals of (account, license) pairs, after the balances, in pk order.
    Returns what each has in use and reserved."""
    wanted = sorted(pairs)
    table = LicenseAccountTotal._meta.db_table
    insert = (
        f"INSERT INTO {table} (smart_account_id, license_id, purchased, in_use, reserved, short_vas) "
        f"VALUES {', '.join(['(%s, %s, 0, 0, 0, 0)'] * len(wanted))} ON CONFLICT DO NOTHING"
    )
    select = (
        f"SELECT smart_account_id, license_id, in_use, reserved FROM {table} "
        f"WHERE {' OR '.join(['(smart_account_id = %s AND license_id = %s)'] * len(wanted))} "
        f"ORDER BY id{_for_update()}"
    )
    params = [value for pair in wanted for value in pair]
    with connection.cursor() as cursor:
        _statements(cursor, [(insert, params), (select, params)])
        return {(account, lic): (in_use, reserved) for account, lic, in_use, reserved in cursor.fetchall()}


def lock_instances(ids: Iterable[int]) -> dict[int, ProductInstance]:
    """Lock product instance rows in primary-key order and return them fresh from the database.

    Take these locks before `lock_balances` (rule 4). The rows are re-read, so the caller sees
    the VA and status another transaction may have committed a moment ago.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_instances must run inside transaction.atomic().")
    wanted = sorted({int(pk) for pk in ids})
    if not wanted:
        return {}
    rows = ProductInstance.objects.select_for_update().filter(pk__in=wanted).order_by("pk")
    return {row.pk: row for row in rows}


def _is_short(balance: LicenseBalance) -> bool:
    return balance.purchased < balance.in_use + balance.reserved


def _bump(balance: LicenseBalance, **deltas: int) -> None:
    """Apply deltas to a locked balance row, in the database and in memory, and to its account total."""
    deltas = {k: v for k, v in deltas.items() if v}
    if not deltas:
        return
    was_short = _is_short(balance)
    LicenseBalance.objects.filter(pk=balance.pk).update(**{k: F(k) + v for k, v in deltas.items()})
    for k, v in deltas.items():
        setattr(balance, k, getattr(balance, k) + v)
    changes = {k: F(k) + v for k, v in deltas.items()}
    short_change = int(_is_short(balance)) - int(was_short)
    if short_change:
        changes["short_vas"] = F("short_vas") + short_change
    LicenseAccountTotal.objects.filter(smart_account_id=balance.smart_account_id, license_id=balance.license_id).update(
        **changes
    )


def _actor(actor):
    return actor if actor is not None and getattr(actor, "is_authenticated", False) else None


def _entry(
    *,
    lot: LicenseLot | None,
    kind: str,
    quantity: int,
    movement,
    actor,
    smart_account_id: int,
    virtual_account_id: int | None,
    license_id: int,
    order_line=None,
    pak_line=None,
    hand_over=None,
    reservation=None,
    note: str = "",
) -> LedgerEntry:
    return LedgerEntry.objects.create(
        kind=kind,
        movement=movement,
        smart_account_id=smart_account_id,
        virtual_account_id=virtual_account_id,
        license_id=license_id,
        lot=lot,
        quantity=quantity,
        actor=_actor(actor),
        order_line_id=order_line.pk if order_line is not None else (lot.order_line_id if lot else None),
        pak_line_id=pak_line.pk if pak_line is not None else (lot.pak_line_id if lot else None),
        hand_over=hand_over,
        reservation=reservation,
        note=note[:255],
    )


def add_to_va(
    *,
    balance: LicenseBalance,
    quantity: int,
    kind: str,
    movement,
    actor=None,
    start_date: date | None = None,
    end_date: date | None = None,
    order_line=None,
    pak_line=None,
    hand_over=None,
    note: str = "",
) -> LicenseLot:
    """Put `quantity` licenses into the balance's VA as a lot (merged with an identical lot) and record it."""
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    lot = (
        LicenseLot.objects.filter(
            virtual_account_id=balance.virtual_account_id,
            license_id=balance.license_id,
            start_date=start_date,
            end_date=end_date,
            order_line=order_line,
            pak_line=pak_line,
            expired_at__isnull=True,
        )
        .order_by("pk")
        .first()
    )
    if lot is None:
        lot = LicenseLot.objects.create(
            smart_account_id=balance.smart_account_id,
            virtual_account_id=balance.virtual_account_id,
            license_id=balance.license_id,
            quantity=quantity,
            start_date=start_date,
            end_date=end_date,
            order_line=order_line,
            pak_line=pak_line,
        )
    else:
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") + quantity)
        lot.quantity += quantity
    _entry(
        lot=lot,
        kind=kind,
        quantity=quantity,
        movement=movement,
        actor=actor,
        smart_account_id=balance.smart_account_id,
        virtual_account_id=balance.virtual_account_id,
        license_id=balance.license_id,
        hand_over=hand_over,
        note=note,
    )
    _bump(balance, purchased=quantity)
    return lot


@dataclass(frozen=True)
class Portion:
    """Part of a lot taken out of a VA: enough to recreate it elsewhere with the same term and source."""

    lot: LicenseLot
    quantity: int

    @property
    def start_date(self):
        return self.lot.start_date

    @property
    def end_date(self):
        return self.lot.end_date

    @property
    def order_line(self):
        return self.lot.order_line

    @property
    def pak_line(self):
        return self.lot.pak_line


def take_from_va(
    *,
    balance: LicenseBalance,
    quantity: int,
    kind: str,
    movement,
    actor=None,
    allow_in_use: bool = False,
    hand_over=None,
    order_line=None,
    note: str = "",
) -> list[Portion]:
    """Take `quantity` licenses out of the balance's VA, longest term first, splitting lots.

    Refuses (ValueError) more than is available (purchased − in use − reserved) unless
    `allow_in_use`; callers turn that into a ValidationError naming the available number.
    `order_line` restricts the take to lots from that order line (partner hand-overs).
    """
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    if not allow_in_use and quantity > balance.available:
        raise ValueError(f"only {balance.available} available")
    lots = LicenseLot.objects.filter(
        virtual_account_id=balance.virtual_account_id, license_id=balance.license_id, quantity__gt=0
    ).select_related("order_line", "pak_line")
    if order_line is not None:
        lots = lots.filter(order_line=order_line)
    # Longest term first: perpetual (no end) before any end date, later ends before earlier ones.
    lots = lots.order_by(F("end_date").desc(nulls_first=True), "pk")
    portions: list[Portion] = []
    remaining = quantity
    for lot in lots:
        if remaining == 0:
            break
        taken = min(lot.quantity, remaining)
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") - taken)
        lot.quantity -= taken
        _entry(
            lot=lot,
            kind=kind,
            quantity=-taken,
            movement=movement,
            actor=actor,
            smart_account_id=balance.smart_account_id,
            virtual_account_id=balance.virtual_account_id,
            license_id=balance.license_id,
            hand_over=hand_over,
            note=note,
        )
        portions.append(Portion(lot=lot, quantity=taken))
        remaining -= taken
    if remaining:
        raise ValueError(f"the lots hold {quantity - remaining}, not {quantity}")
    _bump(balance, purchased=-quantity)
    return portions


def change_reserved(*, balance: LicenseBalance, quantity: int, movement, actor=None, reservation=None, note="") -> None:
    """Reserve (`quantity` > 0) or release (< 0) licenses of a VA, as a ledger entry."""
    if quantity == 0:
        return
    if quantity > 0 and quantity > balance.available:
        raise ValueError(f"only {balance.available} available")
    if quantity > 0:
        # The account total was locked with the balance (`lock_balances`): this read is exact.
        in_use, reserved = (
            LicenseAccountTotal.objects.filter(smart_account_id=balance.smart_account_id, license_id=balance.license_id)
            .values_list("in_use", "reserved")
            .first()
        ) or (0, 0)
        key = (balance.smart_account_id, balance.license_id)
        _refuse_past_account_maximum({key: quantity}, {key: (in_use, reserved)})
    _entry(
        lot=None,
        kind=LedgerEntry.Kind.RESERVATION if quantity > 0 else LedgerEntry.Kind.RELEASE,
        quantity=quantity,
        movement=movement,
        actor=actor,
        smart_account_id=balance.smart_account_id,
        virtual_account_id=balance.virtual_account_id,
        license_id=balance.license_id,
        reservation=reservation,
        note=note,
    )
    _bump(balance, reserved=quantity)


# --- Usage (in use by product instances) ---------------------------------------------------------


def _refuse_past_account_maximum(
    increases: dict[tuple[int, int], int], totals: dict[tuple[int, int], tuple[int, int]]
) -> None:
    """ValidationError (`account_usage_limit`) when an increase of in use + reserved ({(account, license):
    amount}) would take an account past `MAX_ACCOUNT_USAGE` of a license. `totals`: the locked totals."""
    for key, increase in sorted(increases.items()):
        in_use, reserved = totals.get(key, (0, 0))
        if increase > 0 and in_use + reserved + increase > MAX_ACCOUNT_USAGE:
            name = License.objects.filter(pk=key[1]).values_list("name", flat=True).first() or f"License {key[1]}"
            raise account_usage_refusal(name, in_use + reserved, increase)


def _refuse_past_instance_maximum(usage: dict[int, dict[int, int]]) -> None:
    for counts in usage.values():
        for lic, count in counts.items():
            if count > MAX_INSTANCE_USAGE or count < 0:
                name = License.objects.filter(pk=lic).values_list("name", flat=True).first() or f"License {lic}"
                raise ValidationError(instance_usage_problem(count, name), code="instance_usage_limit")


def set_instance_usage(instance: ProductInstance, usage: dict[int, int], *, replace: bool = True) -> dict[int, int]:
    """Make the instance's usage `usage` ({license_id: count}) and move `in_use` by the difference.

    `replace=True`: licenses not named drop to zero. Returns the deltas applied. Two queries when
    nothing changed (the instance locked, its usage read), the common case for a periodic report.
    An instance that is removed uses nothing. `set_instances_usage` does the same for many instances.
    """
    locked, deltas = _set_usage({instance.pk: usage}, replace=replace)
    # The locked row is the truth: another transaction may have moved or removed the instance.
    instance.smart_account_id, instance.virtual_account_id, instance.status = locked[instance.pk]
    return deltas.get(instance.pk, {})


def set_instances_usage(usage: dict[int, dict[int, int]], *, replace: bool = True) -> dict[int, dict[int, int]]:
    """`set_instance_usage` for many instances at once: `usage` is {instance id: {license_id: count}}.

    Set-based, whatever the number of instances: the instance rows locked in primary-key order
    (rule 4) and their usage read after the locks; the balances of every (VA, license) whose `in_use`
    moves, summed over the instances, locked with `lock_balances` (in primary-key order, then the
    account totals); then the usage rows, the balances and the totals written with one statement
    each, sent in one round trip on PostgreSQL. Returns the deltas applied, per instance that changed.
    """
    return _set_usage(usage, replace=replace)[1]


def _set_usage(usage: dict[int, dict[int, int]], *, replace: bool) -> tuple[dict, dict[int, dict[int, int]]]:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("set_instances_usage must run inside transaction.atomic().")
    wanted = {int(pk): {int(lic): int(count) for lic, count in counts.items()} for pk, counts in usage.items()}
    _refuse_past_instance_maximum(wanted)
    ids = sorted(wanted)
    if not ids:
        return {}, {}
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, smart_account_id, virtual_account_id, status FROM {ProductInstance._meta.db_table} "
            f"WHERE id IN ({marks}) ORDER BY id{_for_update()}",
            ids,
        )
        locked = {pk: (account, va, status) for pk, account, va, status in cursor.fetchall()}
        missing = [pk for pk in ids if pk not in locked]
        if missing:
            raise ValueError(f"product instance {missing[0]} does not exist")
        # Read after the locks: no other writer can change these instances' usage until we commit.
        cursor.execute(
            f"SELECT product_instance_id, license_id, count FROM {ProductInstanceUsage._meta.db_table} "
            f"WHERE product_instance_id IN ({marks})",
            ids,
        )
        current: dict[int, dict[int, int]] = {}
        for pk, lic, count in cursor.fetchall():
            current.setdefault(pk, {})[lic] = count

    applied: dict[int, dict[int, int]] = {}
    in_use: dict[tuple[int, int, int], int] = {}
    dropped, changed, added = [], [], []
    for pk in ids:
        account, va, status = locked[pk]
        now_used = current.get(pk, {})
        target = dict(now_used) if not replace else {}
        target.update(wanted[pk])
        target = {lic: count for lic, count in target.items() if count > 0}
        deltas = {lic: target.get(lic, 0) - now_used.get(lic, 0) for lic in now_used.keys() | target.keys()}
        deltas = {lic: delta for lic, delta in sorted(deltas.items()) if delta}
        if not deltas:
            continue
        applied[pk] = deltas
        for lic, delta in deltas.items():
            count = target.get(lic, 0)
            if count == 0:
                dropped.append((pk, lic))
            elif lic in now_used:
                changed.append((pk, lic, count))
            else:
                added.append((pk, lic, count))
            if status != ProductInstance.Status.REMOVED:
                in_use[(account, va, lic)] = in_use.get((account, va, lic), 0) + delta
    if not applied:
        return locked, {}

    in_use = {key: delta for key, delta in in_use.items() if delta}
    balances = lock_balances(in_use) if in_use else {}
    if in_use:
        increases: dict[tuple[int, int], int] = {}
        for (account, _, lic), delta in in_use.items():
            increases[(account, lic)] = increases.get((account, lic), 0) + delta
        _refuse_past_account_maximum(increases, balances.totals)
    now = ProductInstanceUsage._meta.get_field("updated_at").get_db_prep_save(timezone.now(), connection)
    table = ProductInstanceUsage._meta.db_table
    statements: list[tuple[str, list]] = []
    if dropped:
        statements.append(
            (
                f"DELETE FROM {table} WHERE "
                + " OR ".join(["(product_instance_id = %s AND license_id = %s)"] * len(dropped)),
                [value for pair in dropped for value in pair],
            )
        )
    if changed:
        statements.append(
            (
                f"UPDATE {table} SET updated_at = %s, count = CASE "
                + " ".join(["WHEN product_instance_id = %s AND license_id = %s THEN %s"] * len(changed))
                + " END WHERE "
                + " OR ".join(["(product_instance_id = %s AND license_id = %s)"] * len(changed)),
                [now, *(v for row in changed for v in row), *(v for pk, lic, _ in changed for v in (pk, lic))],
            )
        )
    if added:
        statements.append(
            (
                f"INSERT INTO {table} (product_instance_id, license_id, count, updated_at) VALUES "
                + ", ".join(["(%s, %s, %s, %s)"] * len(added)),
                [v for row in added for v in (*row, now)],
            )
        )
    if in_use:
        # What `_bump` does per balance, for all of them: `in_use` moves, and the account total by
        # the same amount, with its count of short VAs when a VA becomes (or stops being) short.
        totals: dict[tuple[int, int], list[int]] = {}
        for (account, va, lic), delta in in_use.items():
            balance = balances[(va, lic)]
            was_short = _is_short(balance)
            balance.in_use += delta
            moved = totals.setdefault((account, lic), [0, 0])
            moved[0] += delta
            moved[1] += int(_is_short(balance)) - int(was_short)
        by_id = sorted((balances[(va, lic)].pk, delta) for (_, va, lic), delta in in_use.items())
        statements.append(
            (
                f"UPDATE {LicenseBalance._meta.db_table} SET in_use = in_use + CASE id "
                + " ".join(["WHEN %s THEN %s"] * len(by_id))
                + f" END WHERE id IN ({', '.join(['%s'] * len(by_id))})",
                [*(v for row in by_id for v in row), *(pk for pk, _ in by_id)],
            )
        )
        keys = sorted(totals)
        condition = " ".join(["WHEN smart_account_id = %s AND license_id = %s THEN %s"] * len(keys))
        statements.append(
            (
                f"UPDATE {LicenseAccountTotal._meta.db_table} SET in_use = in_use + CASE {condition} END, "
                f"short_vas = short_vas + CASE {condition} END WHERE "
                + " OR ".join(["(smart_account_id = %s AND license_id = %s)"] * len(keys)),
                [
                    *(v for key in keys for v in (*key, totals[key][0])),
                    *(v for key in keys for v in (*key, totals[key][1])),
                    *(v for key in keys for v in key),
                ],
            )
        )
    with connection.cursor() as cursor:
        _statements(cursor, statements)
    return locked, applied


def move_instance_usage(instances: list[ProductInstance], target_virtual_account) -> None:
    """Move the usage of `instances` (all of one account) from their VAs to `target_virtual_account`.

    Call it before changing the instances' VA: the usage leaves the VA each instance is in now.
    Removed instances use nothing and are skipped.
    """
    locked = lock_instances(i.pk for i in instances)
    counted = [pk for pk, row in locked.items() if row.status != ProductInstance.Status.REMOVED]
    usage = list(
        ProductInstanceUsage.objects.filter(product_instance_id__in=counted).values_list(
            "product_instance__virtual_account_id", "license_id", "count"
        )
    )
    if not usage:
        return
    account_id = target_virtual_account.smart_account_id
    pairs = {(account_id, va, lic) for va, lic, _ in usage} | {
        (account_id, target_virtual_account.pk, lic) for _, lic, _ in usage
    }
    balances = lock_balances(pairs)
    moved: dict[BalanceKey, int] = {}
    for va, lic, count in usage:
        if va == target_virtual_account.pk:
            continue
        moved[(va, lic)] = moved.get((va, lic), 0) - count
        moved[(target_virtual_account.pk, lic)] = moved.get((target_virtual_account.pk, lic), 0) + count
    for key, delta in moved.items():
        _bump(balances[key], in_use=delta)


def _change_lots(deltas: dict[int, int]) -> tuple[str, list]:
    """One UPDATE adding `deltas` ({lot id: signed quantity}) to lots' quantities."""
    table = LicenseLot._meta.db_table
    if len(deltas) == 1:
        ((pk, delta),) = deltas.items()
        return f"UPDATE {table} SET quantity = quantity + %s WHERE id = %s", [delta, pk]
    cases, ids = " ".join(["WHEN %s THEN %s"] * len(deltas)), ", ".join(["%s"] * len(deltas))
    return (
        f"UPDATE {table} SET quantity = quantity + CASE id {cases} END WHERE id IN ({ids})",
        [value for item in deltas.items() for value in item] + list(deltas),
    )


_LOT_COLUMNS = ("id", "virtual_account_id", "quantity", "start_date", "end_date", "order_line_id", "pak_line_id")
_ENTRY_FIELDS = (
    "created_at",
    "kind",
    "movement",
    "smart_account",
    "virtual_account",
    "license",
    "lot",
    "quantity",
    "actor",
    "order_line",
    "pak_line",
    "note",
)


def move_between_vas(
    *,
    source: LicenseBalance,
    target: LicenseBalance,
    quantity: int,
    movement,
    actor=None,
    note: str = "",
) -> list[Portion]:
    """Move `quantity` available licenses from `source`'s VA to `target`'s VA (both locked, same license
    and account).

    Lots keep their term and source on the way: taken longest term first (perpetual before any end
    date, later ends first), split where a lot holds more than is left to take; each portion joins
    the target's identical live lot (same dates, order line and PAK line) or becomes a new lot there.
    One TRANSFER_OUT entry per lot taken from and one TRANSFER_IN per portion received, sharing
    `movement`. Both balances change in one statement; the account total only when the number of
    short VAs changes (rule 1). Nothing is created or lost.

    Set-based, with written-out statements: one read of both VAs' lots, then the writes in two
    round trips on PostgreSQL (one when no new lot is needed).
    """
    if source.license_id != target.license_id:
        raise ValueError("a transfer moves one license")
    if source.virtual_account_id == target.virtual_account_id:
        raise ValueError("source and target are the same Virtual Account")
    if source.smart_account_id != target.smart_account_id:
        raise ValueError("a transfer stays inside one account")
    if quantity <= 0:
        raise ValueError("quantity must be positive")
    if quantity > source.available:
        raise ValueError(f"only {source.available} available")
    lot_table, license_id = LicenseLot._meta.db_table, source.license_id
    columns = ", ".join(_LOT_COLUMNS)
    with connection.cursor() as cursor:
        # The source's live lots, longest term first; the target's unexpired lots (to merge into).
        # Both balance rows are locked, so neither VA's lots of this license can change meanwhile.
        cursor.execute(
            f"SELECT {columns} FROM {lot_table} WHERE virtual_account_id = %s AND license_id = %s AND quantity > 0 "
            "UNION ALL "
            f"SELECT {columns} FROM {lot_table} "
            "WHERE virtual_account_id = %s AND license_id = %s AND expired_at IS NULL "
            "ORDER BY end_date DESC NULLS FIRST, id",
            [source.virtual_account_id, license_id, target.virtual_account_id, license_id],
        )
        rows = cursor.fetchall()
        taken: list[tuple[tuple, int]] = []  # (source lot row, quantity taken from it)
        remaining = quantity
        for row in rows:
            if remaining == 0:
                break
            if row[1] == source.virtual_account_id:
                take = min(row[2], remaining)
                taken.append((row, take))
                remaining -= take
        if remaining:
            raise ValueError(f"the lots hold {quantity - remaining}, not {quantity}")
        # Where each portion goes: the target's identical unexpired lot with the lowest id, or a new lot.
        existing: dict[tuple, int] = {}
        for pk, va, _, start, end, order_line, pak_line in rows:
            if va == target.virtual_account_id:
                key = (start, end, order_line, pak_line)
                existing[key] = min(pk, existing.get(key, pk))
        arriving: dict[tuple, int] = {}
        for row, take in taken:
            arriving[row[3:7]] = arriving.get(row[3:7], 0) + take
        merged = {existing[key]: n for key, n in arriving.items() if key in existing}
        new = [(key, n) for key, n in arriving.items() if key not in existing]

        now = timezone.now()
        statements = [_change_lots({row[0]: -take for row, take in taken})]
        if merged:
            statements.append(_change_lots(merged))
        target_lots = {key: existing[key] for key in arriving if key in existing}
        if new:
            created = LicenseLot._meta.get_field("created_at").get_db_prep_save(now, connection)
            statements.append(
                (
                    f"INSERT INTO {lot_table} (smart_account_id, virtual_account_id, in_transit_id, license_id, "
                    "quantity, start_date, end_date, order_line_id, pak_line_id, term_months, expired_quantity, "
                    "expired_at, created_at) VALUES "
                    + ", ".join(["(%s, %s, NULL, %s, %s, %s, %s, %s, %s, NULL, 0, NULL, %s)"] * len(new))
                    + " RETURNING id, start_date, end_date, order_line_id, pak_line_id",
                    [
                        value
                        for (start, end, order_line, pak_line), n in new
                        for value in (
                            target.smart_account_id,
                            target.virtual_account_id,
                            license_id,
                            n,
                            start,
                            end,
                            order_line,
                            pak_line,
                            created,
                        )
                    ],
                )
            )
            _statements(cursor, statements)
            for pk, *key in cursor.fetchall():
                target_lots[tuple(key)] = pk
            statements = []

        # The entries: out of each source lot, then into the target lot of each portion.
        actor_id = getattr(_actor(actor), "pk", None)
        entry_rows = [
            (now, LedgerEntry.Kind.TRANSFER_OUT, movement, source.smart_account_id, source.virtual_account_id,
             license_id, row[0], -take, actor_id, row[5], row[6], note[:255])
            for row, take in taken
        ] + [
            (now, LedgerEntry.Kind.TRANSFER_IN, movement, target.smart_account_id, target.virtual_account_id,
             license_id, target_lots[row[3:7]], take, actor_id, row[5], row[6], note[:255])
            for row, take in taken
        ]  # fmt: skip
        fields = [LedgerEntry._meta.get_field(name) for name in _ENTRY_FIELDS]
        placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
        statements.append(
            (
                f"INSERT INTO {LedgerEntry._meta.db_table} ({', '.join(f.column for f in fields)}) "
                f"VALUES {', '.join([placeholders] * len(entry_rows))}",
                [
                    f.get_db_prep_save(value, connection)
                    for row in entry_rows
                    for f, value in zip(fields, row, strict=True)
                ],
            )
        )
        # Both balances in one statement; the account total only if a VA stops (or starts) being short.
        statements.append(
            (
                f"UPDATE {LicenseBalance._meta.db_table} SET purchased = purchased + "
                "CASE WHEN id = %s THEN %s ELSE %s END WHERE id IN (%s, %s)",
                [source.pk, -quantity, quantity, source.pk, target.pk],
            )
        )
        were_short = _is_short(source) + _is_short(target)
        source.purchased -= quantity
        target.purchased += quantity
        short_change = _is_short(source) + _is_short(target) - were_short
        if short_change:
            statements.append(
                (
                    f"UPDATE {LicenseAccountTotal._meta.db_table} SET short_vas = short_vas + %s "
                    "WHERE smart_account_id = %s AND license_id = %s",
                    [short_change, source.smart_account_id, license_id],
                )
            )
        _statements(cursor, statements)

    # The lots taken from, as they are now (their other fields load on first use).
    names = [f.attname for f in LicenseLot._meta.concrete_fields if f.attname in {*_LOT_COLUMNS, "license_id"}]
    portions = []
    for row, take in taken:
        values = {**dict(zip(_LOT_COLUMNS, row, strict=True)), "quantity": row[2] - take, "license_id": license_id}
        lot = LicenseLot.from_db(connection.alias, names, [values[name] for name in names])
        portions.append(Portion(lot=lot, quantity=take))
    return portions


def expire_lot(*, balance: LicenseBalance, lot: LicenseLot, movement, note: str = "") -> int:
    """Expire what is left of a term lot (its VA's balance locked): an EXPIRY entry, the lot emptied.

    Licenses in use stay in use, so the balance may go below zero (Insufficient): an expired
    term is a shortage to resolve, not usage to cut. Returns the quantity expired (0: nothing left).
    """
    if lot.virtual_account_id != balance.virtual_account_id or lot.license_id != balance.license_id:
        raise ValueError("the lot is not held under this balance")
    fresh = LicenseLot.objects.filter(pk=lot.pk).values_list("quantity", flat=True).first() or 0
    if fresh <= 0:
        return 0
    now = timezone.now()
    LicenseLot.objects.filter(pk=lot.pk).update(
        quantity=F("quantity") - fresh, expired_quantity=F("expired_quantity") + fresh, expired_at=now
    )
    lot.quantity = 0
    lot.expired_quantity += fresh
    lot.expired_at = now
    _entry(
        lot=lot,
        kind=LedgerEntry.Kind.EXPIRY,
        quantity=-fresh,
        movement=movement,
        actor=None,
        smart_account_id=balance.smart_account_id,
        virtual_account_id=balance.virtual_account_id,
        license_id=balance.license_id,
        note=note,
    )
    _bump(balance, purchased=-fresh)
    return fresh


# --- Lots in transit (a partner's pending hand-over) ---------------------------------------------


def put_in_transit(
    *, hand_over, portion: Portion, movement, actor=None, term_months: int | None = None, note: str = ""
) -> LicenseLot:
    """Put a portion taken from the partner's VA (`take_from_va`) in transit with `hand_over` (row locked).

    The transit lot has no VA, so it counts in no balance. `term_months`: the term starts when the
    customer accepts, so the lot carries its length instead of dates; otherwise it keeps the dates.
    """
    start, end = (None, None) if term_months else (portion.start_date, portion.end_date)
    source = portion.lot
    lot = (
        LicenseLot.objects.filter(
            in_transit=hand_over,
            license_id=source.license_id,
            order_line_id=source.order_line_id,
            pak_line_id=source.pak_line_id,
            term_months=term_months,
            start_date=start,
            end_date=end,
        )
        .order_by("pk")
        .first()
    )
    if lot is None:
        lot = LicenseLot.objects.create(
            smart_account_id=hand_over.partner_account_id,
            virtual_account=None,
            in_transit=hand_over,
            license_id=source.license_id,
            quantity=portion.quantity,
            start_date=start,
            end_date=end,
            term_months=term_months,
            order_line_id=source.order_line_id,
            pak_line_id=source.pak_line_id,
        )
    else:
        LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") + portion.quantity)
        lot.quantity += portion.quantity
    _entry(
        lot=lot,
        kind=LedgerEntry.Kind.HAND_OVER_OUT,
        quantity=portion.quantity,
        movement=movement,
        actor=actor,
        smart_account_id=hand_over.partner_account_id,
        virtual_account_id=None,
        license_id=source.license_id,
        hand_over=hand_over,
        note=note,
    )
    return lot


def take_from_transit(*, lot: LicenseLot, quantity: int, kind: str, movement, actor=None, note: str = "") -> None:
    """Take `quantity` out of a transit lot (its hand-over row locked), as the customer accepts it
    (HAND_OVER_IN) or it returns to the partner (HAND_OVER_RETURN); the caller adds it to a VA."""
    if lot.in_transit_id is None:
        raise ValueError("the lot is not in transit")
    if quantity <= 0 or quantity > lot.quantity:
        raise ValueError(f"the transit lot holds {lot.quantity}, not {quantity}")
    LicenseLot.objects.filter(pk=lot.pk).update(quantity=F("quantity") - quantity)
    lot.quantity -= quantity
    _entry(
        lot=lot,
        kind=kind,
        quantity=-quantity,
        movement=movement,
        actor=actor,
        smart_account_id=lot.smart_account_id,
        virtual_account_id=None,
        license_id=lot.license_id,
        hand_over=lot.in_transit,
        note=note,
    )


def rebuild_account_totals(*, smart_account_ids: Iterable[int] | None = None) -> int:
    """Recompute the per-account totals from the balances (all accounts, or those given).

    For bulk loaders that write balances without the ledger (benchmark estates, imports from
    another system); ordinary writers never need it. Locks the accounts' total rows while it
    works. Returns the number of total rows written.
    """
    from django.db.models import Count, Sum

    with transaction.atomic():
        balances = LicenseBalance.objects.order_by()
        totals = LicenseAccountTotal.objects.all()
        if smart_account_ids is not None:
            ids = list(smart_account_ids)
            balances, totals = balances.filter(smart_account_id__in=ids), totals.filter(smart_account_id__in=ids)
        list(totals.select_for_update().order_by("pk").values_list("pk"))
        totals.delete()
        rows = balances.values("smart_account_id", "license_id").annotate(
            p=Sum("purchased"),
            u=Sum("in_use"),
            r=Sum("reserved"),
            s=Count("pk", filter=Q(purchased__lt=F("in_use") + F("reserved"))),
        )
        made = LicenseAccountTotal.objects.bulk_create(
            [
                LicenseAccountTotal(
                    smart_account_id=row["smart_account_id"],
                    license_id=row["license_id"],
                    purchased=row["p"] or 0,
                    in_use=row["u"] or 0,
                    reserved=row["r"] or 0,
                    short_vas=row["s"] or 0,
                )
                for row in rows.iterator()
            ],
            batch_size=2000,
        )
    return len(made)

