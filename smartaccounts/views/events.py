"""The event log of an account or of a Virtual Account (with its subtree): filters, pages, streaming CSV.

People with a role on the account see all its events; people with VA roles see the events of the
VAs they can view. A VA's log shows the events of that VA and of its descendants.
"""

from __future__ import annotations

import datetime as dt
import json

from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views import View
from django.views.generic import TemplateView

from .. import selectors
from ..exports import stream_csv
from ..filters import EventFilter
from ..lists import ListPageMixin
from ..mixins import AccountScopedMixin
from ..pagination import KeysetPaginator

PAGE_SIZE = 50
CSV_COLUMNS = ["time_utc", "action", "user", "virtual_account", "message", "details"]


class EventQueryMixin:
    def filtered_events(self) -> EventFilter:
        events = selectors.events_for(
            self.request.user, self.smart_account, self.virtual_account, whole_account=self.account_role is not None
        )
        return EventFilter(
            self.request.GET or None, queryset=events, actions=selectors.event_actions(self.smart_account)
        )


# Newest first, paged by key: an account's log grows without end, and a COUNT or an OFFSET over it would too.
EVENT_PAGES = KeysetPaginator(("created_at", "pk"), (dt.datetime, int), descending=True, size=PAGE_SIZE)


class EventLogView(ListPageMixin, EventQueryMixin, AccountScopedMixin, TemplateView):
    template_name = "smartaccounts/events.html"
    results_template_name = "smartaccounts/_events_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        event_filter = self.filtered_events()
        page = EVENT_PAGES.page_for(event_filter.rows, self.request.GET)
        query = self.request.GET.copy()
        for key in ("after", "before", "page"):
            query.pop(key, None)
        va = self.virtual_account
        account = self.smart_account
        context.update(
            filter=event_filter,
            page=page,
            events=page.rows,
            csv_url=(
                reverse("va_events_csv", args=[account.pk, va.pk])
                if va
                else reverse("account_events_csv", args=[account.pk])
            )
            + (f"?{query.urlencode()}" if query else ""),
        )
        return context


class EventCsvView(EventQueryMixin, AccountScopedMixin, View):
    """The filtered event log as CSV, streamed row by row from a server-side cursor (no size limit)."""

    http_method_names = ["get", "head"]

    def get(self, request, *args, **kwargs):
        event_filter = self.filtered_events()
        events = event_filter.qs if event_filter.is_bound and event_filter.is_valid() else event_filter.queryset
        return events_csv(events, self.virtual_account.name if self.virtual_account else self.smart_account.name)


def events_csv(events, label: str):
    """Events as a CSV download named after `label` (the account or VA), streamed row by row from a
    server-side cursor (no size limit); the page's export and the API's."""
    rows = (
        [created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"), action, email or "system", va_name,
         message, _json(details)]
        for created_at, action, email, va_name, message, details in events.values_list(
            "created_at", "action", "actor__email", "virtual_account_name", "message", "details"
        ).iterator(chunk_size=2000)
    )  # fmt: skip
    return stream_csv(f"events-{slugify(label) or 'account'}-{timezone.now():%Y%m%d}.csv", CSV_COLUMNS, rows)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True) if value else ""
