"""FilterSets of the licensing list pages (django-filter): they narrow what a selector returns to what the
request asks for. Values that are not choices are refused by the form, so the page lists everything."""

from __future__ import annotations

import django_filters

from smartaccounts.filters import ListFilterSet, SearchFilter

from .models import HandOver, Order, Pak


class OrderFilter(ListFilterSet):
    q = SearchFilter(("number", "end_customer"), placeholder="Order number or end customer")

    class Meta:
        model = Order
        fields: list[str] = []


class HeldOrderFilter(ListFilterSet):
    q = SearchFilter(("number", "end_customer", "ordered_by"), placeholder="Order number, buyer or end customer")

    class Meta:
        model = Order
        fields: list[str] = []


class PakFilter(ListFilterSet):
    q = SearchFilter(("number",), label="PAK number", placeholder="PAK number")

    class Meta:
        model = Pak
        fields: list[str] = []


class HandOverFilter(ListFilterSet):
    status = django_filters.ChoiceFilter(choices=HandOver.Status.choices, empty_label="All")

    class Meta:
        model = HandOver
        fields: list[str] = []
