"""The licenses pages: per account (roll-up) and per VA (optionally with its subtree), a license's detail, transfers."""

from __future__ import annotations

from functools import partial
from html import escape

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import mark_safe
from django.views.generic import FormView, TemplateView

from smartaccounts.exports import stream_csv
from smartaccounts.views import apply_validation_error

from .. import selectors, services
from ..filters import LicenseFilter
from ..forms import LicenseTransferForm
from ..models import LicenseBalance
from .base import LicensingMixin, querystring, safe_next

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
    def filters(self) -> LicenseFilter:
        return LicenseFilter(
            self.request.GET,
            selector=partial(selectors.license_rows, self.scope),
            request=self.request,
            families=selectors.license_families(),
            with_subtree=self.virtual_account is not None,
        )

    def rows(self):
        return self.filters.qs

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
        # Row links are built from one base URL: reversing 300 URLs would cost more than the query.
        licenses_base = (
            reverse("va_licenses", args=[self.smart_account.pk, self.virtual_account.pk])
            if self.virtual_account
            else reverse("licenses", args=[self.smart_account.pk])
        )
        detail_suffix = querystring(params, q=None, type=None, family=None, alert=None, sort=None, dir=None)
        show_transfer = self.virtual_account is not None and self.can("operate") and not self.scope.include_subtree
        subtree = "&subtree=1" if self.scope.include_subtree else ""
        context.update(
            filters=self.filters.form,
            rows=rows,
            stats={
                "licenses": len(rows),
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
            alert_counts=selectors.license_alert_counts(self.scope),
            shortages_url=f"?alert=insufficient{subtree}",
            expiring_url=f"?alert=expiring{subtree}",
            csv_query=querystring(params),
            licenses_base=licenses_base,
            show_transfer=show_transfer,
            table_rows=license_table_rows(rows, licenses_base, detail_suffix, show_transfer),
            va_choices=self.va_choices(),
            detail_suffix=detail_suffix,
        )
        return context


NO_ALERT = '<span class="muted small">—</span>'


def license_table_rows(rows, licenses_base: str, detail_suffix: str, show_transfer: bool) -> str:
    """The <tr>s of the licenses table, written in Python: the template loop cost about 0.15 ms a cell,
    60 ms for the 300 licenses of a large account, for markup this builds in 2 ms. Every text is escaped.

    Columns: License (link to its detail, entitlement tag), Type (and enforcement), Purchased, In use
    (of which reserved), Balance (negative in red), Alerts (badges; a Transfer button on a VA's page).
    `col-opt` columns collapse on a phone's width, and `col-phone` parts show instead (static/css/portal.css).
    """
    base, suffix = escape(licenses_base), escape(detail_suffix)
    out = []
    for row in rows:
        lic = row.license
        name, tag = escape(lic.name), escape(lic.tag)
        enforcement = (
            f'<div><span class="badge badge-muted">{escape(lic.get_enforcement_display())}</span></div>'
            if lic.enforcement != "unenforced"
            else ""
        )
        reserved = f'<div class="muted small">{row.reserved} reserved</div>' if row.reserved else ""
        balance = row.balance
        balance_cell = f'<strong class="error">{balance}</strong>' if balance < 0 else str(balance)
        badges = "".join(
            f'<span class="badge {escape(css)}">{escape(text)}</span> ' for css, text in row.alerts.badges()
        )
        transfer = (
            f' <a class="btn btn-small" href="{base}{lic.pk}/transfer/" data-testid="transfer-{lic.pk}">Transfer</a>'
            if show_transfer and balance > 0
            else ""
        )
        in_use_title = f"{row.in_use} used by product instances, {row.reserved} reserved"
        # On a phone the Alerts column collapses: its badges and the Transfer link show under the name.
        phone_alerts = (
            f'<div class="col-phone">{badges}'
            + (f'<a class="btn btn-small" href="{base}{lic.pk}/transfer/">Transfer</a>' if transfer else "")
            + "</div>"
            if badges or transfer
            else ""
        )
        out.append(
            f'<tr data-license="{name}">'
            f'<td><a href="{base}{lic.pk}/{suffix}">{name}</a>'
            '<div class="muted small mono col-opt" style="max-width: 32rem; overflow: hidden; text-overflow: ellipsis; '
            f'white-space: nowrap" title="{tag}">{tag}</div>{phone_alerts}</td>'
            f'<td class="col-opt">{escape(lic.get_license_type_display())}{enforcement}</td>'
            f'<td class="num" data-col="purchased">{row.purchased}</td>'
            f'<td class="num" data-col="in-use" title="{in_use_title}">{row.total_in_use}{reserved}</td>'
            f'<td class="num" data-col="balance">{balance_cell}</td>'
            f'<td class="col-opt">{badges or NO_ALERT}{transfer}</td>'
            "</tr>\n"
        )
    return mark_safe("".join(out))


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
            openable_orders=selectors.openable_order_ids(
                self.request.user,
                self.smart_account,
                (lot.order_line.order_id for lot in detail.lots if lot.order_line_id),
                role_on_account=self.account_role,
            ),
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
