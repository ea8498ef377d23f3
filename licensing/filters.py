"""FilterSets of the licensing list pages (django-filter): they narrow what a selector returns to what the
request asks for. Values that are not choices are refused by the form, so the page lists everything."""

from __future__ import annotations

import django_filters
from django import forms

from smartaccounts.filters import IdParam, ListFilterSet, SearchFilter, SearchParam, SelectorFilterSet

from .models import HandOver, License, Order, Pak, ProductInstance
from .selectors.licenses import ALERT_CHOICES, SORTS


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


class InstanceFilter(SelectorFilterSet):
    """The product instances page; `selectors.instances_in_scope` applies the filters (the serial-number
    search is its own). Without a status, removed instances are left out."""

    q = SearchParam(field_name="search", placeholder="Name, PID or serial number")
    status = django_filters.ChoiceFilter(
        label="Status", choices=ProductInstance.Status.choices, empty_label="Active and reserved"
    )
    family = django_filters.ChoiceFilter(label="Product family", empty_label="All families")
    reporting = django_filters.ChoiceFilter(
        label="Reporting",
        field_name="reporting_status",
        choices=ProductInstance.ReportingStatus.choices,
        empty_label="Any reporting status",
    )
    license = IdParam(field_name="license_id")
    subtree = django_filters.BooleanFilter(label="Include sub-accounts", widget=forms.CheckboxInput)

    class Meta:
        model = ProductInstance
        fields: list[str] = []

    def __init__(self, *args, families: list[str], with_subtree: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["family"].extra["choices"] = [(f, f) for f in families]
        if not with_subtree:  # the scope's, as on the licenses pages: a VA's page only
            del self.filters["subtree"]

    def selector_params(self) -> dict:
        params = super().selector_params()
        params.pop("subtree", None)
        return params


class LicenseFilter(SelectorFilterSet):
    """The licenses pages; `selectors.license_rows` filters and sorts the aggregated rows. `subtree` is the
    scope's (`LicensingMixin.include_subtree`): declared here to be on the form of a VA's page only."""

    q = SearchParam(field_name="search", placeholder="Name or tag")
    type = django_filters.ChoiceFilter(
        label="Type", field_name="license_type", choices=License.Type.choices, empty_label="All types"
    )
    family = django_filters.ChoiceFilter(label="Product family", empty_label="All families")
    alert = django_filters.ChoiceFilter(label="Alerts", choices=ALERT_CHOICES, empty_label="All licenses")
    sort = django_filters.ChoiceFilter(choices=[(k, k) for k in SORTS], widget=forms.HiddenInput)
    dir = django_filters.ChoiceFilter(choices=[("asc", "asc"), ("desc", "desc")], widget=forms.HiddenInput)
    subtree = django_filters.BooleanFilter(label="Include sub-accounts", widget=forms.CheckboxInput)

    class Meta:
        model = License
        fields: list[str] = []

    def __init__(self, *args, families: list[str], with_subtree: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["family"].extra["choices"] = [(f, f) for f in families]
        if not with_subtree:
            del self.filters["subtree"]

    def selector_params(self) -> dict:
        params = super().selector_params()
        params.pop("subtree", None)  # the scope holds it
        if "dir" in params:
            params["descending"] = params.pop("dir") == "desc"
        return params
