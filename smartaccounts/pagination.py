"""Pages of lists: one keyset (cursor) paginator for the long lists, Django's paginator for the short ones.

Every list page renders its page with `templates/includes/pagination.html`, which reads either kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan, TupleLessThan

from .params import decode_cursor, encode_cursor

__all__ = ["KeysetPage", "KeysetPaginator", "offset_page"]


@dataclass
class KeysetPage:
    """One page of a keyset paginator: its rows, the cursors of the pages around it, and whether it is the first."""

    rows: list
    next_cursor: str | None
    previous_cursor: str | None
    is_first: bool
    is_keyset = True

    @property
    def object_list(self) -> list:
        return self.rows

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor or not self.is_first)


class KeysetPaginator:
    """Pages of a queryset ordered by a unique key (`fields`, e.g. ("hostname", "pk")), after or before a
    cursor: index range scans, no OFFSET and no COUNT, so the thousandth page costs what the first does.

    The cursor condition is a row comparison, `(a, b) > (%s, %s)`, which PostgreSQL uses as the start of
    the index range; the equivalent `a > %s OR (a = %s AND b > %s)` is only a filter, and a page at 80% of
    the order read 160,000 index entries to find its 51 rows. A cursor the page did not write raises
    `params.BadCursor` (a 400 page).

    `kinds`: the type of each key part (str, int, datetime), checked when a cursor is read.
    `descending`: the first page holds the largest keys (newest first). `decorate`: called with the rows of
    a page before they are returned (per-page annotations in one query over the page's ids).
    """

    def __init__(
        self,
        fields: tuple[str, ...],
        kinds: tuple[type, ...],
        *,
        descending: bool = False,
        size: int = 50,
        decorate: Callable[[list], list] | None = None,
    ):
        if len(fields) != len(kinds):  # pragma: no cover - a programming error
            raise ValueError("one kind per key field")
        self.fields, self.kinds, self.descending, self.size = fields, kinds, descending, size
        self.decorate = decorate

    def cursor(self, row) -> str:
        """The cursor that starts the page after `row`."""
        return encode_cursor(*(getattr(row, field) for field in self.fields))

    def decode(self, cursor: str) -> tuple:
        return decode_cursor(cursor, *self.kinds)

    def _order(self, reverse: bool) -> list[str]:
        down = self.descending != reverse
        return [f"-{field}" if down else field for field in self.fields]

    def _beyond(self, key: tuple, reverse: bool):
        """Rows after `key` in the page order (`reverse`: before it)."""
        lookup = TupleLessThan if self.descending != reverse else TupleGreaterThan
        return lookup(Tuple(*(F(field) for field in self.fields)), key)

    def page(self, queryset: QuerySet, *, after: str = "", before: str = "") -> KeysetPage:
        size = self.size
        back = self.decode(before) if before else None
        forward = self.decode(after) if after and not back else None
        if back:
            found = list(queryset.filter(self._beyond(back, reverse=True)).order_by(*self._order(True))[: size + 1])
            has_more_before = len(found) > size
            rows = self._decorated(list(reversed(found[:size])))
            return KeysetPage(
                rows=rows,
                next_cursor=self.cursor(rows[-1]) if rows else None,
                previous_cursor=self.cursor(rows[0]) if rows and has_more_before else None,
                is_first=not has_more_before,
            )
        if forward:
            queryset = queryset.filter(self._beyond(forward, reverse=False))
        found = list(queryset.order_by(*self._order(False))[: size + 1])
        rows = self._decorated(found[:size])
        return KeysetPage(
            rows=rows,
            next_cursor=self.cursor(rows[-1]) if len(found) > size else None,
            previous_cursor=self.cursor(rows[0]) if forward and rows else None,
            is_first=not forward,
        )

    def page_for(self, queryset: QuerySet, params) -> KeysetPage:
        """The page a request's query string (`after` / `before`) names."""
        return self.page(queryset, after=params.get("after", ""), before=params.get("before", ""))

    def _decorated(self, rows: list) -> list:
        return self.decorate(rows) if self.decorate and rows else rows


def offset_page(queryset, params, size: int) -> Page:
    """A numbered page (`?page=`) of a short list; a page number that is not one shows the nearest page."""
    return Paginator(queryset, size).get_page(params.get("page"))
