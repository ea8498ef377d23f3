"""The "Convert PAKs" pages: the account's PAKs, entering a PAK number, converting lines into a VA."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.views.generic import TemplateView

from smartaccounts.lists import ListPageMixin
from smartaccounts.mixins import AccountScopedMixin
from smartaccounts.models import SmartAccount
from smartaccounts.pagination import offset_page
from smartaccounts.ratelimits import (
    PakClaimAccountThrottle,
    PakClaimAddressThrottle,
    PakClaimUserThrottle,
    RateLimitedMixin,
)
from smartaccounts.views import apply_validation_error

from .. import services
from ..filters import PakFilter
from ..forms.paks import ConvertPakForm, PakNumberForm
from ..selectors import paks as selectors
from ..tables import PakTable

PAK_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)


class PakListView(ListPageMixin, AccountScopedMixin, RateLimitedMixin, TemplateView):
    """The account's PAKs, and the form that finds (or claims) one by its number.

    Entering numbers is limited per client address, per login and per account, so nobody can try
    PAK numbers until an unowned one turns up (the limits count after the role check: people without
    a role get their 404 first)."""

    template_name = "licensing/paks/list.html"
    results_template_name = "licensing/paks/_results.html"
    allowed_kinds = PAK_KINDS
    required_action = "operate"
    throttle_classes = (PakClaimAddressThrottle, PakClaimUserThrottle, PakClaimAccountThrottle)
    throttled_what = "PAK numbers"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        filters = PakFilter(self.request.GET, queryset=selectors.paks_of(self.smart_account), request=self.request)
        page = offset_page(filters.rows, self.request.GET, 25)
        context.update(
            form=kwargs.get("form") or PakNumberForm(),
            filter=filters,
            page=page,
            table=PakTable(page.object_list),
        )
        return context

    def post(self, request, *args, **kwargs):
        form = PakNumberForm(request.POST)
        if form.is_valid():
            try:
                pak = services.claim_pak(
                    actor=request.user, smart_account=self.smart_account, number=form.cleaned_data["number"]
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                if getattr(pak, "claimed_now", False):
                    messages.success(request, f"PAK {pak.number} now belongs to {self.smart_account.name}.")
                return redirect("pak_convert", account_id=self.smart_account.pk, pak_id=pak.pk)
        return self.render_to_response(self.get_context_data(form=form))


class PakConvertView(AccountScopedMixin, TemplateView):
    """One PAK: its lines and what is left of each, the conversion form, and the conversions so far."""

    template_name = "licensing/paks/convert.html"
    allowed_kinds = PAK_KINDS
    required_action = "operate"

    def get_pak(self):
        pak = selectors.paks_of(self.smart_account).filter(pk=self.kwargs["pak_id"]).first()
        if pak is None:
            raise Http404("No such PAK.")
        return pak

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        pak = kwargs.get("pak") or self.get_pak()
        lines = list(selectors.pak_lines(pak))
        operable = self.visible_virtual_accounts("operate")
        context.update(
            pak=pak,
            lines=lines,
            form=kwargs.get("form") or ConvertPakForm(lines=lines, virtual_accounts=operable),
            conversions=list(selectors.pak_conversions(pak)[:50]),
            visible_va_ids=set(self.visible_virtual_accounts().values_list("pk", flat=True)),
        )
        return context

    def post(self, request, *args, **kwargs):
        pak = self.get_pak()
        lines = list(selectors.pak_lines(pak))
        form = ConvertPakForm(request.POST, lines=lines, virtual_accounts=self.visible_virtual_accounts("operate"))
        if form.is_valid():
            va = form.cleaned_data["virtual_account"]
            try:
                services.convert_pak(actor=request.user, pak=pak, virtual_account=va, lines=form.cleaned_data["lines"])
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                units = sum(form.cleaned_data["lines"].values())
                messages.success(
                    request, f"Converted {units} unit{'s' if units != 1 else ''} of PAK {pak.number} into {va.name}."
                )
                return redirect("pak_convert", account_id=self.smart_account.pk, pak_id=pak.pk)
        return self.render_to_response(self.get_context_data(pak=pak, form=form))
