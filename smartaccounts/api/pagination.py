"""The API's one way to page a list (settings `DEFAULT_PAGINATION_CLASS`; kept apart from the views so that
DRF can import it while its own modules load)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ParseError, ValidationError
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from ..pagination import KeysetPaginator
from ..params import BadCursor, parse_whole_number

__all__ = ["CursorPage", "KeysetCursorPage"]


class CursorPage(CursorPagination):
    """`?cursor=` pages of `page_size` rows (default 100, at most 1,000), newest first unless the view
    sets `ordering` (a unique column last, so that the cursor is exact)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-pk"

    BAD_CURSOR = "The cursor is not one the API wrote: use the next / previous links."

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; it is a bad request, as for KeysetCursorPage.
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ParseError(self.BAD_CURSOR, code="bad_cursor") from None

    def paginate_queryset(self, queryset, request, view=None):
        # A cursor that decodes but holds a position the ordering column cannot take (text for a number or
        # a date): the database would refuse it; the same 400.
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, DjangoValidationError):
            if request.query_params.get(self.cursor_query_param) is None:
                raise
            raise ParseError(self.BAD_CURSOR, code="bad_cursor") from None

    def get_ordering(self, request, queryset, view):
        # DRF reads only the paginator's own `ordering` (or an ordering filter's): the view's comes first here.
        ordering = getattr(view, "ordering", None)
        if ordering and not any(hasattr(backend, "get_ordering") for backend in getattr(view, "filter_backends", [])):
            return (ordering,) if isinstance(ordering, str) else tuple(ordering)
        return super().get_ordering(request, queryset, view)


class KeysetCursorPage(BasePagination):
    """Pages by a unique key with the pages' `KeysetPaginator` (row comparisons that start an index range
    scan, no OFFSET), for the lists whose pages already page that way (the event log) or whose order is a
    compound key (the VA tree order, `(tree_id, lft)`). The answer has `CursorPage`'s shape,
    `{"next", "previous", "results"}`; the links carry `after` or `before`, and a cursor the API did not
    write is a 400 (`bad_cursor`).

    A view sets `keyset_fields` and `keyset_kinds` (e.g. ``("created_at", "pk")``, ``(datetime, int)``)
    and `keyset_descending`.
    """

    page_size = CursorPage.page_size
    max_page_size = CursorPage.max_page_size
    page_size_query_param = "page_size"

    def _paginator(self, view) -> KeysetPaginator:
        size = self.page_size
        raw = self.request.query_params.get(self.page_size_query_param)
        if raw is not None:
            size = parse_whole_number(raw, maximum=self.max_page_size)
            if size is None:
                raise ValidationError(
                    {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}, code="invalid"
                )
        return KeysetPaginator(
            tuple(view.keyset_fields),
            tuple(view.keyset_kinds),
            descending=getattr(view, "keyset_descending", False),
            size=size,
        )

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        params = request.query_params
        try:
            self.page = self._paginator(view).page(
                queryset, after=params.get("after", ""), before=params.get("before", "")
            )
        except BadCursor as error:
            raise ParseError(str(error), code="bad_cursor") from None
        return list(self.page.rows)

    def _link(self, name: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), "after")
        url = remove_query_param(url, "before")
        return replace_query_param(url, name, cursor)

    def get_paginated_response(self, data):
        return Response(
            {
                "next": self._link("after", self.page.next_cursor),
                "previous": self._link("before", self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        text = "A page link's cursor: use the `next` / `previous` links as they are."
        return [
            {"name": "after", "required": False, "in": "query", "description": text, "schema": {"type": "string"}},
            {"name": "before", "required": False, "in": "query", "description": text, "schema": {"type": "string"}},
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size},
            },
        ]
