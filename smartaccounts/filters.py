"""FilterSets of the list pages (django-filter): the search box every list shares, and the event log's filters
(action, a code or a group such as ``va.*``; user; date range). A selector gives the rows a person may see;
a FilterSet narrows them to what the request asks for."""

from __future__ import annotations

import datetime as dt
from functools import reduce
from operator import or_

import django_filters
from django import forms
from django.core.validators import ProhibitNullCharactersValidator
from django.db.models import Q

from .models import Event
from .params import search_term


class SearchField(forms.CharField):
    """A search box's field: it takes any text, so that `params.search_term` can say why a term is ignored
    (Django's CharField would refuse a NUL as a form error)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.validators = [v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)]


class SearchFilter(django_filters.CharFilter):
    """A search box (`?q=`): rows where any of `fields` contains the term, case-insensitively. The term is
    read with `params.search_term`: one holding characters a database cannot compare is ignored, and the
    page says so."""

    def __init__(self, fields: tuple[str, ...], *, placeholder: str = "", **kwargs):
        self.search_fields = fields
        kwargs.setdefault("label", "Search")
        kwargs.setdefault("widget", forms.TextInput(attrs={"type": "search", "placeholder": placeholder}))
        super().__init__(**kwargs)

    field_class = SearchField

    def filter(self, qs, value):
        request = getattr(self.parent, "request", None)
        term = search_term(request, value) if request is not None else (value or "").strip()
        if not term:
            return qs
        return qs.filter(reduce(or_, (Q(**{f"{field}__icontains": term}) for field in self.search_fields)))


class ListFilterSet(django_filters.FilterSet):
    """A FilterSet over a selector's rows; `rows` is what the page lists: filtered when the request's
    parameters are valid, the selector's rows unfiltered when no parameter is given."""

    @property
    def rows(self):
        return self.qs if self.is_bound and self.is_valid() else self.queryset

    @property
    def is_filtered(self) -> bool:
        return bool(self.is_bound and any(self.form.data.get(k) for k in self.filters))


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class EventFilter(ListFilterSet):
    """Date bounds are whole UTC days and become a range on `created_at`, so the time index serves them."""

    action = django_filters.ChoiceFilter(label="Action", method="filter_action", empty_label="All actions")
    user = django_filters.CharFilter(
        label="User",
        method="filter_user",
        widget=forms.TextInput(attrs={"placeholder": "e-mail contains", "type": "search"}),
    )
    since = django_filters.DateFilter(
        label="From", method="filter_since", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = django_filters.DateFilter(label="To", method="filter_until", widget=forms.DateInput(attrs={"type": "date"}))

    class Meta:
        model = Event
        fields: list[str] = []

    def __init__(self, *args, actions: list[str] = (), **kwargs):
        super().__init__(*args, **kwargs)
        groups = sorted({a.split(".", 1)[0] + ".*" for a in actions if "." in a})
        self.filters["action"].extra["choices"] = [(g, f"{g} (all)") for g in groups] + [(a, a) for a in actions]

    def filter_action(self, queryset, name, value):
        if value.endswith(".*"):
            return queryset.filter(action__startswith=value[:-1])
        return queryset.filter(action=value)

    def filter_user(self, queryset, name, value):
        value = value.strip()
        if value.lower() in ("system", "-"):
            return queryset.filter(actor__isnull=True)
        return queryset.filter(actor__email__icontains=value) if value else queryset

    def filter_since(self, queryset, name, value):
        return queryset.filter(created_at__gte=_start_of(value))

    def filter_until(self, queryset, name, value):
        if value >= dt.date.max:  # the last day there is: no day after it to stop before
            return queryset
        return queryset.filter(created_at__lt=_start_of(value + dt.timedelta(days=1)))
