"""Reading the CSV files of `import_orders` and `import_paks`: what can go wrong before a row is looked at
(no file, not UTF-8, a header without the columns, a malformed line) is a CommandError naming the line."""

from __future__ import annotations

import csv
import io

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from smartaccounts.documents import read_text_file


def read_csv_rows(path: str, *, columns: tuple[str, ...], required: tuple[str, ...]) -> list[tuple[int, dict]]:
    """The rows of a CSV file as (line number, {column: text}): the line is the physical line a row ended
    on (quoted newlines included), so messages point at it."""
    try:
        text = read_text_file(path)
    except (FileNotFoundError, IsADirectoryError):
        raise CommandError(f"{path}: no such file.") from None
    except ValidationError as error:
        raise CommandError(" ".join(error.messages)) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        found = [c.strip() for c in reader.fieldnames or []]
        unknown = [c for c in found if c not in columns]
        missing = [c for c in required if c not in found]
        if missing or unknown:
            raise CommandError(
                f"{path}, line 1: "
                + (f"missing column(s) {', '.join(missing)}. " if missing else "")
                + (f"unknown column(s) {', '.join(unknown)}. " if unknown else "")
                + f"The columns are: {', '.join(columns)}."
            )
        return [(reader.line_num, {k.strip(): v or "" for k, v in row.items() if k}) for row in reader]
    except csv.Error as exc:  # a cell past the csv module's size limit
        # line_num counts the lines of the rows read whole; the unreadable one starts on the next line.
        raise CommandError(f"{path}, line {reader.line_num + 1}: not readable as CSV ({exc}).") from None
