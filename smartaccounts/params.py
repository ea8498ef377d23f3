"""Reading ids, page cursors and search terms from a request: one strict reading for every page and form.

How a value that cannot be read is answered (the same on every page):

- an id in the URL path (the `id` path converter): ASCII digits, 1 to 2**63 - 1 (the bigint range of
  the primary keys); anything else does not match the URL, so 404;
- an id in a query string or a form (a filter, a picker, a POSTed choice), read with `parse_id`: the
  same rule; a value that breaks it is None, so the filter is ignored or the form field refuses it;
- a page cursor (`after`, `before`), read with `decode_cursor`: it must decode to exactly what the page
  wrote (`encode_cursor`), else `BadCursor`: a 400 page saying to start again from the first page;
- a search term, read with `search_term`: one holding a character a database cannot compare (NUL,
  other control characters, unpaired surrogates) never reaches the database; the page shows every
  result and says the search was ignored.

`str.isdigit()` is not a test for an id: it is true for '²' and '٣', which `int()` refuses or reads
as 3. `int()` alone is not one either: it accepts ' 7', '+7', '٣' and numbers past any column.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import unicodedata

from django.contrib import messages
from django.core.exceptions import BadRequest

__all__ = [
    "MAX_ID",
    "BadCursor",
    "IdConverter",
    "decode_cursor",
    "encode_cursor",
    "has_control_characters",
    "parse_id",
    "parse_whole_number",
    "search_term",
]

MAX_ID = 2**63 - 1  # the largest bigint: every primary key fits
_DIGITS = re.compile(r"[0-9]{1,19}\Z")  # past 19 digits nothing fits in 64 bits
# A cursor is URL-safe base64 without padding; the longest the pages write is a 255-character host name.
MAX_CURSOR_LENGTH = 1024
_CURSOR = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_CURSOR_LENGTH}}}\Z")
MAX_CURSOR_TEXT = 255


def parse_whole_number(value, *, maximum: int) -> int | None:
    """`value` (a str of ASCII digits, or an int) as an int when it is between 1 and `maximum`; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= maximum else None
    if not isinstance(value, str):
        return None
    value = value.strip(" \t\r\n")
    if not _DIGITS.match(value):
        return None
    number = int(value)
    return number if 1 <= number <= maximum else None


def parse_id(value) -> int | None:
    """The id `value` names (a str of ASCII digits, or an int), when it is between 1 and MAX_ID; else None."""
    return parse_whole_number(value, maximum=MAX_ID)


class IdConverter:
    """The `<id:name>` path converter: an id as `parse_id` reads it; anything else is no match (404)."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = parse_id(value)
        if number is None:
            raise ValueError(f"{value!r} is not an id")
        return number

    def to_url(self, value) -> str:
        return str(int(value))


# --- Page cursors ------------------------------------------------------------------------------------


class BadCursor(BadRequest):
    """A page link whose cursor (`after` / `before`) is not one a page wrote. Answered with 400."""

    def __init__(self, message: str = "This page link is damaged or incomplete. Start again from the first page."):
        super().__init__(message)


def encode_cursor(*parts: str | int | dt.datetime) -> str:
    """The cursor for a row's sort key: its parts (str, int, aware datetime) as URL-safe base64 JSON."""
    values = [part.isoformat() if isinstance(part, dt.datetime) else part for part in parts]
    raw = json.dumps(values, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *kinds: type) -> tuple:
    """The parts of a cursor that `encode_cursor` wrote for a key of `kinds` (str, int, datetime), checked
    strictly: the exact number of parts, text a database can compare, ids in the id range, datetimes with a
    time zone that convert to UTC. Anything else raises `BadCursor`."""
    if not isinstance(cursor, str) or not _CURSOR.match(cursor):
        raise BadCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw.decode("utf-8"), parse_constant=_refuse)
    except (binascii.Error, ValueError, RecursionError):
        raise BadCursor() from None
    if not isinstance(values, list) or len(values) != len(kinds):
        raise BadCursor()
    return tuple(_part(value, kind) for value, kind in zip(values, kinds, strict=True))


def _refuse(name: str):
    raise ValueError(f"{name} is not a cursor value")


def _part(value, kind: type):
    if kind is int:
        if isinstance(value, int) and parse_id(value) is not None:
            return value
    elif kind is str:
        if isinstance(value, str) and len(value) <= MAX_CURSOR_TEXT and not has_control_characters(value):
            return value
    elif kind is dt.datetime:
        if isinstance(value, str) and len(value) <= 40:
            try:
                when = dt.datetime.fromisoformat(value)
                if when.tzinfo is not None:
                    return when.astimezone(dt.UTC)
            except (ValueError, OverflowError):
                pass
    else:  # pragma: no cover - a programming error, not a request
        raise TypeError(f"cursor parts are str, int or datetime, not {kind!r}")
    raise BadCursor()


# --- Text: search terms, and the cells of files people import ------------------------------------------


def has_control_characters(text: str) -> bool:
    """True when `text` holds a control character or an unpaired surrogate: PostgreSQL refuses NUL in text,
    a surrogate cannot be encoded, and no name, number or identifier the portal keeps contains either."""
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in text)


def search_term(request, value: str | None) -> str:
    """A search box's `value`, stripped, or "" (every result) when it holds characters a database cannot
    compare; then the page says so above its results."""
    term = (value or "").strip()
    if term and has_control_characters(term):
        messages.warning(request, "The search contained control characters, so it was ignored: showing everything.")
        return ""
    return term
