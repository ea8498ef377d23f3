"""What every list page shares: the part of the page a filter or a page link replaces (with htmx), and the
full page for everything else (no JavaScript, a bookmarked URL, htmx restoring history)."""

from __future__ import annotations

from django.utils.cache import patch_vary_headers


class ListPageMixin:
    """A list page whose results (table and pager) sit in `<div id="{{ htmx_results }}">`, rendered by
    `results_template_name`, which the page template includes.

    A request htmx makes for that element (`request.htmx.target`, set by django-htmx's middleware from the
    `HX-Target` header) gets the results template alone; every other request gets the whole page.
    """

    results_template_name: str = ""
    results_id = "list-results"

    def is_results_request(self) -> bool:
        htmx = getattr(self.request, "htmx", None)
        return bool(htmx) and htmx.target == self.results_id and not htmx.history_restore_request

    def get_template_names(self):
        if self.results_template_name and self.is_results_request():
            return [self.results_template_name]
        return super().get_template_names()

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["htmx_results"] = self.results_id
        return context

    def render_to_response(self, context, **response_kwargs):
        response = super().render_to_response(context, **response_kwargs)
        # The same URL answers with a fragment or a page: caches must keep them apart.
        patch_vary_headers(response, ("HX-Request", "HX-Target"))
        return response
