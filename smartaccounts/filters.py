"""Filters of the event log: action (a code, or a group such as ``va.*``), user, date range."""

from __future__ import annotations

import datetime as dt

import django_filters
from django import forms

from .models import Event


def _start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


class EventFilter(django_filters.FilterSet):
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

    @property
    def is_filtered(self) -> bool:
        return bool(self.form.is_bound and any(self.form.data.get(k) for k in self.filters))
