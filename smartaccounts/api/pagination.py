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

    def get_ordering(self, request, queryset, view):
        # DRF reads only the paginator's own `ordering` (or an ordering filter's): the view's comes first here.
        ordering = getattr(view, "ordering", None)
        if ordering and not any(hasattr(backend, "get_ordering") for backend in getattr(view, "filter_backends", [])):
            return (ordering,) if isinstance(ordering, str) else tuple(ordering)
        return super().get_ordering(request, queryset, view)
