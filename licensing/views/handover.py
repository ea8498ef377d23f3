"""Partner holding pages (held orders, transfer to customer, outgoing hand-overs) and the customer's
"Incoming licenses" pages. Every read goes through `licensing.selectors.handover`; every write
through `licensing.services`."""

from __future__ import annotations

from collections import OrderedDict

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.functional import cached_property
from django.views.generic import TemplateView, View

from smartaccounts.lists import ListPageMixin
from smartaccounts.mixins import AccountScopedMixin
from smartaccounts.models import SmartAccount
from smartaccounts.pagination import offset_page
from smartaccounts.params import search_term
from smartaccounts.views import apply_validation_error

from .. import services
from ..filters import HandOverFilter, HeldOrderFilter
from ..forms.handover import AcceptHandOverForm, DeclineHandOverForm, HandOverForm
from ..models import HandOver
from ..navigation_workflows import may_decide_hand_overs
from ..selectors import handover as selectors
from ..tables import IncomingHandOverTable, OutgoingHandOverTable, PendingHandOverTable

PARTNER = (SmartAccount.Kind.PARTNER_HOLDING,)
CUSTOMER = (SmartAccount.Kind.CUSTOMER,)
PAGE_SIZE = 25


class PartnerPageMixin(AccountScopedMixin):
    allowed_kinds = PARTNER


class HeldOrdersView(ListPageMixin, PartnerPageMixin, TemplateView):
    """The orders deposited into the holding account and, per line, what is still held here."""

    template_name = "licensing/handover/holdings.html"
    results_template_name = "licensing/handover/_holdings_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = HeldOrderFilter(
            self.request.GET, queryset=selectors.holding_orders(self.smart_account), request=self.request
        )
        page = offset_page(filters.rows, self.request.GET, PAGE_SIZE)
        lines = selectors.held_order_lines(self.smart_account, self.visible_virtual_accounts()).filter(
            order__in=[order.pk for order in page]
        )
        grouped: OrderedDict[int, list] = OrderedDict((order.pk, []) for order in page)
        for line in lines:
            grouped[line.order_id].append(line)
        totals = selectors.holding_totals(self.smart_account, self.visible_virtual_accounts())
        context.update(
            page=page,
            orders=[(order, grouped[order.pk]) for order in page],
            filter=filters,
            held_total=totals["held"],
            transit_total=totals["in_transit"],
            pending_count=selectors.outgoing_hand_overs(self.smart_account)
            .filter(status=HandOver.Status.PENDING)
            .count(),
        )
        return context


class TransferToCustomerView(PartnerPageMixin, TemplateView):
    """Pick held order lines and quantities, name the customer by domain, confirm its name, hand over."""

    template_name = "licensing/handover/transfer.html"
    confirm_template_name = "licensing/handover/transfer_confirm.html"
    required_action = "operate"

    def held_lines(self):
        lines = selectors.held_order_lines(self.smart_account, self.visible_virtual_accounts("operate")).filter(
            held__gt=0
        )
        search = self.search
        if search:
            lines = lines.filter(order__number__icontains=search)
        return lines

    @cached_property
    def search(self) -> str:
        return search_term(self.request, self.request.POST.get("q") or self.request.GET.get("q"))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.setdefault("form", HandOverForm(lines=self.held_lines()))
        context["search"] = self.search
        return context

    def post(self, request, *args, **kwargs):
        form = HandOverForm(request.POST, lines=self.held_lines())
        if not form.is_valid() or request.POST.get("step") == "edit":
            return self.render_to_response(self.get_context_data(form=form))
        customer = selectors.eligible_customer_account(form.cleaned_data["customer_domain"])
        if customer is None:
            form.add_error("customer_domain", services.NO_ELIGIBLE_CUSTOMER)
            return self.render_to_response(self.get_context_data(form=form))
        chosen = form.cleaned_data["order_lines"]
        if request.POST.get("step") != "confirm":
            return self.response_class(
                request=request,
                template=[self.confirm_template_name],
                context=self.get_context_data(
                    form=form,
                    customer_name=customer.name,
                    chosen=list(chosen.items()),
                    total=sum(chosen.values()),
                ),
                using=self.template_engine,
            )
        try:
            hand_over = services.transfer_to_customer(actor=request.user, order_lines=chosen, customer_account=customer)
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.render_to_response(self.get_context_data(form=form))
        messages.success(
            request,
            f"Hand-over {hand_over.pk} to {customer.name} is waiting for the customer to accept it. "
            "Its Admins have been e-mailed.",
        )
        return redirect("hand_over_outgoing_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk)


class OutgoingHandOversView(ListPageMixin, PartnerPageMixin, TemplateView):
    template_name = "licensing/handover/outgoing_list.html"
    results_template_name = "licensing/handover/_outgoing_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = HandOverFilter(self.request.GET, queryset=selectors.outgoing_hand_overs(self.smart_account))
        page = offset_page(filters.rows, self.request.GET, PAGE_SIZE)
        context.update(filter=filters, page=page, table=OutgoingHandOverTable(page.object_list))
        return context


class OutgoingHandOverMixin(PartnerPageMixin):
    def get_hand_over(self) -> HandOver:
        hand_over = selectors.outgoing_hand_overs(self.smart_account).filter(pk=self.kwargs["hand_over_id"]).first()
        if hand_over is None:
            raise Http404("No such hand-over.")
        return hand_over


class OutgoingHandOverDetailView(OutgoingHandOverMixin, TemplateView):
    template_name = "licensing/handover/outgoing_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        hand_over = self.get_hand_over()
        context.update(hand_over=hand_over, lines=selectors.hand_over_lines(hand_over))
        return context


class CancelHandOverView(OutgoingHandOverMixin, View):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over()
        try:
            services.cancel_hand_over(actor=request.user, hand_over=hand_over)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Hand-over {hand_over.pk} is cancelled; its licenses are back in this account.")
        return redirect("hand_over_outgoing_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk)


# --- The customer's side ------------------------------------------------------------------------------


class CustomerPageMixin(AccountScopedMixin):
    allowed_kinds = CUSTOMER

    def get_hand_over(self) -> HandOver:
        hand_over = selectors.incoming_hand_overs(self.smart_account).filter(pk=self.kwargs["hand_over_id"]).first()
        if hand_over is None:
            raise Http404("No such hand-over.")
        return hand_over


class IncomingHandOversView(ListPageMixin, CustomerPageMixin, TemplateView):
    """Licenses partners handed over to this account: pending ones to accept or decline, then the history."""

    template_name = "licensing/handover/incoming_list.html"
    results_template_name = "licensing/handover/_incoming_results.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        incoming = selectors.incoming_hand_overs(self.smart_account)
        pending = list(incoming.filter(status=HandOver.Status.PENDING))
        page = offset_page(incoming.exclude(status=HandOver.Status.PENDING), self.request.GET, PAGE_SIZE)
        context.update(
            pending=pending,
            pending_table=PendingHandOverTable(pending, exclude=() if may_decide_hand_overs(self) else ("review",)),
            page=page,
            table=IncomingHandOverTable(page.object_list),
            visible_va_ids=set(self.visible_virtual_accounts().values_list("pk", flat=True)),
        )
        return context


class IncomingHandOverDetailView(CustomerPageMixin, TemplateView):
    template_name = "licensing/handover/incoming_detail.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        hand_over = self.get_hand_over()
        operable = self.visible_virtual_accounts("operate")
        context.update(
            hand_over=hand_over,
            lines=selectors.hand_over_lines(hand_over),
            accept_form=kwargs.get("accept_form") or AcceptHandOverForm(virtual_accounts=operable),
            decline_form=kwargs.get("decline_form") or DeclineHandOverForm(),
            can_accept=self.can("operate") and operable.exists(),
            can_decline=self.account_role is not None and self.account_role.allows("admin"),
            visible_va_ids=set(self.visible_virtual_accounts().values_list("pk", flat=True)),
        )
        return context


class AcceptHandOverView(IncomingHandOverDetailView):
    http_method_names = ["post"]

    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over()
        form = AcceptHandOverForm(request.POST, virtual_accounts=self.visible_virtual_accounts("operate"))
        if form.is_valid():
            va = form.cleaned_data["virtual_account"]
            try:
                services.accept_hand_over(actor=request.user, hand_over=hand_over, virtual_account=va)
            except ValidationError as error:
                # Decided meanwhile (or the VA was deleted): say so above the page as it is now.
                messages.error(request, " ".join(error.messages))
                return redirect(
                    "hand_over_incoming_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk
                )
            except PermissionDenied as error:
                form.add_error("virtual_account", str(error))
            else:
                total = hand_over.total
                licenses = f"{total} license{'s' if total != 1 else ''}"
                messages.success(request, f"Accepted {licenses} from {hand_over.partner_name} into {va.name}.")
                return redirect(
                    "hand_over_incoming_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk
                )
        return self.render_to_response(self.get_context_data(accept_form=form))


class DeclineHandOverView(IncomingHandOverDetailView):
    http_method_names = ["post"]
    required_write_action = "admin"

    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over()
        form = DeclineHandOverForm(request.POST)
        if form.is_valid():
            try:
                services.decline_hand_over(actor=request.user, hand_over=hand_over, reason=form.cleaned_data["reason"])
            except ValidationError as error:
                if not hasattr(error, "error_dict"):  # decided meanwhile
                    messages.error(request, " ".join(error.messages))
                    return redirect(
                        "hand_over_incoming_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk
                    )
                apply_validation_error(form, error)
            else:
                messages.success(request, f"Declined; the licenses went back to {hand_over.partner_name}.")
                return redirect(
                    "hand_over_incoming_detail", account_id=self.smart_account.pk, hand_over_id=hand_over.pk
                )
        return self.render_to_response(self.get_context_data(decline_form=form))
