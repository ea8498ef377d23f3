"""The licenses pages: per account (roll-up) and per VA (optionally with its subtree), a license's detail, transfers."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.views.generic import FormView, TemplateView

from smartaccounts.views import apply_validation_error

from .. import selectors, services
from ..forms import LicenseFilterForm, LicenseTransferForm
from ..models import LicenseBalance
from .base import LicensingMixin, querystring, safe_next, stream_csv

SORT_COLUMNS = [
    ("name", "License"),
    ("type", "Type"),
    ("purchased", "Purchased"),
    ("in_use", "In use"),
    ("balance", "Balance"),
]

__all__ = ["LicenseDetailView", "LicenseTransferView", "LicensesView"]


class LicensesView(LicensingMixin, TemplateView):
    """License, Type, Purchased, In Use (usage + reserved), Balance and Alerts, per license of the scope."""

    template_name = "licensing/licenses.html"
    va_url_name = "va_licenses"
    csv = False

    @cached_property
    def filters(self) -> LicenseFilterForm:
        form = LicenseFilterForm(
            self.request.GET,
            families=selectors.license_families(),
            with_subtree=self.virtual_account is not None,
        )
        form.is_valid()
        return form

    def rows(self):
        f = self.filters
        return selectors.license_rows(
            self.scope,
            search=f.value("q").strip(),
            license_type=f.value("type"),
            family=f.value("family"),
            alert=f.value("alert"),
            sort=f.value("sort", "name"),
            descending=f.value("dir") == "desc",
        )

    def get(self, request, *args, **kwargs):
        if self.csv:
            return self.export()
        return super().get(request, *args, **kwargs)

    def export(self):
        where = self.virtual_account.name if self.virtual_account else self.smart_account.name
        rows = (
            [
                r.license.name,
                r.license.tag,
                r.license.product_family,
                r.license.get_license_type_display(),
                r.purchased,
                r.in_use,
                r.reserved,
                r.total_in_use,
                r.balance,
                r.alerts.text(),
            ]
            for r in self.rows()
        )
        header = ["License", "Entitlement tag", "Product family", "Type", "Purchased", "In use (devices)",
                  "Reserved", "In use", "Balance", "Alerts"]  # fmt: skip
        return stream_csv(f"licenses-{_slug(where)}.csv", header, rows)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        rows = self.rows()
        params = self.request.GET
        current, direction = self.filters.value("sort", "name"), self.filters.value("dir", "asc")
        context.update(
            filters=self.filters,
            rows=rows,
            stats={
                "licenses": len(rows),
                "insufficient": sum(1 for r in rows if r.alerts.insufficient or r.alerts.short_vas),
                "expiring": sum(1 for r in rows if r.alerts.expiring),
                "expired": sum(1 for r in rows if r.alerts.expired),
            },
            sort_columns=[
                {
                    "key": key,
                    "label": label,
                    "active": key == current,
                    "direction": direction if key == current else "",
                    "query": querystring(
                        params, sort=key, dir="desc" if key == current and direction != "desc" else None
                    ),
                }
                for key, label in SORT_COLUMNS
            ],
            csv_query=querystring(params),
            # Row links are built from one base URL: reversing 300 URLs would cost more than the query.
            licenses_base=(
                reverse("va_licenses", args=[self.smart_account.pk, self.virtual_account.pk])
                if self.virtual_account
                else reverse("licenses", args=[self.smart_account.pk])
            ),
            show_transfer=self.virtual_account is not None and self.can("operate") and not self.scope.include_subtree,
            va_choices=self.va_choices(),
            detail_suffix=querystring(params, q=None, type=None, family=None, alert=None, sort=None, dir=None),
        )
        return context


class LicenseDetailView(LicensingMixin, TemplateView):
    """Purchased against in use, the lots with their sources, the instances using it, its ledger entries."""

    template_name = "licensing/license_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        license = selectors.license_in_scope(self.scope, self.kwargs["license_id"])
        detail = selectors.license_detail(self.scope, license)
        context.update(
            license=license,
            detail=detail,
            chart={
                "labels": [b.virtual_account.name for b in detail.per_va],
                "purchased": [b.purchased for b in detail.per_va],
                "in_use": [b.in_use + b.reserved for b in detail.per_va],
            },
            today=timezone.localdate(),
            can_transfer=self.virtual_account is not None and self.can("operate") and detail.purchased > 0,
            subtree_query=querystring(self.request.GET),
        )
        return context


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:60] or "export"


class LicenseTransferView(LicensingMixin, FormView):
    """Transfer licenses of one license from this VA to another the user may operate on."""

    template_name = "licensing/license_transfer.html"
    form_class = LicenseTransferForm
    required_action = "operate"

    @cached_property
    def license(self):
        return selectors.license_in_scope(self.scope, self.kwargs["license_id"])

    @cached_property
    def balance(self) -> LicenseBalance:
        return LicenseBalance.objects.filter(virtual_account=self.virtual_account, license=self.license).first()

    def available(self) -> int:
        return self.balance.available if self.balance else 0

    def get_form_kwargs(self):
        kwargs = super().get_form_kwargs()
        kwargs["targets"] = (
            self.visible_virtual_accounts("operate").exclude(pk=self.virtual_account.pk).order_by("tree_id", "lft")
        )
        kwargs["available"] = self.available()
        return kwargs

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(license=self.license, balance=self.balance, available=self.available())
        return context

    def detail_url(self) -> str:
        return reverse(
            "va_license_detail",
            kwargs={
                "account_id": self.smart_account.pk,
                "va_id": self.virtual_account.pk,
                "license_id": self.license.pk,
            },
        )

    def form_valid(self, form):
        target, quantity = form.cleaned_data["target"], form.cleaned_data["quantity"]
        try:
            services.transfer_licenses(
                actor=self.request.user,
                source=self.virtual_account,
                target=target,
                license=self.license,
                quantity=quantity,
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        messages.success(
            self.request,
            f"Transferred {quantity} × {self.license.name} from {self.virtual_account.name} to {target.name}.",
        )
        return redirect(safe_next(self.request, self.detail_url()))
