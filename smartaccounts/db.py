"""Database-level guards that Django's ORM does not express."""

from django.db import migrations


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
