"""Statements the ingestion runs for every report, prepared once per database connection (PostgreSQL).

Planning the instance lock and the batch's read (a UNION ALL of nine small selects) costs the server
more than running them for one report (about 0.7 ms each, against 0.1–0.4 ms of execution). A
statement run through `execute` is PREPAREd the first time a connection meets its text, in the same
round trip as its first EXECUTE, and only EXECUTEd after that: PostgreSQL then keeps a generic plan
(the statements look rows up by key through `= ANY(array)`, so one plan suits every call).

Prepared statements live as long as the connection (`CONN_MAX_AGE`); a new connection prepares them
again. A connection pooler in transaction mode that hands another server session to the next
transaction would lose them: set `PREPARE_STATEMENTS=0` (settings) there. Elsewhere (SQLite) the
statement simply runs. At most `MAX_PER_CONNECTION` texts are kept per connection (a batch's read
differs with the batch's size); past that a statement simply runs.
"""

from __future__ import annotations

import itertools
import re

from django.conf import settings
from django.db import connection

MAX_PER_CONNECTION = 64
_PLACEHOLDER = re.compile(r"%s")
_names = itertools.count(1)


def enabled() -> bool:
    return connection.vendor == "postgresql" and getattr(settings, "PREPARE_STATEMENTS", True)


def _prepared() -> dict[str, str]:
    """{statement text: its name} for the current connection (forgotten when the connection changes)."""
    raw = connection.connection
    state = getattr(connection, "_prepared_statements", None)
    if state is None or state[0] is not raw:
        state = (raw, {})
        connection._prepared_statements = state
    return state[1]


def execute(cursor, sql: str, params: list) -> None:
    """Run `sql` (with `%s` placeholders, no literal `%`) with `params` on `cursor`, prepared on PostgreSQL."""
    if not enabled():
        cursor.execute(sql, params)
        return
    connection.ensure_connection()
    known = _prepared()
    name = known.get(sql)
    arguments = f"({', '.join(['%s'] * len(params))})" if params else ""
    if name is not None:
        cursor.execute(f"EXECUTE {name}{arguments}", params)
        return
    if len(known) >= MAX_PER_CONNECTION:
        cursor.execute(sql, params)
        return
    # A fresh name each time: a PREPARE that ran before an error in its round trip is not reused.
    name = f"prepared_{next(_names)}"
    numbered = iter(range(1, len(params) + 1))
    text = _PLACEHOLDER.sub(lambda _: f"${next(numbered)}", sql)
    cursor.execute(f"PREPARE {name} AS {text};\nEXECUTE {name}{arguments}", params)
    known[sql] = name
