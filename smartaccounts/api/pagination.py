"""The API's one way to page a list (settings `DEFAULT_PAGINATION_CLASS`; kept apart from the views so that
DRF can import it while its own modules load)."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination

__all__ = ["CursorPage"]


class CursorPage(CursorPagination):
    """`?cursor=` pages of `page_size` rows (default 100, at most 1,000), newest first unless the view
    sets `ordering` (a unique column last, so that the cursor is exact)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-pk"
