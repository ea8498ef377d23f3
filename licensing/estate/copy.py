"""Bulk loading with PostgreSQL COPY, driven by the Django models.

`CopyWriter(model)` buffers rows and streams them with `COPY … FROM STDIN` in batches. Columns
are the model's concrete fields (generated columns excluded); a value not given takes the
field's default, so a field added to a model later is filled without touching the generator.
Primary keys are given by the caller from ranges reserved with `reserve_ids`, so rows can refer
to each other before they are written.
"""

from __future__ import annotations

import io
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

from django.db import connection, models
from django.db.models.fields import NOT_PROVIDED

_MISSING = object()


def copy_text(value) -> str:
    """`value` as a field of PostgreSQL COPY text format."""
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list):
        value = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, uuid.UUID | Decimal | int | float):
        return str(value)
    value = str(value)
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


class CopyWriter:
    def __init__(self, model: type[models.Model], batch_rows: int = 50_000, ids: bool = False):
        """`ids`: the caller gives primary keys (from `reserve_ids`); otherwise the database numbers rows."""
        self.model = model
        self.fields = [
            f
            for f in model._meta.concrete_fields
            if not isinstance(f, models.GeneratedField) and (ids or not f.primary_key)
        ]
        self.columns = [f.column for f in self.fields]
        self.attnames = [f.attname for f in self.fields]
        self.batch_rows = batch_rows
        self.buffer = io.StringIO()
        self.pending = 0
        self.written = 0
        self._defaults = {}
        for f in self.fields:
            if f.default is not NOT_PROVIDED and not callable(f.default):
                self._defaults[f.attname] = f.default
            elif f.default is not NOT_PROVIDED:
                self._defaults[f.attname] = _MISSING  # callable: evaluated per row
            elif f.null:
                self._defaults[f.attname] = None
            elif getattr(f, "blank", False) and isinstance(f, models.CharField | models.TextField):
                self._defaults[f.attname] = ""

    def add(self, **values) -> None:
        out = []
        for f, name in zip(self.fields, self.attnames, strict=True):
            if name in values:
                value = values[name]
            elif name in self._defaults:
                value = self._defaults[name]
                if value is _MISSING:
                    value = f.get_default()
            else:
                raise KeyError(f"{self.model.__name__}.{name} has no default: give a value")
            out.append(copy_text(value))
        self.buffer.write("\t".join(out))
        self.buffer.write("\n")
        self.pending += 1
        if self.pending >= self.batch_rows:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.buffer.seek(0)
        table = connection.ops.quote_name(self.model._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in self.columns)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", self.buffer)
        self.written += self.pending
        self.pending = 0
        self.buffer = io.StringIO()


def reserve_ids(model: type[models.Model], count: int) -> int:
    """Reserve `count` consecutive primary keys of `model`; returns the first."""
    table = model._meta.db_table
    pk = model._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} IN EXCLUSIVE MODE")
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [table, pk])
        sequence = cursor.fetchone()[0]
        cursor.execute(f"SELECT COALESCE(MAX({pk}), 0) FROM {connection.ops.quote_name(table)}")
        current_max = cursor.fetchone()[0]
        cursor.execute("SELECT last_value, is_called FROM " + sequence)
        last_value, is_called = cursor.fetchone()
        start = max(current_max, last_value if is_called else last_value - 1) + 1
        cursor.execute("SELECT setval(%s, %s, true)", [sequence, start + count - 1])
    return start
