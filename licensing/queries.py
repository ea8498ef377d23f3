"""The ledger's statements sent together, for the two paths a benchmark needs on PostgreSQL.

- Concurrent license transfers (`ledger.move_between_vas`, the target is 200 transfers/s): the
  balance locks are taken with the insert of missing rows in one round trip, and a transfer's writes
  (lots, new lots, entries, balances, the count of short VAs) go in one or two round trips.
- Ingestion (`ledger.set_instances_usage`): the usage rows, the balances' `in_use` and the account
  totals of any number of instances are written in a fixed number of statements, in one round trip.

Nothing here decides anything: the readable code in `licensing.ledger` computes what changes (which
lots, which merge targets, which totals and short VAs) and runs it through the ORM on every database
but PostgreSQL; on PostgreSQL it hands the same decisions to these functions. Every statement is
compiled by the ORM from querysets and model instances (tables, columns and defaults come from the
models), and a differential test (tests/licensing/test_queries_differential.py) runs both paths on
the same generated ledgers and compares the results.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

from django.db import connection
from django.db.models import Case, F, Model, Q, QuerySet, Value, When, sql
from django.db.models.constants import OnConflict

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


# --- Statements compiled from the ORM ------------------------------------------------------------


def select(queryset: QuerySet) -> Statement:
    return queryset.query.get_compiler(queryset.db).as_sql()


def insert(objs: Iterable[Model], *, ignore_conflicts: bool = False, returning: Sequence[str] = ()) -> Statement:
    """INSERT of `objs` (one model) with every concrete column but the primary key, as `bulk_create` writes it."""
    objs = list(objs)
    opts = type(objs[0])._meta
    fields = [f for f in opts.concrete_fields if not f.generated and not f.primary_key]
    query = sql.InsertQuery(type(objs[0]), on_conflict=OnConflict.IGNORE if ignore_conflicts else None)
    query.insert_values(fields, objs)
    compiler = query.get_compiler(connection.alias)
    compiler.returning_fields = [opts.get_field(name) for name in returning] or None
    (statement,) = compiler.as_sql()
    return statement


def update(queryset: QuerySet, **values) -> Statement:
    query = queryset.query.chain(sql.UpdateQuery)
    query.add_update_values(values)
    return query.get_compiler(queryset.db).as_sql()


def delete(queryset: QuerySet) -> Statement:
    query = queryset.query.clone()
    query.__class__ = sql.DeleteQuery
    return query.get_compiler(queryset.db).as_sql()


def _add_by_pk(model, field: str, deltas: dict[int, int]):
    """`field` + the delta of each row's primary key (`deltas`: {pk: delta})."""
    whens = (When(pk=pk, then=Value(delta)) for pk, delta in deltas.items())
    return F(field) + Case(*whens, default=Value(0), output_field=model._meta.get_field(field))


def _add_by_total(field: str, totals: dict[tuple[int, int], dict[str, int]]):
    return F(field) + Case(
        *(
            When(Q(smart_account_id=account, license_id=lic), then=Value(moved.get(field, 0)))
            for (account, lic), moved in totals.items()
        ),
        default=Value(0),
        output_field=LicenseAccountTotal._meta.get_field(field),
    )


def _totals_of(keys: Iterable[tuple[int, int]]) -> QuerySet:
    condition = Q()
    for account, lic in keys:
        condition |= Q(smart_account_id=account, license_id=lic)
    return LicenseAccountTotal.objects.filter(condition)


# --- The rules' statements -----------------------------------------------------------------------


def create_and_lock(missing: list[Model], locking: QuerySet) -> list[tuple]:
    """Balance rows (or account totals) created where missing and then locked: the rows of `locking`
    (a `select_for_update` queryset in primary-key order), in one round trip."""
    return run([insert(missing, ignore_conflicts=True), select(locking)])


class Write(NamedTuple):
    """One statement: `op` ("insert", "update" or "delete") on `target` (model instances to insert, or a
    queryset), with `values` for an update."""

    op: str
    target: QuerySet | list
    values: dict | None = None

    def execute(self) -> None:
        """Through the ORM, one statement (the reference path)."""
        if self.op == "insert":
            type(self.target[0]).objects.bulk_create(self.target)
        elif self.op == "update":
            self.target.update(**self.values)
        else:
            self.target.delete()

    def statement(self) -> Statement:
        if self.op == "insert":
            return insert(self.target)
        if self.op == "update":
            return update(self.target, **self.values)
        return delete(self.target)


def perform(writes: list[Write]) -> None:
    """The writes in order: on PostgreSQL in one round trip, elsewhere one ORM call each."""
    writes = [w for w in writes if w.op != "insert" or w.target]
    if not writes:
        return
    if in_use():
        run([w.statement() for w in writes])
    else:
        for w in writes:
            w.execute()


def account_total_writes(totals: dict[tuple[int, int], dict[str, int]]) -> list[Write]:
    """The account totals moved by what `ledger.totals.total_changes` computed, in one UPDATE."""
    totals = {key: moved for key, moved in totals.items() if moved}
    if not totals:
        return []
    fields = sorted({field for moved in totals.values() for field in moved})
    return [Write("update", _totals_of(sorted(totals)), {field: _add_by_total(field, totals) for field in fields})]


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
        Write(
            "update",
            LicenseLot.objects.filter(pk__in=sorted(lot_deltas)),
            {"quantity": _add_by_pk(LicenseLot, "quantity", lot_deltas)},
        ),
        Write("insert", entries),
        Write(
            "update",
            LicenseBalance.objects.filter(pk__in=sorted(purchased)),
            {"purchased": _add_by_pk(LicenseBalance, "purchased", purchased)},
        ),
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
        writes.append(Write("delete", ProductInstanceUsage.objects.filter(pk__in=sorted(dropped))))
    if changed:
        counts = Case(
            *(When(pk=pk, then=Value(count)) for pk, count in changed.items()),
            default=F("count"),
            output_field=ProductInstanceUsage._meta.get_field("count"),
        )
        writes.append(
            Write(
                "update",
                ProductInstanceUsage.objects.filter(pk__in=sorted(changed)),
                {"count": counts, "updated_at": updated_at},
            )
        )
    if added:
        writes.append(Write("insert", added))
    if in_use:
        writes.append(
            Write(
                "update",
                LicenseBalance.objects.filter(pk__in=sorted(in_use)),
                {"in_use": _add_by_pk(LicenseBalance, "in_use", in_use)},
            )
        )
    return writes + account_total_writes(totals)
