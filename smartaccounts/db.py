"""Database-level guards that Django's ORM does not express, and one aggregate as a scalar subquery."""

from django.db import migrations
from django.db.models import QuerySet, Subquery, Value
from django.db.models.functions import Coalesce


def scalar(queryset: QuerySet, aggregate, default=None) -> Subquery | Coalesce:
    """One aggregate over a whole queryset, as a scalar subquery (no GROUP BY: a constant is not grouped on),
    so that several such numbers are read in one query. `default`: what an empty queryset gives (a SUM's NULL)."""
    subquery = Subquery(queryset.order_by().annotate(_all=Value(1)).values("_all").annotate(n=aggregate).values("n"))
    return subquery if default is None else Coalesce(subquery, default)


def append_only(table: str) -> migrations.RunPython:
    """A migration operation: on PostgreSQL, a trigger refuses UPDATE and DELETE on `table`.

    TRUNCATE (used only by test-suite flushes) is a statement, not a row change, and passes.
    """
    function = f"{table}_append_only"

    def forward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"""
            CREATE OR REPLACE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% rows are append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'restrict_violation';
            END;
            $$;
            CREATE TRIGGER {function}_guard BEFORE UPDATE OR DELETE ON {table}
                FOR EACH ROW EXECUTE FUNCTION {function}();
            """,
            params=None,
        )

    def backward(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        schema_editor.execute(
            f"DROP TRIGGER IF EXISTS {function}_guard ON {table}; DROP FUNCTION IF EXISTS {function}();"
        )

    return migrations.RunPython(forward, backward, elidable=False)
