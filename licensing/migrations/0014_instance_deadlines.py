"""The reporting deadline and status move from the wide instance row to a narrow table of their own.

`licensing_instancedeadline` holds one row per product instance: its deadline, status and when the
status changed (the deadline evaluation's output), plus copies of the instance's account, VA and
whether it is removed (what the materialised counts and the tenant scope need). Writing a deadline
then rewrites a short row with two index entries (mostly in place: fillfactor), not the instance row
with its dozen indexes.

Triggers keep it whole, whatever writes the instances (ORM, bulk_create, raw SQL, COPY):
- an instance inserted gets its row (status "not required", no deadline);
- an instance whose account, VA or status changes carries the change to its row;
- on PostgreSQL, a row deleted while its instance lives fails the transaction at commit (deferred
  constraint trigger), so every instance has its row when a transaction ends;
- the instance counts (`licensing_instancecount`, 0010) are kept from this table: the same
  statement-level folding on PostgreSQL, row triggers on SQLite.
"""

import django.db.models.deletion
from django.db import migrations, models

INSTANCE = "licensing_productinstance"
DEADLINE = "licensing_instancedeadline"
COUNT = "licensing_instancecount"
COUNT_OPS = ("insert", "delete", "update")
# Rows updated in place where they can (HOT): a deadline that moves without its status changing leaves
# both indexes alone.
FILLFACTOR = 70

# --- PostgreSQL ------------------------------------------------------------------------------------------

PG_APPLY = f"""
WITH delta AS ({{deltas}}),
folded AS (
    DELETE FROM {COUNT} c
    WHERE c.id IN (
        SELECT m.id FROM {COUNT} m
        JOIN delta d ON m.smart_account_id = d.sa AND m.virtual_account_id = d.va AND m.reporting_status = d.rs
        FOR UPDATE OF m SKIP LOCKED
    )
    RETURNING c.smart_account_id AS sa, c.virtual_account_id AS va, c.reporting_status AS rs, c.count AS n
)
INSERT INTO {COUNT} (smart_account_id, virtual_account_id, reporting_status, count)
SELECT sa, va, rs, SUM(n) FROM (SELECT sa, va, rs, n FROM delta UNION ALL SELECT sa, va, rs, n FROM folded) t
GROUP BY sa, va, rs HAVING SUM(n) <> 0
"""
LIVE = "NOT removed"
KEY = "smart_account_id AS sa, virtual_account_id AS va, reporting_status AS rs"
PG_DELTAS = {
    "insert": f"SELECT {KEY}, COUNT(*) AS n FROM new_rows WHERE {LIVE} GROUP BY 1, 2, 3",
    "delete": f"SELECT {KEY}, -COUNT(*) AS n FROM old_rows WHERE {LIVE} GROUP BY 1, 2, 3",
    # Rows whose key and liveness did not change cancel out before anything is grouped.
    "update": f"SELECT sa, va, rs, SUM(n) AS n FROM ("
    f"SELECT {KEY}, -1 AS n FROM old_rows WHERE {LIVE} UNION ALL "
    f"SELECT {KEY}, 1 FROM new_rows WHERE {LIVE}"
    f") s GROUP BY 1, 2, 3 HAVING SUM(n) <> 0",
}
PG_REFERENCING = {
    "insert": "REFERENCING NEW TABLE AS new_rows",
    "delete": "REFERENCING OLD TABLE AS old_rows",
    "update": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
}
PG_FOLLOW = {
    "insert": f"""
INSERT INTO {DEADLINE} (instance_id, smart_account_id, virtual_account_id, removed, reporting_status)
SELECT id, smart_account_id, virtual_account_id, status = 'removed', 'not_required' FROM new_rows
""",
    # Only the instances whose account, VA or status changed reach the deadline table.
    "update": f"""
UPDATE {DEADLINE} d
SET smart_account_id = n.smart_account_id, virtual_account_id = n.virtual_account_id,
    removed = n.status = 'removed'
FROM new_rows n JOIN old_rows o ON o.id = n.id
WHERE d.instance_id = n.id
  AND (o.smart_account_id, o.virtual_account_id, o.status) IS DISTINCT FROM
      (n.smart_account_id, n.virtual_account_id, n.status)
""",
}
PG_KEEP_ROW = f"""
CREATE OR REPLACE FUNCTION {DEADLINE}_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
IF EXISTS (SELECT 1 FROM {INSTANCE} WHERE id = OLD.instance_id) THEN
    RAISE EXCEPTION 'product instance % has no deadline row', OLD.instance_id USING ERRCODE = 'integrity_constraint_violation';
END IF;
RETURN NULL;
END;
$$
"""


def _pg_function(name: str, body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{body};\nRETURN NULL;\nEND;\n$$"


def create_pg_triggers(schema_editor) -> None:
    for op in COUNT_OPS:  # the 0010 triggers on the instances: replaced by the same on this table
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {COUNT}_{op} ON {INSTANCE}", params=None)
        schema_editor.execute(_pg_function(f"{COUNT}_{op}", PG_APPLY.format(deltas=PG_DELTAS[op])), params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {COUNT}_{op} AFTER {op.upper()} ON {DEADLINE} {PG_REFERENCING[op]} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {COUNT}_{op}()",
            params=None,
        )
    for op, body in PG_FOLLOW.items():
        schema_editor.execute(_pg_function(f"{DEADLINE}_follow_{op}", body), params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {DEADLINE}_follow_{op} AFTER {op.upper()} ON {INSTANCE} {PG_REFERENCING[op]} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {DEADLINE}_follow_{op}()",
            params=None,
        )
    schema_editor.execute(PG_KEEP_ROW, params=None)
    schema_editor.execute(
        f"CREATE CONSTRAINT TRIGGER {DEADLINE}_kept AFTER DELETE ON {DEADLINE} DEFERRABLE INITIALLY DEFERRED "
        f"FOR EACH ROW EXECUTE FUNCTION {DEADLINE}_kept()",
        params=None,
    )
    schema_editor.execute(f"ALTER TABLE {DEADLINE} SET (fillfactor = {FILLFACTOR})", params=None)


def drop_pg_triggers(schema_editor) -> None:
    for op in COUNT_OPS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {COUNT}_{op} ON {DEADLINE}", params=None)
    for op in PG_FOLLOW:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {DEADLINE}_follow_{op} ON {INSTANCE}", params=None)
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {DEADLINE}_follow_{op}()", params=None)
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {DEADLINE}_kept ON {DEADLINE}", params=None)
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {DEADLINE}_kept()", params=None)


# --- SQLite (development and the test suite): row triggers -----------------------------------------------

SQLITE_KEY = (
    "smart_account_id = {r}.smart_account_id AND virtual_account_id = {r}.virtual_account_id "
    "AND reporting_status = {r}.reporting_status"
)


def _sqlite_add(row: str, n: int) -> str:
    key = SQLITE_KEY.format(r=row)
    return (
        f"UPDATE {COUNT} SET count = count + ({n}) WHERE {key} AND NOT {row}.removed;"
        f"INSERT INTO {COUNT} (smart_account_id, virtual_account_id, reporting_status, count) "
        f"SELECT {row}.smart_account_id, {row}.virtual_account_id, {row}.reporting_status, {n} "
        f"WHERE NOT {row}.removed AND NOT EXISTS (SELECT 1 FROM {COUNT} WHERE {key});"
    )


SQLITE_COUNT_TRIGGERS = {
    "insert": ("AFTER INSERT", _sqlite_add("NEW", 1)),
    "delete": ("AFTER DELETE", _sqlite_add("OLD", -1)),
    "update": (
        "AFTER UPDATE OF smart_account_id, virtual_account_id, removed, reporting_status",
        _sqlite_add("OLD", -1) + _sqlite_add("NEW", 1),
    ),
}
SQLITE_FOLLOW_TRIGGERS = {
    "insert": (
        "AFTER INSERT",
        f"INSERT INTO {DEADLINE} (instance_id, smart_account_id, virtual_account_id, removed, reporting_status) "
        "VALUES (NEW.id, NEW.smart_account_id, NEW.virtual_account_id, NEW.status = 'removed', 'not_required');",
    ),
    "update": (
        "AFTER UPDATE OF smart_account_id, virtual_account_id, status",
        f"UPDATE {DEADLINE} SET smart_account_id = NEW.smart_account_id, "
        "virtual_account_id = NEW.virtual_account_id, removed = NEW.status = 'removed' "
        "WHERE instance_id = NEW.id AND (smart_account_id IS NOT NEW.smart_account_id "
        "OR virtual_account_id IS NOT NEW.virtual_account_id OR removed IS NOT (NEW.status = 'removed'));",
    ),
}


def create_sqlite_follow_triggers(schema_editor) -> None:
    """On the instances: created after the columns are dropped (SQLite rebuilds the table, losing its triggers)."""
    for op, (when, body) in SQLITE_FOLLOW_TRIGGERS.items():
        schema_editor.execute(
            f"CREATE TRIGGER IF NOT EXISTS {DEADLINE}_follow_{op} {when} ON {INSTANCE} FOR EACH ROW BEGIN {body} END",
            params=None,
        )


# --- The steps -------------------------------------------------------------------------------------------

BACKFILL = f"""
INSERT INTO {DEADLINE} (instance_id, smart_account_id, virtual_account_id, removed, next_due_at, reporting_status,
                        reporting_status_changed_at)
SELECT id, smart_account_id, virtual_account_id, status = 'removed', next_due_at, reporting_status,
       reporting_status_changed_at
FROM {INSTANCE}
"""
BACKFILL_BACK_PG = f"""
UPDATE {INSTANCE} i SET next_due_at = d.next_due_at, reporting_status = d.reporting_status,
    reporting_status_changed_at = d.reporting_status_changed_at
FROM {DEADLINE} d WHERE d.instance_id = i.id
"""
BACKFILL_BACK_SQLITE = f"""
UPDATE {INSTANCE} SET (next_due_at, reporting_status, reporting_status_changed_at) = (
    SELECT next_due_at, reporting_status, reporting_status_changed_at FROM {DEADLINE} d
    WHERE d.instance_id = {INSTANCE}.id)
"""


def move_out(apps, schema_editor):
    """The deadlines copied into the new table (the counts stay as they are: the same numbers), and the
    count triggers moved to it."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(f"LOCK TABLE {INSTANCE} IN SHARE ROW EXCLUSIVE MODE", params=None)
    elif vendor != "sqlite":
        raise RuntimeError(f"Instance deadlines have no triggers for {vendor}.")
    schema_editor.execute(BACKFILL, params=None)
    if vendor == "postgresql":
        create_pg_triggers(schema_editor)
        schema_editor.execute(f"ANALYZE {DEADLINE}", params=None)
        return
    for op, (when, body) in SQLITE_COUNT_TRIGGERS.items():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {COUNT}_{op}", params=None)
        schema_editor.execute(
            f"CREATE TRIGGER {COUNT}_{op} {when} ON {DEADLINE} FOR EACH ROW BEGIN {body} END", params=None
        )


def move_back(apps, schema_editor):
    """Unapplying: the deadlines back on the instances, the 0010 count triggers back on them, counts rebuilt."""
    import importlib

    counts = importlib.import_module("licensing.migrations.0010_instance_counts")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        drop_pg_triggers(schema_editor)
        schema_editor.execute(BACKFILL_BACK_PG, params=None)
    else:
        for op in COUNT_OPS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {COUNT}_{op}", params=None)
        schema_editor.execute(BACKFILL_BACK_SQLITE, params=None)
    schema_editor.execute(f"DELETE FROM {COUNT}", params=None)
    counts.create_triggers(apps, schema_editor)


def follow_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        create_sqlite_follow_triggers(schema_editor)


def unfollow_on_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for op in SQLITE_FOLLOW_TRIGGERS:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {DEADLINE}_follow_{op}", params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("licensing", "0013_quantity_maxima"),
        ("smartaccounts", "0004_event_action_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="InstanceDeadline",
            fields=[
                (
                    "instance",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="deadline",
                        serialize=False,
                        to="licensing.productinstance",
                    ),
                ),
                ("removed", models.BooleanField(default=False)),
                ("next_due_at", models.DateTimeField(blank=True, null=True)),
                (
                    "reporting_status",
                    models.CharField(
                        choices=[
                            ("ok", "OK"),
                            ("due_soon", "Due soon"),
                            ("overdue", "Overdue"),
                            ("not_required", "Not required"),
                        ],
                        default="not_required",
                        max_length=12,
                    ),
                ),
                ("reporting_status_changed_at", models.DateTimeField(blank=True, null=True)),
                (
                    "smart_account",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="smartaccounts.smartaccount",
                    ),
                ),
                (
                    "virtual_account",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="smartaccounts.virtualaccount",
                    ),
                ),
            ],
            options={
                "indexes": [
                    models.Index(fields=["smart_account", "reporting_status"], name="deadline_account_reporting")
                ],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("reporting_status__in", ["ok", "due_soon", "overdue", "not_required"])),
                        name="deadline_reporting_status_valid",
                    )
                ],
            },
        ),
        migrations.RunPython(move_out, move_back, elidable=False),
        migrations.RemoveConstraint(model_name="productinstance", name="instance_reporting_status_valid"),
        migrations.RemoveIndex(model_name="productinstance", name="instance_account_reporting"),
        migrations.RemoveField(model_name="productinstance", name="next_due_at"),
        migrations.RemoveField(model_name="productinstance", name="reporting_status"),
        migrations.RemoveField(model_name="productinstance", name="reporting_status_changed_at"),
        migrations.RunPython(follow_on_sqlite, unfollow_on_sqlite, elidable=False),
    ]
