"""The account's orders: what was bought, and where each line's licenses were deposited."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.views.generic import TemplateView

from smartaccounts.params import search_term

from .. import selectors
from .base import USABLE_KINDS, LicensingMixin, querystring

__all__ = ["OrderDetailView", "OrdersView"]


class OrdersView(LicensingMixin, TemplateView):
    template_name = "licensing/orders.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        search = search_term(self.request, self.request.GET.get("q"))
        paginator = Paginator(selectors.orders_in_scope(self.scope, search=search), 50)
        page = paginator.get_page(self.request.GET.get("page"))
        context.update(search=search, page=page, base_query=querystring(self.request.GET, page=None))
        return context


class OrderDetailView(LicensingMixin, TemplateView):
    template_name = "licensing/order_detail.html"
    allowed_kinds = USABLE_KINDS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        order = selectors.order_in_scope(self.scope, self.kwargs["order_id"])
        context.update(order=order, lines=list(order.lines.select_related("sku__license").order_by("line_number")))
        return context
