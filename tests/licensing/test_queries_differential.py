"""The statements of `licensing.queries` against the readable reference, on generated ledgers (PostgreSQL).

On PostgreSQL the ledger batches its writes (`licensing.queries`); elsewhere each runs as one ORM call.
These tests generate small ledgers (lots with terms, expiry, order lines, balances across VAs, usage
making VAs short) and run the reference and the batched path on the same data, each in a savepoint
rolled back afterwards, and compare every lot, entry, balance and account total. The account totals
are also checked against `rebuild_account_totals`, which recomputes them from the balances.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import models, transaction
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from licensing import ledger, queries
from licensing.ledger import lots as ledger_lots
from licensing.models import (
    LedgerEntry,
    LicenseAccountTotal,
    LicenseBalance,
    LicenseLot,
    ProductInstance,
    ProductInstanceUsage,
)
from licensing.verification import verify_ledger
from tests.factories import make_va

from .helpers import make_license, make_order

pytestmark = pytest.mark.django_db

# Bounded; no shrinking (each example builds a ledger: shrinking a failure would take minutes).
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
ENDS = [None, dt.date(2027, 6, 30), dt.date(2028, 6, 30), dt.date(2030, 1, 1)]
STARTS = [None, dt.date(2026, 1, 1)]

lot_specs = st.lists(
    st.tuples(
        st.integers(1, 6),  # quantity
        st.sampled_from(STARTS),
        st.sampled_from(ENDS),
        st.sampled_from([None, 0, 1]),  # order line (index) or none
        st.booleans(),  # expired afterwards
    ),
    max_size=5,
)


ON_THIS_DATABASE = queries.in_use


class Rollback(Exception):
    pass


def _in_savepoint(work):
    """Run `work()` in a savepoint that is rolled back; return what it returned."""
    result = []
    try:
        with transaction.atomic():
            result.append(work())
            raise Rollback
    except Rollback:
        pass
    return result[0]


@pytest.fixture
def world(account, postgres):
    lic = make_license(license_type="term")
    order = make_order(account, [(lic, 1), (lic, 1)], deposit=False)
    lines = list(order.lines.order_by("line_number"))
    return account, make_va(account, "Source"), make_va(account, "Target"), lic, lines


def _fill(account, va, lic, lines, specs, in_use: int) -> None:
    movement = ledger.new_movement()
    for quantity, start, end, line, expired in specs:
        held = ledger.lock_balances([(account.pk, va.pk, lic.pk)])[(va.pk, lic.pk)]
        lot = ledger.add_to_va(
            balance=held,
            quantity=quantity,
            kind=LedgerEntry.Kind.DEPOSIT,
            movement=movement,
            start_date=start,
            end_date=end,
            order_line=None if line is None else lines[line],
        )
        if expired:
            ledger.expire_lot(balance=held, lot=lot, movement=movement)
    if in_use:
        device = ProductInstance.objects.create(
            smart_account=account, virtual_account=va, pid="C9300-48P", serial_number=f"FOC{va.pk}X{in_use}"
        )
        ledger.set_instance_usage(device, {lic.pk: in_use})


def ordered(rows) -> list:
    """Rows in a fixed order whatever their types (None among dates)."""
    return sorted(rows, key=repr)


def _ledger_state(account, lic, old_lots: set[int], movement) -> dict:
    """Everything a move can change; lots named by their order of creation (ids differ between runs)."""
    names = {pk: f"lot {n}" for n, pk in enumerate(sorted(old_lots))}  # ids differ between the runs

    def lot_name(pk):
        return names.get(pk, "new")

    lots = ordered(
        (lot_name(pk), *rest, expired_at is not None)
        for pk, *rest, expired_at in LicenseLot.objects.filter(license=lic).values_list(
            "pk", "virtual_account_id", "quantity", "start_date", "end_date", "order_line_id", "expired_at"
        )
    )
    entries = ordered(
        (kind, va, quantity, lot_name(lot), line, pak, note, entry_movement == movement, actor)
        for kind, va, quantity, lot, line, pak, note, entry_movement, actor in LedgerEntry.objects.filter(
            license=lic
        ).values_list(
            "kind",
            "virtual_account_id",
            "quantity",
            "lot_id",
            "order_line_id",
            "pak_line_id",
            "note",
            "movement",
            "actor",
        )
    )
    balances = ordered(
        LicenseBalance.objects.filter(license=lic).values_list("virtual_account_id", "purchased", "in_use", "reserved")
    )
    totals = list(
        LicenseAccountTotal.objects.filter(smart_account=account, license=lic).values_list(
            "purchased", "in_use", "reserved", "short_vas"
        )
    )
    return {"lots": lots, "entries": entries, "balances": balances, "totals": totals, "name": lot_name}


def _totals_as_rebuilt(account, lic) -> list:
    ledger.rebuild_account_totals(smart_account_ids=[account.pk])
    return list(
        LicenseAccountTotal.objects.filter(smart_account=account, license=lic).values_list(
            "purchased", "in_use", "reserved", "short_vas"
        )
    )


@pytest.mark.postgres
@BOUNDED
@given(
    source_lots=lot_specs,
    target_lots=lot_specs,
    source_in_use=st.integers(0, 4),
    target_in_use=st.integers(0, 8),
    wanted=st.integers(1, 20),
)
def test_a_transfer_written_set_based_equals_take_then_add(
    world, source_lots, target_lots, source_in_use, target_in_use, wanted
):
    account, source, target, lic, lines = world
    movement = ledger.new_movement()

    def run(move):
        def work():
            _fill(account, source, lic, lines, source_lots, source_in_use)
            _fill(account, target, lic, lines, target_lots, target_in_use)
            old_lots = set(LicenseLot.objects.values_list("pk", flat=True))
            pairs = [(account.pk, source.pk, lic.pk), (account.pk, target.pk, lic.pk)]
            balances = ledger.lock_balances(pairs)
            from_balance, to_balance = balances[(source.pk, lic.pk)], balances[(target.pk, lic.pk)]
            if from_balance.available < 1:
                return None
            quantity = min(wanted, from_balance.available)
            portions = move(
                source=from_balance, target=to_balance, quantity=quantity, movement=movement, actor=account.created_by
            )
            state = _ledger_state(account, lic, old_lots, movement)
            name = state.pop("name")
            state["portions"] = [(name(p.lot.pk), p.quantity, p.lot.quantity) for p in portions]
            state["rebuilt_totals"] = _totals_as_rebuilt(account, lic)
            return state

        return _in_savepoint(work)

    reference = run(ledger_lots.move_portion_by_portion)
    assume(reference is not None)
    batched = run(ledger.move_between_vas)
    assert batched == reference
    assert reference["totals"] == reference["rebuilt_totals"]


usage_maps = st.dictionaries(st.integers(0, 2), st.integers(0, 5), max_size=3)  # license index -> count


@pytest.mark.postgres
@BOUNDED
@given(
    before=st.lists(usage_maps, min_size=1, max_size=4),
    after=st.lists(usage_maps, min_size=1, max_size=4),
    removed=st.lists(st.booleans(), min_size=4, max_size=4),
    purchased=st.lists(st.integers(0, 4), min_size=3, max_size=3),
    replace=st.booleans(),
)
def test_many_instances_usage_batched_equals_one_orm_call_per_write(
    world, monkeypatch, before, after, removed, purchased, replace
):
    account, source, target, _, _ = world
    licenses = [make_license() for _ in range(3)]
    vas = [source, target]

    def run(batched: bool):
        def work():
            monkeypatch.setattr(queries, "in_use", lambda: batched)
            movement = ledger.new_movement()
            for n, lic in enumerate(licenses):
                if purchased[n]:
                    held = ledger.lock_balances([(account.pk, vas[n % 2].pk, lic.pk)])[(vas[n % 2].pk, lic.pk)]
                    ledger.add_to_va(balance=held, quantity=purchased[n], kind="deposit", movement=movement)
            devices = [
                ProductInstance.objects.create(
                    smart_account=account, virtual_account=vas[n % 2], pid="C9300-48P", serial_number=f"FOC{n}"
                )
                for n in range(len(before))
            ]
            ledger.set_instances_usage(
                {d.pk: {licenses[i].pk: c for i, c in before[n].items()} for n, d in enumerate(devices)}
            )
            for n, device in enumerate(devices):
                if removed[n]:  # as removing a device does: its usage leaves the balances first
                    ledger.set_instance_usage(device, {})
                    ProductInstance.objects.filter(pk=device.pk).update(status=ProductInstance.Status.REMOVED)
            new_usage = {
                d.pk: {licenses[i].pk: c for i, c in after[n].items()} for n, d in enumerate(devices) if n < len(after)
            }
            applied = ledger.set_instances_usage(new_usage, replace=replace)
            monkeypatch.setattr(queries, "in_use", ON_THIS_DATABASE)
            usage = ordered(
                (
                    devices.index(next(d for d in devices if d.pk == pk)),
                    licenses.index(next(x for x in licenses if x.pk == lic)),
                    count,
                )
                for pk, lic, count in ProductInstanceUsage.objects.filter(product_instance__in=devices).values_list(
                    "product_instance_id", "license_id", "count"
                )
            )
            balances = ordered(
                (va, licenses.index(next(x for x in licenses if x.pk == lic)), p, u, r)
                for va, lic, p, u, r in LicenseBalance.objects.filter(license__in=licenses).values_list(
                    "virtual_account_id", "license_id", "purchased", "in_use", "reserved"
                )
            )
            totals = ordered(
                (licenses.index(next(x for x in licenses if x.pk == lic)), *rest)
                for lic, *rest in LicenseAccountTotal.objects.filter(license__in=licenses).values_list(
                    "license_id", "purchased", "in_use", "reserved", "short_vas"
                )
            )
            differences = [str(d) for d in verify_ledger(smart_account=account)]
            applied = ordered(
                (
                    devices.index(next(d for d in devices if d.pk == pk)),
                    ordered(
                        (licenses.index(next(x for x in licenses if x.pk == lic)), delta)
                        for lic, delta in deltas.items()
                    ),
                )
                for pk, deltas in applied.items()
            )
            return {
                "usage": usage,
                "balances": balances,
                "totals": totals,
                "differences": differences,
                "applied": applied,
            }

        return _in_savepoint(work)

    reference = run(batched=False)
    assert run(batched=True) == reference
    assert reference["differences"] == []


@pytest.mark.postgres
@BOUNDED
@given(pairs=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), min_size=1, max_size=6), totals=st.booleans())
def test_balance_locks_batched_equal_the_orm(world, monkeypatch, pairs, totals):
    account, source, target, _, _ = world
    licenses = [make_license() for _ in range(3)]
    vas = [source, target]
    existing = {(0, 0), (1, 2)}

    def run(batched: bool):
        def work():
            for va, lic in existing:
                LicenseBalance.objects.create(
                    smart_account=account, virtual_account=vas[va], license=licenses[lic], purchased=3
                )
            monkeypatch.setattr(queries, "in_use", lambda: batched)
            locked = ledger.lock_balances(
                [(account.pk, vas[va].pk, licenses[lic].pk) for va, lic in pairs], totals=totals
            )
            monkeypatch.setattr(queries, "in_use", ON_THIS_DATABASE)
            name = {(v.pk, x.pk): (i, j) for i, v in enumerate(vas) for j, x in enumerate(licenses)}
            return (
                ordered(
                    (name[key], b.purchased, b.in_use, b.reserved, b.smart_account_id) for key, b in locked.items()
                ),
                ordered(
                    ((account_id == account.pk, licenses.index(next(x for x in licenses if x.pk == lic))), value)
                    for (account_id, lic), value in locked.totals.items()
                ),
                LicenseBalance.objects.filter(license__in=licenses).count(),
            )

        return _in_savepoint(work)

    assert run(batched=True) == run(batched=False)


def test_a_new_lot_column_is_written_by_every_batched_insert():
    """Adding a column to LicenseLot (or an entry) needs no edit of a statement: the inserts name every column."""
    for model in (LicenseLot, LedgerEntry, LicenseBalance, LicenseAccountTotal, ProductInstanceUsage):
        probe = models.IntegerField(default=4242)
        probe.contribute_to_class(model, "probe_column")
        try:
            text, params = queries.insert([model()])
            assert "probe_column" in text and 4242 in params, model
            written = {f.column for f in model._meta.concrete_fields if not f.primary_key}
            assert all(column in text for column in written), model
        finally:
            model._meta.local_fields.remove(probe)
            model._meta._expire_cache()
            delattr(model, "probe_column")
