"""FilterSets of the policy list pages (django-filter). The selectors (`policy.selectors.reporting_instances`,
`alerts_for`) apply the filters, scoped to what the user may see; these declare and validate the URL
parameters. Thousands of VAs: the VA options are written in Python (`FlatSelect`)."""

from __future__ import annotations

import django_filters
from django import forms

from licensing.models import ProductInstance
from smartaccounts.filters import SearchParam, SelectorFilterSet
from smartaccounts.forms import FlatSelect

from .models import Alert


class VirtualAccountParam(django_filters.TypedChoiceFilter):
    """`?va=`: one of the VAs the user sees (the page gives them), shown as a tree."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Virtual Account")
        super().__init__(field_name="virtual_account_id", coerce=int, empty_value=None, widget=FlatSelect, **kwargs)

    def set_virtual_accounts(self, virtual_accounts) -> None:
        self.extra["choices"] = [("", "Every Virtual Account")] + [
            (va.pk, ("— " * va.level) + va.name) for va in virtual_accounts
        ]


class ReportingFilter(SelectorFilterSet):
    status = django_filters.ChoiceFilter(
        label="Status", choices=ProductInstance.ReportingStatus.choices, empty_label="Any status"
    )
    va = VirtualAccountParam()
    q = SearchParam(max_length=100, placeholder="Hostname, PID or serial number")
    # On a Virtual Account's page (no `va` choice there): the page's scope holds it, see the view.
    subtree = django_filters.BooleanFilter(label="Include sub-accounts", widget=forms.CheckboxInput)

    class Meta:
        model = ProductInstance
        fields: list[str] = []

    def __init__(self, *args, virtual_accounts, in_virtual_account: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if in_virtual_account:
            del self.filters["va"]
        else:
            del self.filters["subtree"]
            self.filters["va"].set_virtual_accounts(virtual_accounts)

    def selector_params(self) -> dict:
        params = super().selector_params()
        params.pop("subtree", None)
        return params


class AlertFilter(SelectorFilterSet):
    """Open alerts unless `state` says otherwise (the selector's default)."""

    state = django_filters.ChoiceFilter(
        label="State", choices=[("open", "Open"), ("resolved", "Resolved"), ("all", "All")], empty_label=None
    )
    kind = django_filters.ChoiceFilter(label="Kind", choices=Alert.Kind.choices, empty_label="Any kind")
    severity = django_filters.ChoiceFilter(label="Severity", choices=Alert.Severity.choices, empty_label="Any severity")
    va = VirtualAccountParam()

    class Meta:
        model = Alert
        fields: list[str] = []

    def __init__(self, *args, virtual_accounts, **kwargs):
        super().__init__(*args, **kwargs)
        self.filters["va"].set_virtual_accounts(virtual_accounts)
