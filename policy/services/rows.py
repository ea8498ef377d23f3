"""Written-out statements for the ingestion: rows read, inserted and updated in bulk.

A usage report is a handful of small rows in several tables; built one by one through the ORM's
query compiler they cost more CPU than the database spends storing them. `Statements` collects
INSERTs and UPDATEs built once per table and column set, with values adapted as the model fields
adapt them (JSON, UUIDs and datetimes reach the database exactly as the ORM would send them), and
runs them in order: on PostgreSQL as ONE round trip (several statements in one query string;
each statement still sees what the ones before it wrote), elsewhere (SQLite) one by one. On
PostgreSQL an INSERT of many rows (a batch) is sent as `COPY … FROM STDIN` instead: about half the
server time of a long `VALUES` list, which PostgreSQL has to parse and plan.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from functools import cache

from django.db import connection, models

# SQLite refuses statements with too many parameters; PostgreSQL takes any number.
SQLITE_ROWS_PER_STATEMENT = 200
# From this many rows an INSERT goes as COPY on PostgreSQL (below it the extra round trip costs more).
COPY_FROM_ROWS = 50


def postgres() -> bool:
    return connection.vendor == "postgresql"


def one_round_trip() -> bool:
    """Whether several statements can go in one query string (psycopg's client-side binding)."""
    return postgres() and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding")


def in_list(pg: bool, column: str, values: Sequence) -> tuple[str, list]:
    """`column` is one of `values` (not empty): `= ANY(array)` on PostgreSQL (`pg`: planned once whatever
    the number of values), `IN (...)` elsewhere; `column = value` for one value (a statement prepared
    once per connection then keeps one generic plan: PostgreSQL cannot tell how long an array
    parameter will be, and plans an `= ANY` again for each call)."""
    if len(values) == 1:
        return f"{column} = %s", list(values)
    if pg:
        return f"{column} = ANY(%s)", [list(values)]
    return f"{column} IN ({', '.join(['%s'] * len(values))})", list(values)


@cache
def _adapters(model: type[models.Model], names: tuple[str, ...], vendor: str) -> tuple[str, list[Callable]]:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    adapters = []
    for field in fields:
        if vendor == "postgresql" and not isinstance(field, models.JSONField):
            # psycopg adapts ints, strings, booleans, aware datetimes and UUIDs itself, as Django does.
            adapters.append(None)
        else:
            adapters.append(lambda value, field=field: field.get_db_prep_save(value, connection))
    return ", ".join(quote(f.column) for f in fields), adapters


def _adapted(model, names: tuple[str, ...], rows: Iterable[Sequence]) -> tuple[str, list[list]]:
    columns, adapters = _adapters(model, names, connection.vendor)
    if all(a is None for a in adapters):
        return columns, [list(row) for row in rows]
    return columns, [[v if a is None else a(v) for a, v in zip(adapters, row, strict=True)] for row in rows]


@cache
def _cast(model: type[models.Model], name: str) -> str:
    """The SQL type a value of VALUES is cast to before it is assigned to the column (PostgreSQL)."""
    field = model._meta.get_field(name)
    if isinstance(field, models.CharField | models.TextField):
        return ""  # a string literal is assigned as text; the column checks its length
    return field.db_type(connection)


def _copy_value(value) -> str:
    """A value in COPY's text format (what psycopg would send for it in an INSERT)."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    if isinstance(value, int | uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value)
    elif not isinstance(value, str):
        raise TypeError(f"no COPY text for {type(value).__name__}")
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class Statements:
    """INSERTs and UPDATEs run in order by `run()`: on PostgreSQL in one round trip (plus one per COPY)."""

    def __init__(self):
        self.pg = postgres()
        self.items: list[tuple[str, list | io.StringIO]] = []

    def add(self, sql: str, params: list) -> None:
        self.items.append((sql, params))

    def insert(
        self, model: type[models.Model], names: tuple[str, ...], rows: list[Sequence], *, ignore_conflicts=False
    ) -> None:
        """INSERT `rows` (tuples of values in the order of `names`), many rows per statement.

        `ignore_conflicts`: a row that breaks a unique constraint is skipped (as `bulk_create` does)."""
        if not rows:
            return
        table = connection.ops.quote_name(model._meta.db_table)
        if self.pg and not ignore_conflicts and len(rows) >= COPY_FROM_ROWS:
            columns, _ = _adapters(model, names, connection.vendor)
            text = io.StringIO()
            text.writelines("\t".join(map(_copy_value, row)) + "\n" for row in rows)
            text.seek(0)
            self.items.append((f"COPY {table} ({columns}) FROM STDIN", text))
            return
        columns, values = _adapted(model, names, rows)
        placeholder = "(" + ", ".join(["%s"] * len(names)) + ")"
        size = len(values) if self.pg else SQLITE_ROWS_PER_STATEMENT
        for start in range(0, len(values), size):
            chunk = values[start : start + size]
            head = "INSERT INTO"
            tail = ""
            if ignore_conflicts:
                if self.pg:
                    tail = " ON CONFLICT DO NOTHING"
                else:
                    head = "INSERT OR IGNORE INTO"
            self.add(
                f"{head} {table} ({columns}) VALUES {', '.join([placeholder] * len(chunk))}{tail}",
                [v for row in chunk for v in row],
            )

    def update(self, model: type[models.Model], names: tuple[str, ...], rows: list[Sequence]) -> None:
        """UPDATE rows by primary key: each row is (pk, *values in the order of `names`).

        On PostgreSQL one `UPDATE … FROM (VALUES …)` for all rows; elsewhere one UPDATE per row."""
        if not rows:
            return
        quote = connection.ops.quote_name
        table = quote(model._meta.db_table)
        pk = quote(model._meta.pk.column)
        columns, values = _adapted(model, (model._meta.pk.name, *names), rows)
        targets = [quote(model._meta.get_field(name).column) for name in names]
        if self.pg:
            aliases = [f"c{i}" for i in range(len(names))]
            assignments = ", ".join(
                f"{target} = CAST(v.{alias} AS {_cast(model, name)})" if _cast(model, name) else f"{target} = v.{alias}"
                for target, alias, name in zip(targets, aliases, names, strict=True)
            )
            placeholder = "(" + ", ".join(["%s"] * (len(names) + 1)) + ")"
            self.add(
                f"UPDATE {table} AS t SET {assignments} FROM (VALUES {', '.join([placeholder] * len(values))}) "
                f"AS v(pk, {', '.join(aliases)}) WHERE t.{pk} = v.pk",
                [v for row in values for v in row],
            )
            return
        assignments = ", ".join(f"{target} = %s" for target in targets)
        for row in values:
            self.add(f"UPDATE {table} SET {assignments} WHERE {pk} = %s", [*row[1:], row[0]])

    def run(self) -> None:
        together = one_round_trip()
        with connection.cursor() as cursor:
            batch: list[tuple[str, list]] = []

            def flush():
                if batch:
                    cursor.execute(";\n".join(sql for sql, _ in batch), [p for _, params in batch for p in params])
                    batch.clear()

            for sql, params in self.items:
                if isinstance(params, io.StringIO):
                    flush()
                    cursor.copy_expert(sql, params)
                elif together:
                    batch.append((sql, params))
                else:
                    cursor.execute(sql, params)
            flush()
        self.items = []


def insert_returning(model: type[models.Model], names: tuple[str, ...], row: Sequence) -> int:
    """INSERT one row and return its primary key (where ids cannot be reserved beforehand: SQLite)."""
    columns, (values,) = _adapted(model, names, [row])
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(names))}) "
            f"RETURNING {quote(model._meta.pk.column)}",
            values,
        )
        return cursor.fetchone()[0]


def reserve_ids(model: type[models.Model], count: int) -> str:
    """A SELECT (PostgreSQL) giving `count` new primary keys of `model` from its sequence, one per row."""
    table, column = model._meta.db_table, model._meta.pk.column
    return f"SELECT nextval(pg_get_serial_sequence('{table}', '{column}')) FROM generate_series(1, {int(count)})"
