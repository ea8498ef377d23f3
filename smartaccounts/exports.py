"""CSV downloads: the one way every export of the portal is written.

A cell that begins with `=`, `+`, `-`, `@`, a tab or a carriage return is read by spreadsheet programs
as a formula, so a Virtual Account named `=HYPERLINK(...)` or a device that calls itself `@SUM(...)`
would run in the reader's spreadsheet. Following OWASP's advice on CSV injection, such a text cell is
written with a leading single quote, which spreadsheets show as text. Numbers the portal computes
(counts, balances, which may be negative) are not text and are written as numbers.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

__all__ = ["FORMULA_PREFIXES", "csv_cell", "stream_csv"]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str | int | float | Decimal:
    """`value` as a CSV cell: numbers as they are, text neutralised when a spreadsheet would run it."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Echo:
    """A file-like object whose write() hands the line back, for csv.writer over a stream."""

    def write(self, value):
        return value


def stream_csv(filename: str, header: Iterable[str], rows: Iterable[Iterable]) -> StreamingHttpResponse:
    """A CSV download written row by row as the rows are read (memory stays flat for any size), UTF-8 with
    a byte-order mark so spreadsheet programs read accents right, every cell through `csv_cell`."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow([csv_cell(v) for v in header])
        for row in rows:
            yield writer.writerow([csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response
