"""The policy app's optimised SQL: PostgreSQL only, each statement named after the rule it computes.

The rules themselves are written once, readably, in `policy.rules` (the reference); what is here
computes the same thing faster where a benchmark needs it, and nowhere else:

- `evaluate_deadlines_statement`: the policy in force, the deadline and the status of a batch of up
  to 20,000 instances, and which of their deadline alerts disagree, in ONE statement (the hourly
  evaluation of 1,000,000 instances: README, performance; the Python reference reads and writes
  every row and is about an order of magnitude slower there);
- `resolve_alerts_statement` / `open_alerts_statement`: the alert reconciliation of those batches,
  with the events they imply in the same round trip (`with_alert_events`);
- `lock_live_instances`: the instance lock of a batch of 1,000 reports (one array join instead of
  1,000 OR'd conditions).

Tables, columns and status codes come from the models, never typed again. Each statement has a
differential test (tests/policy/test_queries_differential.py) that runs it and the reference on the
same generated estates and asserts equal results. On SQLite the reference runs.
"""

from __future__ import annotations

from django.db import connection

from licensing.models import InstanceDeadline, License, ProductInstance, ProductInstanceUsage
from smartaccounts.models import Event, SmartAccount, VirtualAccount

from . import prepared
from .models import AccountPolicy, Alert
from .rules import ALERT_MESSAGE_PREFIX


def _col(model, name: str) -> str:
    return model._meta.get_field(name).column


INSTANCE = ProductInstance._meta.db_table
DEADLINE = InstanceDeadline._meta.db_table
USAGE = ProductInstanceUsage._meta.db_table
LICENSE = License._meta.db_table
ALERT = Alert._meta.db_table
ACCOUNT_POLICY = AccountPolicy._meta.db_table
EVENT = Event._meta.db_table
VA = VirtualAccount._meta.db_table
ACCOUNT = SmartAccount._meta.db_table

# Status codes, quoted for SQL, from the models' choices.
_Q = {
    "active": ProductInstance.Status.ACTIVE,
    "removed": ProductInstance.Status.REMOVED,
    "ok": ProductInstance.ReportingStatus.OK,
    "due_soon": ProductInstance.ReportingStatus.DUE_SOON,
    "overdue": ProductInstance.ReportingStatus.OVERDUE,
    "not_required": ProductInstance.ReportingStatus.NOT_REQUIRED,
    "alert_due_soon": Alert.Kind.DUE_SOON,
    "alert_overdue": Alert.Kind.OVERDUE,
    "critical": Alert.Severity.CRITICAL,
    "warning": Alert.Severity.WARNING,
}
Q = {name: "'" + str(value.value).replace("'", "''") + "'" for name, value in _Q.items()}
# The alert kinds are the reporting statuses they stand for: the statements compare one with the other.
assert (Alert.Kind.DUE_SOON.value, Alert.Kind.OVERDUE.value) == (
    ProductInstance.ReportingStatus.DUE_SOON.value,
    ProductInstance.ReportingStatus.OVERDUE.value,
)
DEADLINE_KINDS = f"({Q['alert_due_soon']}, {Q['alert_overdue']})"
_PREFIX = {kind: "'" + text.replace("'", "''") + "'" for kind, text in ALERT_MESSAGE_PREFIX.items()}

# Which instances a statement looks at (`{column}`: the instance id column of the statement): a batch's
# key range, or listed ids (at most a batch of them).
RANGE = "{column} >= %(lo)s AND {column} < %(hi)s"
LISTED = "{column} = ANY(%(ids)s)"


# --- The deadline evaluation ------------------------------------------------------------------------


# The terms are worked out once per run, in Python, by `policy.rules` itself: for every version in
# force and every set of license classes (a bit mask, `rules.CLASS_BITS`), the strictest days per
# rule. Versions never change once made (editing a policy makes a new version), so the table is
# exact for the whole run. Per batch the statement only ORs the class bits of each instance's
# licenses in use (one pass over its usage rows) and looks the terms up; instances whose stored
# deadline and status already agree never reach the UPDATE. The same statement tells whether the
# stored statuses and the open deadline alerts of the batch disagree anywhere, so a batch where
# nothing was written and nothing disagrees skips the two alert statements.
def _terms_ctes(scope: str) -> str:
    """The policy in force and the deadline rule (`policy.rules.next_due`) for each instance of the scope."""
    return f"""
WITH versions(policy_id, version_id) AS (
    SELECT * FROM unnest(%(policy_ids)s::bigint[], %(version_ids)s::bigint[])
),
terms(version_id, mask, first_days, every_days, change_days) AS (
    SELECT * FROM unnest(%(term_versions)s::bigint[], %(term_masks)s::int[], %(term_first)s::int[],
                         %(term_every)s::int[], %(term_change)s::int[])
),
classes(license_class, bit) AS (
    SELECT * FROM unnest(%(class_names)s::text[], %(class_bits)s::int[])
),
batch AS (
    SELECT i.id, i.status, i.smart_account_id, d.virtual_account_id, i.first_use_at, i.registered_at,
           i.last_report_at, i.pending_change_at, d.next_due_at, d.reporting_status,
           CASE WHEN ap.{_col(AccountPolicy, "policy")} IS NULL THEN %(default_version)s::bigint
                ELSE v.version_id END AS version_id
    FROM {INSTANCE} i
    JOIN {DEADLINE} d ON d.instance_id = i.id
    LEFT JOIN {ACCOUNT_POLICY} ap ON ap.{_col(AccountPolicy, "smart_account")} = i.smart_account_id
    LEFT JOIN versions v ON v.policy_id = ap.{_col(AccountPolicy, "policy")}
    WHERE {scope.format(column="i.id")}
),
masks AS (
    SELECT u.{_col(ProductInstanceUsage, "product_instance")} AS id, bit_or(c.bit) AS mask
    FROM {USAGE} u
    JOIN {LICENSE} l ON l.id = u.{_col(ProductInstanceUsage, "license")}
    JOIN classes c ON c.license_class = l.{_col(License, "policy_class")}
    WHERE {scope.format(column="u." + _col(ProductInstanceUsage, "product_instance"))}
      AND u.{_col(ProductInstanceUsage, "count")} > 0
    GROUP BY u.{_col(ProductInstanceUsage, "product_instance")}
),
due AS (
    SELECT b.*, LEAST(
        CASE WHEN b.last_report_at IS NULL
             THEN COALESCE(b.first_use_at, b.registered_at) + t.first_days * INTERVAL '24 hours' END,
        b.pending_change_at + t.change_days * INTERVAL '24 hours',
        b.last_report_at + t.every_days * INTERVAL '24 hours'
    ) AS new_due
    FROM batch b
    LEFT JOIN masks m ON m.id = b.id
    LEFT JOIN terms t ON b.status = {Q["active"]} AND t.version_id = b.version_id AND t.mask = m.mask
    WHERE b.status <> {Q["removed"]}
)"""


_STATUS_OF_DUE = f"""CASE WHEN {{due}} IS NULL THEN {Q["not_required"]}
                     WHEN {{due}} < %(now)s THEN {Q["overdue"]}
                     WHEN {{due}} <= %(soon)s THEN {Q["due_soon"]}
                     ELSE {Q["ok"]} END"""


def evaluate_deadlines_statement(scope: str) -> str:
    """Deadlines and statuses of the scope's instances recomputed and written where they differ; returns
    (rows written, instances with an alert to resolve, instances with an alert to open, the counts per
    status ok, due_soon, overdue, not_required). `policy.rules` is the reference of every step."""
    status_of_new_due = _STATUS_OF_DUE.format(due="d.new_due")
    return f"""
SET LOCAL jit = off;
{_terms_ctes(scope)},
pending AS MATERIALIZED (
    SELECT d.*, {status_of_new_due} AS new_status
    FROM due d
    WHERE d.next_due_at IS DISTINCT FROM d.new_due OR d.reporting_status <> {status_of_new_due}
),
changed AS (  -- only the narrow row is written, and only while it still holds what was read
    UPDATE {DEADLINE} d
    SET next_due_at = c.new_due,
        reporting_status = c.new_status,
        reporting_status_changed_at = CASE WHEN d.reporting_status <> c.new_status THEN %(now)s
                                           ELSE d.reporting_status_changed_at END
    FROM pending c
    WHERE d.instance_id = c.id AND {scope.format(column="d.instance_id")}
      AND d.next_due_at IS NOT DISTINCT FROM c.next_due_at AND d.reporting_status = c.reporting_status
      AND d.virtual_account_id = c.virtual_account_id
    RETURNING d.instance_id AS id, d.reporting_status, d.virtual_account_id, d.next_due_at
),
final AS (  -- each instance of the batch as it stands now: as written here, else as read
    SELECT b.id, b.status,
           CASE WHEN c.id IS NULL THEN b.reporting_status ELSE c.reporting_status END AS reporting_status,
           CASE WHEN c.id IS NULL THEN b.virtual_account_id ELSE c.virtual_account_id END AS virtual_account_id,
           CASE WHEN c.id IS NULL THEN b.next_due_at ELSE c.next_due_at END AS next_due_at
    FROM batch b LEFT JOIN changed c ON c.id = b.id
),
open_alerts AS (
    SELECT a.product_instance_id, a.kind, a.virtual_account_id, a.due_at
    FROM {ALERT} a
    WHERE {scope.format(column="a.product_instance_id")} AND a.resolved_at IS NULL
),
wanted AS (  -- the deadline alerts the statuses ask for, as (instance, kind, VA, due date)
    SELECT id, reporting_status, virtual_account_id, next_due_at FROM final
    WHERE status <> {Q["removed"]} AND reporting_status IN {DEADLINE_KINDS}
),
kept AS (  -- the open deadline alerts, in the same form
    SELECT product_instance_id, kind, virtual_account_id, due_at FROM open_alerts
    WHERE kind IN {DEADLINE_KINDS}
)
-- Set differences (hashed whatever the planner guesses of the row counts): an open alert nobody wants
-- or an open alert of a removed instance (to resolve), a wanted alert not open (to open).
SELECT (SELECT COUNT(*) FROM changed),
       ARRAY(SELECT product_instance_id FROM (SELECT * FROM kept EXCEPT SELECT * FROM wanted) unwanted
             UNION
             (SELECT product_instance_id FROM open_alerts INTERSECT SELECT id FROM final
              WHERE status = {Q["removed"]})),
       ARRAY(SELECT id FROM (SELECT * FROM wanted EXCEPT SELECT * FROM kept) missing),
       COUNT(*) FILTER (WHERE reporting_status = {Q["ok"]}),
       COUNT(*) FILTER (WHERE reporting_status = {Q["due_soon"]}),
       COUNT(*) FILTER (WHERE reporting_status = {Q["overdue"]}),
       COUNT(*) FILTER (WHERE reporting_status = {Q["not_required"]})
FROM final WHERE status <> {Q["removed"]}
"""


EVALUATE_DEADLINES = {scope: evaluate_deadlines_statement(scope) for scope in (RANGE, LISTED)}


def resolve_alerts_statement(scope: str) -> str:
    """Open alerts that no longer hold (`policy.rules.alert_holds`, without a report) resolved."""
    return f"""
UPDATE {ALERT} SET resolved_at = %(now)s
WHERE resolved_at IS NULL AND {scope.format(column="product_instance_id")}
  AND EXISTS (
    SELECT 1 FROM {DEADLINE} i
    WHERE i.instance_id = {ALERT}.product_instance_id
      AND (i.removed
           OR ({ALERT}.kind IN {DEADLINE_KINDS}
               AND (i.reporting_status <> {ALERT}.kind
                    OR i.virtual_account_id <> {ALERT}.virtual_account_id
                    OR i.next_due_at IS DISTINCT FROM {ALERT}.due_at))))
RETURNING id, smart_account_id, virtual_account_id, kind
"""


# The instances are read by key first (MATERIALIZED), then filtered by status: the planner must not
# walk the status index of the whole table instead, which is what it picks when its statistics still
# say hardly any instance is due (right after every status changed, as in a first evaluation).
def open_alerts_statement(scope: str) -> str:
    """The deadline alert a status asks for (`policy.rules.wanted_alert`) opened where none is open."""
    return f"""
WITH batch AS MATERIALIZED (
    SELECT i.id, i.smart_account_id, i.virtual_account_id, d.reporting_status, d.next_due_at, i.hostname, i.pid,
           i.serial_number
    FROM {INSTANCE} i JOIN {DEADLINE} d ON d.instance_id = i.id
    WHERE {scope.format(column="i.id")} AND i.status <> {Q["removed"]}
)
INSERT INTO {ALERT} (smart_account_id, virtual_account_id, product_instance_id, kind, severity, message, due_at,
                     opened_at)
SELECT i.smart_account_id, i.virtual_account_id, i.id, i.reporting_status,
       CASE WHEN i.reporting_status = {Q["overdue"]} THEN {Q["critical"]} ELSE {Q["warning"]} END,
       LEFT(CASE WHEN i.reporting_status = {Q["overdue"]} THEN {_PREFIX[Alert.Kind.OVERDUE]}
                 ELSE {_PREFIX[Alert.Kind.DUE_SOON]} END
            || COALESCE(NULLIF(i.hostname, ''), 'PID:' || i.pid || ' SN:' || i.serial_number), 500),
       i.next_due_at, %(now)s
FROM batch i
WHERE i.reporting_status IN {DEADLINE_KINDS}
  AND NOT EXISTS (
    SELECT 1 FROM {ALERT} a
    WHERE a.product_instance_id = i.id AND a.kind = i.reporting_status AND a.resolved_at IS NULL)
ON CONFLICT DO NOTHING
RETURNING id, smart_account_id, virtual_account_id, kind
"""


def with_alert_events(statement: str, action: str, texts: dict[str, str], ids: list[int], now) -> int:
    """The alert statement and the events it implies (one per account, VA and kind; `texts`: {kind:
    message with `{n}`}) in one round trip (data-modifying CTEs). Returns the number of alerts changed."""
    message = (
        "CASE c.kind "
        + " ".join(
            f"WHEN '{kind}' THEN COUNT(*)::text || '{text.removeprefix('{n}').replace(chr(39), chr(39) * 2)}'"
            for kind, text in texts.items()
        )
        + " END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH changed AS ({statement}),
            logged AS (
                INSERT INTO {EVENT} (created_at, smart_account_id, virtual_account_id, virtual_account_name, action,
                                     message, details)
                SELECT %(now)s, c.smart_account_id, c.virtual_account_id, COALESCE(MAX(va.name), ''), %(action)s,
                       {message},
                       jsonb_build_object('kind', c.kind, 'alerts', COUNT(*))
                FROM changed c LEFT JOIN {VA} va ON va.id = c.virtual_account_id
                GROUP BY c.smart_account_id, c.virtual_account_id, c.kind
                RETURNING 1
            )
            SELECT (SELECT COUNT(*) FROM changed), (SELECT COUNT(*) FROM logged)
            """,
            {"now": now, "ids": ids, "action": action},
        )
        return cursor.fetchone()[0]


# --- Instance locking --------------------------------------------------------------------------------

_INSTANCE_FIELDS = [f for f in ProductInstance._meta.concrete_fields if not getattr(f, "generated", False)]
_INSTANCE_NAMES = [f.attname for f in _INSTANCE_FIELDS]
_ACCOUNT_FIELDS = ("kind", "name", "status")
_VA_FIELDS = ("name", "tree_id", "lft", "rght", "level")
_DEADLINE_FIELDS = list(InstanceDeadline._meta.concrete_fields)
_DEADLINE_NAMES = [f.attname for f in _DEADLINE_FIELDS]
_LOCK_SELECT = (
    "SELECT "
    + ", ".join(
        [f"i.{f.column}" for f in _INSTANCE_FIELDS]
        + [f"a.{_col(SmartAccount, name)}" for name in _ACCOUNT_FIELDS]
        + [f"va.{_col(VirtualAccount, name)}" for name in _VA_FIELDS]
        + [f"d.{f.column}" for f in _DEADLINE_FIELDS]
    )
    + f" FROM {INSTANCE} i"
    f" JOIN {DEADLINE} d ON d.{_col(InstanceDeadline, 'instance')} = i.id"
    f" JOIN {ACCOUNT} a ON a.id = i.{_col(ProductInstance, 'smart_account')}"
    f" JOIN {VA} va ON va.id = i.{_col(ProductInstance, 'virtual_account')}"
)
_LOCK_LIVE = f" i.{_col(ProductInstance, 'status')} <> {Q['removed']} ORDER BY i.id FOR UPDATE OF i"
LOCK_LIVE_INSTANCES = (
    _LOCK_SELECT + " JOIN unnest(%s::varchar[], %s::varchar[]) AS u(pid, serial_number)"
    f" ON i.{_col(ProductInstance, 'pid')} = u.pid AND i.{_col(ProductInstance, 'serial_number')} = u.serial_number"
    " WHERE" + _LOCK_LIVE
)
# One UDI (one report per call): plain equalities, so that the statement prepared once per connection
# keeps one generic plan (PostgreSQL cannot tell how long an array parameter will be, and keeps
# planning an array join again for each call).
LOCK_LIVE_INSTANCE = (
    _LOCK_SELECT + f" WHERE i.{_col(ProductInstance, 'pid')} = %s AND i.{_col(ProductInstance, 'serial_number')} = %s"
    " AND" + _LOCK_LIVE
)


def lock_live_instances(udis) -> list[ProductInstance]:
    """`policy.rules.lock_live_instances` in one array join (a batch names up to 1,000 UDIs)."""
    udis = sorted(set(udis))
    if not udis:
        return []
    with connection.cursor() as cursor:
        if len(udis) == 1:
            prepared.execute(cursor, LOCK_LIVE_INSTANCE, list(udis[0]))
        else:
            prepared.execute(cursor, LOCK_LIVE_INSTANCES, [[p for p, _ in udis], [s for _, s in udis]])
        rows = cursor.fetchall()
    found = []
    n, m, v = len(_INSTANCE_NAMES), len(_ACCOUNT_FIELDS), len(_VA_FIELDS)
    for row in rows:
        instance = ProductInstance.from_db(connection.alias, _INSTANCE_NAMES, row[:n])
        instance.smart_account = SmartAccount(
            id=instance.smart_account_id, **dict(zip(_ACCOUNT_FIELDS, row[n : n + m], strict=True))
        )
        instance.virtual_account = VirtualAccount(
            id=instance.virtual_account_id,
            smart_account_id=instance.smart_account_id,
            **dict(zip(_VA_FIELDS, row[n + m : n + m + v], strict=True)),
        )
        instance.deadline = InstanceDeadline.from_db(connection.alias, _DEADLINE_NAMES, row[n + m + v :])
        found.append(instance)
    return found
