"""The account's orders: what was bought, and where each line's licenses were deposited."""

from __future__ import annotations

from django.views.generic import TemplateView

from smartaccounts.lists import ListPageMixin
from smartaccounts.pagination import offset_page

from .. import selectors
from ..filters import OrderFilter
from ..tables import OrderTable
from .base import USABLE_KINDS, LicensingMixin

__all__ = ["OrderDetailView", "OrdersView"]


class OrdersView(ListPageMixin, LicensingMixin, TemplateView):
    template_name = "licensing/orders.html"
    results_template_name = "licensing/_orders_results.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = OrderFilter(self.request.GET, queryset=selectors.orders_in_scope(self.scope), request=self.request)
        page = offset_page(filters.rows, self.request.GET, 50)
        context.update(filter=filters, page=page, table=OrderTable(page.object_list))
        return context


class OrderDetailView(LicensingMixin, TemplateView):
    template_name = "licensing/order_detail.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = selectors.order_in_scope(self.scope, self.kwargs["order_id"])
        context.update(order=order, lines=list(order.lines.select_related("sku__license").order_by("line_number")))
        return context
