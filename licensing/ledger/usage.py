"""Licenses in use by product instances, and reserved: the balances' `in_use` and `reserved`."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.utils import timezone

from .. import queries
from ..limits import MAX_ACCOUNT_USAGE, MAX_INSTANCE_USAGE, account_usage_refusal, instance_usage_problem
from ..models import LedgerEntry, License, LicenseAccountTotal, LicenseBalance, ProductInstance, ProductInstanceUsage
from .entries import BalanceKey, record_balance_entry
from .locks import LockedBalances, _require_transaction, lock_balances, lock_instances
from .totals import bump, total_changes


def _license_name(pk: int) -> str:
    return License.objects.filter(pk=pk).values_list("name", flat=True).first() or f"License {pk}"


def _refuse_past_account_maximum(
    increases: dict[tuple[int, int], int], totals: dict[tuple[int, int], tuple[int, int]]
) -> None:
    """ValidationError (`account_usage_limit`) when an increase of in use + reserved ({(account, license):
    amount}) would take an account past `MAX_ACCOUNT_USAGE` of a license. `totals`: the locked totals."""
    for key, increase in sorted(increases.items()):
        in_use, reserved = totals.get(key, (0, 0))
        if increase > 0 and in_use + reserved + increase > MAX_ACCOUNT_USAGE:
            raise account_usage_refusal(_license_name(key[1]), in_use + reserved, increase)


def _refuse_past_instance_maximum(usage: dict[int, dict[int, int]]) -> None:
    for counts in usage.values():
        for lic, count in counts.items():
            if count > MAX_INSTANCE_USAGE or count < 0:
                raise ValidationError(instance_usage_problem(count, _license_name(lic)), code="instance_usage_limit")


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
    record_balance_entry(
        balance,
        lot=None,
        kind=LedgerEntry.Kind.RESERVATION if quantity > 0 else LedgerEntry.Kind.RELEASE,
        quantity=quantity,
        movement=movement,
        actor=actor,
        reservation=reservation,
        note=note,
    )
    bump(balance, reserved=quantity)


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
    account totals); then the usage rows, the balances and the totals written (on PostgreSQL with one
    statement each, in one round trip: `licensing.queries.usage_writes`). Returns the deltas applied,
    per instance that changed.
    """
    return _set_usage(usage, replace=replace)[1]


@dataclass
class UsageChanges:
    """What setting instances' usage changes: per instance the deltas, the usage rows to delete (ids),
    change ({id: count}) and add, and the in-use deltas per (account, VA, license)."""

    applied: dict[int, dict[int, int]] = field(default_factory=dict)
    dropped: list[int] = field(default_factory=list)
    changed: dict[int, int] = field(default_factory=dict)
    added: list[tuple[int, int, int, int]] = field(default_factory=list)  # (instance, account, license, count)
    in_use: dict[tuple[int, int, int], int] = field(default_factory=dict)


def _lock_and_read(ids: list[int]) -> tuple[dict[int, tuple], dict[int, dict[int, tuple[int, int]]]]:
    """Lock the instances (pk order) and read their usage after the locks: ({id: (account, VA, status)},
    {id: {license: (usage row id, count)}})."""
    rows = (
        ProductInstance.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .values_list("pk", "smart_account_id", "virtual_account_id", "status")
    )
    locked = {pk: (account, va, status) for pk, account, va, status in rows}
    missing = [pk for pk in ids if pk not in locked]
    if missing:
        raise ValueError(f"product instance {missing[0]} does not exist")
    # Read after the locks: no other writer can change these instances' usage until we commit.
    current: dict[int, dict[int, tuple[int, int]]] = {}
    for row_id, pk, lic, count in ProductInstanceUsage.objects.filter(product_instance_id__in=ids).values_list(
        "pk", "product_instance_id", "license_id", "count"
    ):
        current.setdefault(pk, {})[lic] = (row_id, count)
    return locked, current


def _decide_usage(wanted, locked, current, *, replace: bool) -> UsageChanges:
    """The usage rows to write and the in-use deltas, from the wanted and the current counts."""
    changes = UsageChanges()
    for pk in sorted(wanted):
        account, va, status = locked[pk]
        rows = current.get(pk, {})
        now_used = {lic: count for lic, (_, count) in rows.items()}
        target = dict(now_used) if not replace else {}
        target.update(wanted[pk])
        target = {lic: count for lic, count in target.items() if count > 0}
        deltas = {lic: target.get(lic, 0) - now_used.get(lic, 0) for lic in now_used.keys() | target.keys()}
        deltas = {lic: delta for lic, delta in sorted(deltas.items()) if delta}
        if not deltas:
            continue
        changes.applied[pk] = deltas
        for lic, delta in deltas.items():
            count = target.get(lic, 0)
            if count == 0:
                changes.dropped.append(rows[lic][0])
            elif lic in rows:
                changes.changed[rows[lic][0]] = count
            else:
                changes.added.append((pk, account, lic, count))
            if status != ProductInstance.Status.REMOVED:
                key = (account, va, lic)
                changes.in_use[key] = changes.in_use.get(key, 0) + delta
    changes.in_use = {key: delta for key, delta in changes.in_use.items() if delta}
    return changes


def _write_usage(changes: UsageChanges, balances: LockedBalances) -> None:
    """Write the usage rows and move the balances' `in_use` and the account totals (rule 3)."""
    now = timezone.now()
    added = [ProductInstanceUsage(product_instance_id=pk, smart_account_id=account, license_id=lic, count=n,
                                  updated_at=now)
             for pk, account, lic, n in changes.added]  # fmt: skip
    moves = [(balances[(va, lic)], {"in_use": delta}) for (_, va, lic), delta in sorted(changes.in_use.items())]
    queries.perform(
        queries.usage_writes(
            dropped=changes.dropped,
            changed=changes.changed,
            added=added,
            updated_at=now,
            in_use={balance.pk: deltas["in_use"] for balance, deltas in moves},
            totals=total_changes(moves),
        )
    )


def _set_usage(usage: dict[int, dict[int, int]], *, replace: bool) -> tuple[dict, dict[int, dict[int, int]]]:
    """Lock and read, decide, lock the balances and check the account maxima, write."""
    _require_transaction("set_instances_usage")
    wanted = {int(pk): {int(lic): int(count) for lic, count in counts.items()} for pk, counts in usage.items()}
    _refuse_past_instance_maximum(wanted)
    if not wanted:
        return {}, {}
    locked, current = _lock_and_read(sorted(wanted))
    changes = _decide_usage(wanted, locked, current, replace=replace)
    if not changes.applied:
        return locked, {}
    balances = lock_balances(changes.in_use) if changes.in_use else LockedBalances()
    increases: dict[tuple[int, int], int] = {}
    for (account, _, lic), delta in changes.in_use.items():
        increases[(account, lic)] = increases.get((account, lic), 0) + delta
    _refuse_past_account_maximum(increases, getattr(balances, "totals", {}))
    _write_usage(changes, balances)
    return locked, changes.applied


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
        bump(balances[key], in_use=delta)
