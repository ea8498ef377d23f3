"""Plain row writes for the ingestion hot path.

A report is a dozen small statements; building each one through the ORM's query compiler costs
more than running it. These helpers write one table's rows with a statement built once per column
set, and adapt every value with the model field's own `get_db_prep_save`, so JSON, UUIDs,
datetimes and foreign keys reach the database exactly as the ORM would send them. Callers pass
every column without a database default (model defaults are not applied here). The `RETURNING`
clause works on PostgreSQL and SQLite ≥ 3.35.
"""

from __future__ import annotations

from functools import cache

from django.db import connection, models


@cache
def _columns(model: type[models.Model], names: tuple[str, ...]) -> tuple[list, str]:
    fields = [model._meta.get_field(name) for name in names]
    quote = connection.ops.quote_name
    return fields, ", ".join(quote(f.column) for f in fields)


def insert(model: type[models.Model], values: dict) -> int:
    """INSERT one row; returns its primary key."""
    names = tuple(values)
    fields, columns = _columns(model, names)
    params = [f.get_db_prep_save(values[n], connection) for f, n in zip(fields, names, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
            f"VALUES ({', '.join(['%s'] * len(fields))}) RETURNING {connection.ops.quote_name(model._meta.pk.column)}",
            params,
        )
        return cursor.fetchone()[0]


def insert_many(model: type[models.Model], rows: list[dict]) -> None:
    """INSERT several rows with the same columns in one statement."""
    if not rows:
        return
    names = tuple(rows[0])
    fields, columns = _columns(model, names)
    params = [f.get_db_prep_save(row[n], connection) for row in rows for f, n in zip(fields, names, strict=True)]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) "
            f"VALUES {', '.join([placeholders] * len(rows))}",
            params,
        )


def update(model: type[models.Model], pk, values: dict) -> int:
    """UPDATE one row by primary key; returns the number of rows changed (0 or 1)."""
    names = tuple(values)
    fields, _ = _columns(model, names)
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    params = [f.get_db_prep_save(values[n], connection) for f, n in zip(fields, names, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s",
            [*params, pk],
        )
        return cursor.rowcount
