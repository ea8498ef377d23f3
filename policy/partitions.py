"""Usage reports and measurements kept by month: PostgreSQL partitions, created ahead and pruned whole.

On PostgreSQL `policy_usagereport` and `policy_usagemeasurement` are partitioned by range of
`received_at` (a measurement carries its report's), one partition per calendar month (UTC) named
`<table>_pYYYY_MM`, and a DEFAULT partition (`<table>_default`) that takes a row no month partition
covers (a month the beat task has not created yet). So a report and its measurements sit in the same
month, and a month leaves as one `DROP TABLE` per table: instant, whatever the number of rows.

- `ensure_partitions` (beat task `policy.ensure_usage_partitions`, command `ensure_usage_partitions`)
  creates the partitions of this month and the next ones. Idempotent; rows that reached the DEFAULT
  partition for a month created later move into it.
- `prune_usage` (command `prune_usage --keep-months N`) drops the months before the cutoff, deletes the
  ACKs of their reports, and deletes the rows of the DEFAULT partition before it. On another database
  (SQLite) the tables are not partitioned and the same rows are deleted.

The primary key of a partitioned table includes the partition key: (id, received_at). `id` stays unique
(one sequence), and each month partition of the reports has its own unique index on `report_id` and on
`acknowledgement_id` (a unique index over all months would have to include `received_at` too). The
ingestion looks a report id up in every month before it accepts a report, under the lock of the
instance; the index of the month catches two reports with the same id racing on different instances.
Nothing in the database points at a usage report (`UsageMeasurement.report` and `Change.report` have
no foreign key constraint): the service writes a report and its measurements in one transaction and
the prune removes both; `tests/policy/test_partitions.py` checks that no measurement names a missing
report. A `Change` keeps the id of the report that reported it after that report's month is pruned.

What the deadlines need lives on the product instance (`last_report_at`, `pending_change_at`, the
status and the next due date), not in old reports, so pruning a month never moves a deadline. The
default cutoff keeps `DEFAULT_KEEP_MONTHS` (three years of history, for license compliance reviews);
`prune_usage` refuses to keep fewer months than the longest period a policy rule counts in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from .models import PolicyRule

REPORTS = "policy_usagereport"
MEASUREMENTS = "policy_usagemeasurement"
TABLES = (REPORTS, MEASUREMENTS)
KEY = "received_at"
# Columns unique within each month partition (a unique index over all months must include the key).
UNIQUE_PER_MONTH = {REPORTS: ("report_id", "acknowledgement_id"), MEASUREMENTS: ()}
# Months created ahead of the current one.
MONTHS_AHEAD = 3
# Months kept by `prune_usage` when not told (36: three years for compliance reviews).
DEFAULT_KEEP_MONTHS = 36

MONTH_NAME = re.compile(r"_p(\d{4})_(\d{2})$")


def postgres(conn=connection) -> bool:
    return conn.vendor == "postgresql"


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    index = month.year * 12 + month.month - 1 + n
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(table: str, month: datetime) -> str:
    return f"{table}_p{month.year:04d}_{month.month:02d}"


def default_name(table: str) -> str:
    return f"{table}_default"


def is_partitioned(table: str, conn=connection) -> bool:
    if not postgres(conn):
        return False
    with conn.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(%s))", [table])
        return cursor.fetchone()[0]


def month_partitions(table: str, conn=connection) -> dict[datetime, str]:
    """{first instant of the month: partition name} of `table`'s month partitions."""
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    months = {}
    for name in names:
        match = MONTH_NAME.search(name)
        if match and name.startswith(table):
            months[datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)] = name
    return months


def _unique_indexes(cursor, table: str, partition: str) -> None:
    for column in UNIQUE_PER_MONTH[table]:
        cursor.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS "{partition}_{column}_uniq" ON "{partition}" ("{column}")')


def _bounds(month: datetime) -> str:
    return f"FROM ('{month.isoformat()}') TO ('{add_months(month, 1).isoformat()}')"


def _add_month(cursor, table: str, month: datetime) -> str:
    """Create `table`'s partition of `month`, moving into it the rows the DEFAULT partition holds for it."""
    name = partition_name(table, month)
    start, end = month, add_months(month, 1)
    cursor.execute(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
    default = default_name(table)
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [default])
    if cursor.fetchone()[0]:
        cursor.execute(
            f'WITH moved AS (DELETE FROM "{default}" WHERE "{KEY}" >= %s AND "{KEY}" < %s RETURNING *) '
            f'INSERT INTO "{name}" SELECT * FROM moved',
            [start, end],
        )
    cursor.execute(f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES {_bounds(month)}')
    _unique_indexes(cursor, table, name)
    return name


def ensure_partitions(
    *, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None, since: datetime | None = None
) -> list[str]:
    """Create the month partitions of both tables from this month (or the month of `since`) to `months_ahead`
    months ahead, and those of the months the DEFAULT partition holds rows of; returns the names created
    (none when they all exist, and none on a database without partitions)."""
    if not all(is_partitioned(table) for table in TABLES):
        return []
    current = month_start(now or timezone.now())
    first = min(current, month_start(since)) if since is not None else current
    wanted = []
    month = first
    while month <= add_months(current, months_ahead):
        wanted.append(month)
        month = add_months(month, 1)
    created = []
    with transaction.atomic(), connection.cursor() as cursor:
        for table in TABLES:
            # One creator at a time (two beat runs, or a run and a deploy): the second sees the first's.
            cursor.execute(f'LOCK TABLE "{table}" IN SHARE UPDATE EXCLUSIVE MODE')
            existing = month_partitions(table)
            cursor.execute(
                f"SELECT DISTINCT date_trunc('month', \"{KEY}\" AT TIME ZONE 'UTC') FROM \"{default_name(table)}\""
            )
            held = [row[0].replace(tzinfo=UTC) for row in cursor.fetchall()]
            for month in sorted(set(wanted) | set(held)):
                if month not in existing:
                    created.append(_add_month(cursor, table, month))
    return created


def convert_table(cursor, table: str, *, months_ahead: int = MONTHS_AHEAD, now: datetime | None = None) -> None:
    """Turn a plain `table` into one partitioned by month of `received_at`, with its rows, indexes, foreign
    keys and id sequence (the migration's step; PostgreSQL only)."""
    cursor.execute(
        "SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique, i.indisprimary "
        "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
        [table],
    )
    foreign_keys = cursor.fetchall()
    cursor.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
        "ORDER BY attnum",
        [table],
    )
    columns = ", ".join(f'"{row[0]}"' for row in cursor.fetchall())
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    old_sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT last_value FROM {old_sequence}")
    last_id = cursor.fetchone()[0]
    cursor.execute(f'SELECT min("{KEY}"), max(id) FROM "{table}"')
    oldest, max_id = cursor.fetchone()

    old = f"{table}_unpartitioned"
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE) '
        f'PARTITION BY RANGE ("{KEY}")'
    )
    current = month_start(now or timezone.now())
    month = month_start(oldest) if oldest is not None and month_start(oldest) < current else current
    last = add_months(current, months_ahead)
    partitions = []
    while month <= last:
        name = partition_name(table, month)
        cursor.execute(f'CREATE TABLE "{name}" PARTITION OF "{table}" FOR VALUES {_bounds(month)}')
        partitions.append(name)
        month = add_months(month, 1)
    cursor.execute(f'CREATE TABLE "{default_name(table)}" PARTITION OF "{table}" DEFAULT')
    partitions.append(default_name(table))
    cursor.execute(f'INSERT INTO "{table}" ({columns}) SELECT {columns} FROM "{old}"')
    cursor.execute(f'DROP TABLE "{old}"')

    sequence = f"{table}_id_seq"
    cursor.execute(f'CREATE SEQUENCE "{sequence}" AS bigint')
    cursor.execute("SELECT setval(%s, %s, %s)", [sequence, max(last_id or 1, max_id or 0, 1), bool(max_id or last_id)])
    cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval(\'"{sequence}"\')')
    cursor.execute(f'ALTER SEQUENCE "{sequence}" OWNED BY "{table}".id')
    cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, "{KEY}")')
    for _name, definition, unique, primary in indexes:
        if not unique and not primary:
            # The definition names the table as it was (and as it is again): an index on the parent,
            # built on each partition.
            cursor.execute(definition)
    for name, definition in foreign_keys:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
    for name in partitions:
        _unique_indexes(cursor, table, name)
    cursor.execute(f'ANALYZE "{table}"')


# --- Retention -----------------------------------------------------------------------------------------


@dataclass
class Pruned:
    cutoff: datetime
    dry_run: bool
    partitions: list[str] = field(default_factory=list)
    reports: int = 0
    measurements: int = 0
    acknowledgements: int = 0


def minimum_keep_months() -> int:
    """The fewest months `prune_usage` keeps: the longest period any policy rule counts, in months, plus one."""
    longest = PolicyRule.objects.aggregate(
        a=Max("first_report_days"), b=Max("reporting_frequency_days"), c=Max("report_on_change_days")
    )
    days = max((v or 0) for v in longest.values())
    return -(-days // 30) + 1


def prune_cutoff(keep_months: int, now: datetime | None = None) -> datetime:
    """The first instant kept: the start of the month `keep_months - 1` months before this one."""
    return add_months(month_start(now or timezone.now()), -(keep_months - 1))


# The most months `prune_usage` takes: 100 years (a larger count would reach before year 1).
MAX_KEEP_MONTHS = 1200


def prune_usage(*, keep_months: int = DEFAULT_KEEP_MONTHS, dry_run: bool = False, now=None) -> Pruned:
    """Remove the usage reports (with their measurements and ACKs) received before the cutoff: the whole
    month partitions on PostgreSQL (detached, then dropped), rows elsewhere. `keep_months` counts this
    month; it may not be fewer than `minimum_keep_months()`."""
    if keep_months < 1:
        raise ValueError("keep_months must be at least 1.")
    if keep_months > MAX_KEEP_MONTHS:
        raise ValueError(
            f"keep_months must be at most {MAX_KEEP_MONTHS} (100 years); to keep everything, do not prune."
        )
    minimum = minimum_keep_months()
    if keep_months < minimum:
        raise ValueError(
            f"keep_months {keep_months} is fewer than the {minimum} months a policy rule counts in "
            f"(the longest first-report, reporting or report-on-change period, rounded up, plus this month)."
        )
    result = Pruned(cutoff=prune_cutoff(keep_months, now), dry_run=dry_run)
    if all(is_partitioned(table) for table in TABLES):
        _prune_partitions(result)
    else:
        _prune_rows(result)
    return result


def _count(cursor, sql: str, params=()) -> int:
    cursor.execute(sql, params)
    return cursor.fetchone()[0]


def _prune_partitions(result: Pruned) -> None:
    cutoff = result.cutoff
    with transaction.atomic(), connection.cursor() as cursor:
        old = {
            table: [name for month, name in sorted(month_partitions(table).items()) if add_months(month, 1) <= cutoff]
            for table in TABLES
        }
        # The rows the DEFAULT partitions hold before the cutoff (a month that had no partition yet).
        where = f'WHERE "{KEY}" < %s'
        default_reports = f'SELECT id, acknowledgement_id FROM "{default_name(REPORTS)}" {where}'
        result.partitions = old[REPORTS] + old[MEASUREMENTS]
        result.reports = sum(_count(cursor, f'SELECT count(*) FROM "{name}"') for name in old[REPORTS])
        result.reports += _count(cursor, f"SELECT count(*) FROM ({default_reports}) d", [cutoff])
        result.measurements = sum(_count(cursor, f'SELECT count(*) FROM "{name}"') for name in old[MEASUREMENTS])
        result.measurements += _count(cursor, f'SELECT count(*) FROM "{default_name(MEASUREMENTS)}" {where}', [cutoff])
        acks = " UNION ALL ".join(
            [f'SELECT acknowledgement_id FROM "{name}"' for name in old[REPORTS]]
            + [f'SELECT acknowledgement_id FROM "{default_name(REPORTS)}" {where}']
        )
        ack_params = [cutoff]
        result.acknowledgements = _count(
            cursor, f"SELECT count(*) FROM ({acks}) a WHERE acknowledgement_id IS NOT NULL", ack_params
        )
        if result.dry_run:
            return
        # Deferred foreign key checks of rows this transaction wrote would keep a partition from being
        # dropped ("pending trigger events"): run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        # The reports point at their ACKs: the ACKs go once the reports are gone.
        for table in TABLES:
            for name in old[table]:
                cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{name}"')
        cursor.execute("DROP TABLE IF EXISTS pruned_ack")
        cursor.execute(f"CREATE TEMP TABLE pruned_ack AS {acks}", ack_params)
        cursor.execute(f'DELETE FROM "{default_name(MEASUREMENTS)}" {where}', [cutoff])
        cursor.execute(f'DELETE FROM "{default_name(REPORTS)}" {where}', [cutoff])
        for table in TABLES:
            for name in old[table]:
                cursor.execute(f'DROP TABLE "{name}"')
        cursor.execute(
            "DELETE FROM policy_acknowledgement WHERE id IN "
            "(SELECT acknowledgement_id FROM pruned_ack WHERE acknowledgement_id IS NOT NULL)"
        )
        cursor.execute("DROP TABLE pruned_ack")


def _prune_rows(result: Pruned) -> None:
    cutoff = result.cutoff
    with transaction.atomic(), connection.cursor() as cursor:
        reports = f"SELECT id FROM {REPORTS} WHERE {KEY} < %s"
        acks = f"SELECT acknowledgement_id FROM {REPORTS} WHERE {KEY} < %s AND acknowledgement_id IS NOT NULL"
        result.reports = _count(cursor, f"SELECT count(*) FROM ({reports}) r", [cutoff])
        result.measurements = _count(cursor, f"SELECT count(*) FROM {MEASUREMENTS} WHERE {KEY} < %s", [cutoff])
        result.acknowledgements = _count(cursor, f"SELECT count(*) FROM ({acks}) a", [cutoff])
        if result.dry_run:
            return
        cursor.execute("DROP TABLE IF EXISTS pruned_ack")
        cursor.execute(f"CREATE TEMP TABLE pruned_ack AS {acks}", [cutoff])
        cursor.execute(f"DELETE FROM {MEASUREMENTS} WHERE {KEY} < %s", [cutoff])
        cursor.execute(f"DELETE FROM {REPORTS} WHERE {KEY} < %s", [cutoff])
        cursor.execute("DELETE FROM policy_acknowledgement WHERE id IN (SELECT acknowledgement_id FROM pruned_ack)")
        cursor.execute("DROP TABLE pruned_ack")
