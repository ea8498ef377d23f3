"""The ledger's statements sent together, for the two paths a benchmark needs on PostgreSQL.

- Concurrent license transfers (`ledger.move_between_vas`, the target is 200 transfers/s): the
  balance locks are taken with the insert of missing rows in one round trip, and a transfer's writes
  (lots, new lots, entries, balances, the count of short VAs) go in one or two round trips.
- Ingestion (`ledger.set_instances_usage`): the usage rows, the balances' `in_use` and the account
  totals of any number of instances are written in a fixed number of statements, in one round trip.

Nothing here decides anything: the readable code in `licensing.ledger` computes what changes (which
lots, which merge targets, which totals and short VAs). Each write here has two forms: `execute()`,
one ORM call (the reference, run on every database but PostgreSQL), and `statement()`, its text, sent
with its siblings in one round trip on PostgreSQL. Tables and columns come from the models' `_meta`,
and inserts name every concrete column, so a new column needs no edit here. A differential test
(tests/licensing/test_queries_differential.py) runs both forms on the same generated ledgers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from django.db import connection
from django.db.models import Case, F, Model, Q, Value, When

from .models import LedgerEntry, LicenseAccountTotal, LicenseBalance, LicenseLot, ProductInstanceUsage

Statement = tuple[str, Sequence]


def in_use() -> bool:
    """Whether the statements here run (PostgreSQL); elsewhere the ledger's ORM reference runs."""
    return connection.vendor == "postgresql"


def run(statements: list[Statement]) -> list[tuple]:
    """Run `statements` in order, in one round trip when the driver allows it; the last one's rows."""
    statements = [(text, list(params)) for text, params in statements if text]
    options = connection.settings_dict.get("OPTIONS", {})
    with connection.cursor() as cursor:
        if not options.get("server_side_binding"):
            cursor.execute(";\n".join(text for text, _ in statements), [p for _, params in statements for p in params])
        else:  # pragma: no cover - server-side binding takes one statement at a time
            for text, params in statements:
                cursor.execute(text, params)
        return cursor.fetchall() if cursor.description else []


# --- Names from the models -----------------------------------------------------------------------
# Built as text (the ORM's compiler costs more than the statement on this path), but every table and
# column comes from the models' _meta, and an insert names every concrete column.


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _table(model) -> str:
    return _q(model._meta.db_table)


def _column(model, name: str) -> str:
    return _q(model._meta.get_field(name).column)


def _pk(model) -> str:
    return _q(model._meta.pk.column)


def _marks(n: int) -> str:
    return ", ".join(["%s"] * n)


def insert(objs: Iterable[Model], *, ignore_conflicts: bool = False) -> Statement:
    """INSERT of `objs` (one model) with every concrete column but the primary key, as `bulk_create` writes
    them (defaults applied, values prepared by each field)."""
    objs = list(objs)
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.generated and not f.primary_key]
    row = "(" + _marks(len(fields)) + ")"
    text = (
        f"INSERT INTO {_table(model)} ({', '.join(_q(f.column) for f in fields)}) VALUES {', '.join([row] * len(objs))}"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    return text, [f.get_db_prep_save(f.pre_save(obj, True), connection) for obj in objs for f in fields]


def _matching(model, match: Sequence[str], keys: Sequence[tuple]) -> Statement:
    one = "(" + " AND ".join(f"{_column(model, name)} = %s" for name in match) + ")"
    return " OR ".join([one] * len(keys)), [value for key in keys for value in key]


def _matching_q(match: Sequence[str], keys: Sequence[tuple]) -> Q:
    condition = Q()
    for key in keys:
        condition |= Q(**dict(zip(match, key, strict=True)))
    return condition


def create(objs: list[Model]) -> None:
    """Insert `objs` (one model) and set their primary keys: one INSERT ... RETURNING on PostgreSQL."""
    if not in_use():
        type(objs[0]).objects.bulk_create(objs)
        return
    text, params = insert(objs)
    for obj, (pk,) in zip(objs, run([(f"{text} RETURNING {_pk(type(objs[0]))}", params)]), strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, connection.alias


def lots_for_transfer(columns: Sequence[str], source, target) -> list[tuple]:
    """The source VA's lots of the license that hold anything and the target VA's unexpired ones (the
    balances locked), longest term first: `ledger.lots.LONGEST_TERM_FIRST`, written for PostgreSQL."""
    model = LicenseLot
    va, lic, end, pk = (_column(model, name) for name in ("virtual_account", "license", "end_date", "id"))
    names = ", ".join(_column(model, name) for name in columns)
    select = f"SELECT {names} FROM {_table(model)} WHERE {va} = %s AND {lic} = %s"
    text = (
        f"{select} AND {_column(model, 'quantity')} > 0 UNION ALL "
        f"{select} AND {_column(model, 'expired_at')} IS NULL ORDER BY {end} DESC NULLS FIRST, {pk}"
    )
    return run([(text, [source.virtual_account_id, source.license_id, target.virtual_account_id, target.license_id])])


# --- Locks ---------------------------------------------------------------------------------------


def create_and_lock(missing: list[Model], columns: Sequence[str], match: Sequence[str]) -> list[tuple]:
    """Rows created where missing (`missing`: one unsaved instance per row wanted), then every wanted row
    locked in primary-key order and its `columns` read, matched on the `match` fields. On PostgreSQL in one
    round trip; elsewhere through the ORM."""
    model = type(missing[0])
    keys = [tuple(getattr(obj, name) for name in match) for obj in missing]
    if not in_use():
        model.objects.bulk_create(missing, ignore_conflicts=True)
        locking = model.objects.select_for_update().filter(_matching_q(match, keys)).order_by("pk")
        return list(locking.values_list(*columns))
    where, params = _matching(model, match, keys)
    select = (
        f"SELECT {', '.join(_column(model, name) for name in columns)} FROM {_table(model)} "
        f"WHERE {where} ORDER BY {_pk(model)} FOR UPDATE"
    )
    return run([insert(missing, ignore_conflicts=True), (select, params)])


# --- Writes --------------------------------------------------------------------------------------


class Write(ABC):
    """One statement: `execute()` runs it through the ORM (the reference), `statement()` is its text."""

    @abstractmethod
    def execute(self) -> None:
        """Write through the ORM (the reference; what SQLite runs)."""

    @abstractmethod
    def statement(self) -> Statement:
        """The same write as one SQL statement and its parameters (what PostgreSQL runs, batched)."""


@dataclass
class AddByPk(Write):
    """`field` of each row moved by its delta ({pk: delta})."""

    model: type
    field: str
    deltas: dict[int, int]

    def execute(self) -> None:
        whens = [When(pk=pk, then=Value(delta)) for pk, delta in self.deltas.items()]
        output = self.model._meta.get_field(self.field)
        self.model.objects.filter(pk__in=sorted(self.deltas)).update(
            **{self.field: F(self.field) + Case(*whens, default=Value(0), output_field=output)}
        )

    def statement(self) -> Statement:
        column, pk = _column(self.model, self.field), _pk(self.model)
        return (
            f"UPDATE {_table(self.model)} SET {column} = {column} + CASE {pk} "
            + " ".join(["WHEN %s THEN %s"] * len(self.deltas))
            + f" END WHERE {pk} IN ({_marks(len(self.deltas))})",
            [*(v for item in self.deltas.items() for v in item), *self.deltas],
        )


@dataclass
class SetByPk(Write):
    """`field` of each row set to its value ({pk: value}), and the `also` fields to one value each."""

    model: type
    field: str
    values: dict[int, int]
    also: dict = dataclass_field(default_factory=dict)

    def execute(self) -> None:
        whens = [When(pk=pk, then=Value(value)) for pk, value in self.values.items()]
        output = self.model._meta.get_field(self.field)
        self.model.objects.filter(pk__in=sorted(self.values)).update(
            **{self.field: Case(*whens, default=F(self.field), output_field=output)}, **self.also
        )

    def statement(self) -> Statement:
        pk = _pk(self.model)
        fields = {name: self.model._meta.get_field(name) for name in self.also}
        sets = "".join(f", {_q(f.column)} = %s" for f in fields.values())
        return (
            f"UPDATE {_table(self.model)} SET {_column(self.model, self.field)} = CASE {pk} "
            + " ".join(["WHEN %s THEN %s"] * len(self.values))
            + f" END{sets} WHERE {pk} IN ({_marks(len(self.values))})",
            [
                *(v for item in self.values.items() for v in item),
                *(f.get_db_prep_save(self.also[name], connection) for name, f in fields.items()),
                *self.values,
            ],
        )


@dataclass
class Insert(Write):
    objs: list

    def execute(self) -> None:
        type(self.objs[0]).objects.bulk_create(self.objs)

    def statement(self) -> Statement:
        return insert(self.objs)


@dataclass
class DeleteByPk(Write):
    model: type
    pks: list[int]

    def execute(self) -> None:
        self.model.objects.filter(pk__in=self.pks).delete()

    def statement(self) -> Statement:
        pk = _pk(self.model)
        return f"DELETE FROM {_table(self.model)} WHERE {pk} IN ({_marks(len(self.pks))})", list(self.pks)


@dataclass
class AddToAccountTotals(Write):
    """The account totals moved by what `ledger.totals.total_changes` computed ({(account, license):
    {field: delta}}), in one UPDATE."""

    totals: dict[tuple[int, int], dict[str, int]]

    def _fields(self) -> list[str]:
        return sorted({name for moved in self.totals.values() for name in moved})

    def execute(self) -> None:
        values = {}
        for name in self._fields():
            whens = [
                When(Q(smart_account_id=account, license_id=lic), then=Value(moved.get(name, 0)))
                for (account, lic), moved in self.totals.items()
            ]
            output = LicenseAccountTotal._meta.get_field(name)
            values[name] = F(name) + Case(*whens, default=Value(0), output_field=output)
        match = ("smart_account_id", "license_id")
        LicenseAccountTotal.objects.filter(_matching_q(match, sorted(self.totals))).update(**values)

    def statement(self) -> Statement:
        model, keys = LicenseAccountTotal, sorted(self.totals)
        account, lic = _column(model, "smart_account"), _column(model, "license")
        when = f"WHEN {account} = %s AND {lic} = %s THEN %s"
        sets, params = [], []
        for name in self._fields():
            column = _column(model, name)
            sets.append(f"{column} = {column} + CASE {' '.join([when] * len(keys))} ELSE 0 END")
            params += [v for key in keys for v in (*key, self.totals[key].get(name, 0))]
        where, where_params = _matching(model, ("smart_account_id", "license_id"), keys)
        return f"UPDATE {_table(model)} SET {', '.join(sets)} WHERE {where}", params + where_params


def perform(writes: list[Write]) -> None:
    """The writes in order: on PostgreSQL in one round trip, elsewhere one ORM call each."""
    if not writes:
        return
    if in_use():
        run([w.statement() for w in writes])
    else:
        for w in writes:
            w.execute()


def account_total_writes(totals: dict[tuple[int, int], dict[str, int]]) -> list[Write]:
    totals = {key: moved for key, moved in totals.items() if moved}
    return [AddToAccountTotals(totals)] if totals else []


# --- The rules' statements -----------------------------------------------------------------------


def transfer_writes(
    *,
    lot_deltas: dict[int, int],
    entries: list[LedgerEntry],
    purchased: dict[int, int],
    totals: dict[tuple[int, int], dict[str, int]],
) -> list[Write]:
    """What a transfer between two VAs writes once its lots are chosen: the lots' quantities, the
    entries, both balances' `purchased` and the account total's count of short VAs (when it moves)."""
    return [
        AddByPk(LicenseLot, "quantity", lot_deltas),
        Insert(entries),
        AddByPk(LicenseBalance, "purchased", purchased),
        *account_total_writes(totals),
    ]


def usage_writes(
    *,
    dropped: list[int],
    changed: dict[int, int],
    added: list[ProductInstanceUsage],
    updated_at,
    in_use: dict[int, int],
    totals: dict[tuple[int, int], dict[str, int]],
) -> list[Write]:
    """What setting many instances' usage writes, in a fixed number of statements: usage rows deleted
    (`dropped` ids), changed ({id: count}) and added; balances' `in_use` ({balance id: delta}); totals."""
    writes: list[Write] = []
    if dropped:
        writes.append(DeleteByPk(ProductInstanceUsage, sorted(dropped)))
    if changed:
        writes.append(SetByPk(ProductInstanceUsage, "count", changed, {"updated_at": updated_at}))
    if added:
        writes.append(Insert(added))
    if in_use:
        writes.append(AddByPk(LicenseBalance, "in_use", in_use))
    return writes + account_total_writes(totals)
