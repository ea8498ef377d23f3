"""The FilterSets of the pages whose selectors filter (instances, licenses, alerts, reporting): each URL
parameter reaches its selector keyword, and a parameter a form refuses means no filter at all."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.http import QueryDict

from licensing.filters import InstanceFilter, LicenseFilter
from policy.filters import AlertFilter, ReportingFilter


def asked(filterset_class, query: str, **kwargs) -> dict:
    """The keyword arguments the FilterSet calls its selector with, for the query string `query`."""
    return filterset_class(QueryDict(query), selector=lambda **params: params, **kwargs).qs


VAS = [SimpleNamespace(pk=7, level=0, name="Default"), SimpleNamespace(pk=8, level=1, name="Lab")]


@pytest.mark.parametrize(
    ("filterset_class", "kwargs", "query", "expected"),
    [
        (
            InstanceFilter,
            {"families": ["Catalyst"]},
            "q=+sw-1+&status=removed&family=Catalyst&reporting=overdue&license=42",
            {"search": "sw-1", "status": "removed", "family": "Catalyst", "reporting_status": "overdue",
             "license_id": 42},
        ),
        (InstanceFilter, {"families": []}, "", {}),
        (
            LicenseFilter,
            {"families": ["Catalyst"], "with_subtree": True},
            "q=adv&type=perpetual&family=Catalyst&alert=any&sort=balance&dir=desc&subtree=1",
            {"search": "adv", "license_type": "perpetual", "family": "Catalyst", "alert": "any", "sort": "balance",
             "descending": True},
        ),
        (LicenseFilter, {"families": []}, "sort=in_use&dir=asc", {"sort": "in_use", "descending": False}),
        (
            AlertFilter,
            {"virtual_accounts": VAS},
            "state=all&kind=overdue&severity=critical&va=8",
            {"state": "all", "kind": "overdue", "severity": "critical", "virtual_account_id": 8},
        ),
        (AlertFilter, {"virtual_accounts": VAS}, "state=", {}),  # the selector's default: open alerts
        (
            ReportingFilter,
            {"virtual_accounts": VAS},
            "status=due_soon&va=7&q=FOC",
            {"status": "due_soon", "virtual_account_id": 7, "q": "FOC"},
        ),
    ],
)  # fmt: skip
def test_each_url_parameter_reaches_its_selector_keyword(filterset_class, kwargs, query, expected):
    assert asked(filterset_class, query, **kwargs) == expected


@pytest.mark.parametrize(
    ("filterset_class", "kwargs", "query"),
    [
        (InstanceFilter, {"families": ["Catalyst"]}, "status=removed&license=0"),
        (InstanceFilter, {"families": ["Catalyst"]}, "status=removed&family=Nexus"),
        (LicenseFilter, {"families": []}, "type=perpetual&sort=bogus"),
        (AlertFilter, {"virtual_accounts": VAS}, "state=resolved&va=9"),
        (ReportingFilter, {"virtual_accounts": VAS}, "status=overdue&q=" + "x" * 101),
    ],
)
def test_a_refused_parameter_lists_everything(filterset_class, kwargs, query):
    filters = filterset_class(QueryDict(query), selector=lambda **params: params, **kwargs)
    assert filters.qs == {} and not filters.is_valid()


def test_the_subtree_box_is_on_a_virtual_accounts_licenses_page_only():
    assert "subtree" in LicenseFilter(None, selector=dict, families=[], with_subtree=True).form.fields
    assert "subtree" not in LicenseFilter(None, selector=dict, families=[]).form.fields
