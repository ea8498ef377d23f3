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
from .params import MAX_ID, search_term


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


class SearchParam(django_filters.CharFilter):
    """A search box whose term a selector applies (its own index-specific search): the term as
    `params.search_term` reads it, or nothing when it holds characters a database cannot compare."""

    field_class = SearchField

    def __init__(self, *, placeholder: str = "", **kwargs):
        kwargs.setdefault("label", "Search")
        kwargs.setdefault("widget", forms.TextInput(attrs={"type": "search", "placeholder": placeholder}))
        super().__init__(**kwargs)

    def to_param(self, value: str) -> str:
        request = getattr(self.parent, "request", None)
        return search_term(request, value) if request is not None else (value or "").strip()


class IdParam(django_filters.Filter):
    """An id in the query string (hidden): a whole number in the id range, else the form refuses it."""

    field_class = forms.IntegerField

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        kwargs.setdefault("widget", forms.HiddenInput)
        super().__init__(**kwargs)


class SelectorFilterSet(ListFilterSet):
    """A FilterSet over a selector that filters by its own keyword arguments: where the filtering is
    index-specific and permission-scoped, the selector stays the one place that applies it, and the
    FilterSet is the one place that declares and validates the URL parameters.

    Each filter is one parameter; its `field_name` names the selector's keyword (the parameter's name
    unless given) and its `to_param`, when it has one, converts the value. `qs` (and `rows`) call
    `selector` once, with the parameters given; when any parameter is invalid (a bookmarked URL with a
    value that no longer exists), with none, so the page lists everything, as the selector's defaults say.
    """

    def __init__(self, data=None, *, selector, request=None, prefix=None):
        self.selector = selector
        super().__init__(data, request=request, prefix=prefix)

    @property
    def form(self):
        form = super().form
        form.label_suffix = ""
        return form

    def selector_params(self) -> dict:
        if not (self.is_bound and self.is_valid()):
            return {}
        params = {}
        for name, value in self.form.cleaned_data.items():
            parameter = self.filters[name]
            if hasattr(parameter, "to_param"):
                value = parameter.to_param(value)
            if value not in parameter.field.empty_values:
                params[parameter.field_name] = value
        return params

    def value(self, name: str, default=None):
        """The valid value of parameter `name`, else `default` (not given, empty or invalid)."""
        if not (self.is_bound and self.is_valid()):
            return default
        value = self.form.cleaned_data.get(name)
        return default if value in self.filters[name].field.empty_values else value

    @property
    def qs(self):
        if not hasattr(self, "_qs"):
            self._qs = self.selector(**self.selector_params())
        return self._qs

    @property
    def rows(self):
        return self.qs


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class EventFilterForm(forms.Form):
    """A date range must run forwards: From after To is an error on the form, not an empty list."""

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", f"To ({until:%Y-%m-%d}) is before From ({since:%Y-%m-%d}): choose a later To date.")
        return cleaned


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
        form = EventFilterForm

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
