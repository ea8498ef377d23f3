"""The signed-in home, requesting an account or access to one, the account home and its properties."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View
from django.views.generic import FormView, TemplateView

from .. import navigation, selectors, services
from ..domains import is_public_email_domain
from ..forms import KIND_HELP, AccountPropertiesForm, AccountRequestForm, RequestAccessForm
from ..mixins import AccountScopedMixin
from ..models import SmartAccount
from .base import apply_validation_error, error_text


class HomeView(LoginRequiredMixin, TemplateView):
    """The signed-in home page: the accounts the user holds a role in, and their open access requests."""

    template_name = "smartaccounts/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["accounts"] = list(selectors.smart_accounts_for(self.request.user).order_by("name"))
        context["access_requests"] = list(selectors.my_access_requests(self.request.user)[:10])
        if self.request.user.is_staff:  # operator staff: the admin and what waits for them
            awaiting = selectors.accounts_awaiting_approval()
            context["awaiting_approval"] = list(awaiting.select_related("created_by")[:20])
            context["awaiting_approval_count"] = (
                len(context["awaiting_approval"]) if len(context["awaiting_approval"]) < 20 else awaiting.count()
            )
            context["staff_queues"] = navigation.staff_queues()
        return context


class AccountRequestView(LoginRequiredMixin, FormView):
    """Request a Smart Account; first shows the accounts that already exist for the user's domain."""

    template_name = "smartaccounts/account_request.html"
    form_class = AccountRequestForm

    def get_initial(self):
        user = self.request.user
        if is_public_email_domain(user.email_domain):
            return {"kind": SmartAccount.Kind.LIMITED_USE}
        return {"kind": SmartAccount.Kind.CUSTOMER, "domain": user.email_domain}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        matching = list(selectors.accounts_matching_domain(user.email_domain).order_by("name"))
        ids = [a.pk for a in matching]
        mine = set(selectors.smart_accounts_for(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
        account_wide = {a.pk for a in matching if a.pk in mine and selectors.account_role(user, a) is not None}
        requested = set(
            selectors.my_access_requests(user).filter(status="pending").values_list("smart_account_id", flat=True)
        )
        context["matching_accounts"] = [
            {"account": a, "requested": a.pk in requested, "va_member": a.pk in mine}
            for a in matching
            if a.pk not in account_wide
        ]
        context["kind_help"] = KIND_HELP
        context["public_email"] = is_public_email_domain(user.email_domain)
        context["request_access_form"] = RequestAccessForm()
        return context

    def form_valid(self, form):
        try:
            account = services.create_smart_account(
                creator=self.request.user,
                name=form.cleaned_data["name"],
                domain=form.cleaned_data["domain"],
                kind=form.cleaned_data["kind"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        if account.status == account.Status.PENDING:
            messages.info(self.request, f"{account.name} is waiting for approval by staff. We will e-mail you.")
        else:
            messages.success(self.request, f"{account.name} is ready. You are its Admin.")
        return redirect("account_home", account_id=account.pk)


class RequestAccessView(LoginRequiredMixin, View):
    """Ask to join an account of one's e-mail domain. Any other account is a 404: nobody learns it exists."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        # Resolve first, so a GET on another domain's account is a 404 like every account URL, not a 405.
        self.account = (
            selectors.accounts_matching_domain(request.user.email_domain).filter(pk=kwargs["account_id"]).first()
        )
        if self.account is None:
            raise Http404("No such Smart Account.")
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, account_id):
        account = self.account
        form = RequestAccessForm(request.POST)
        message = form.cleaned_data["message"] if form.is_valid() else ""
        try:
            services.request_access(requester=request.user, smart_account=account, message=message)
        except ValidationError as error:
            messages.error(request, error_text(error))
        except PermissionDenied:
            raise Http404("No such Smart Account.") from None
        else:
            messages.success(
                request, f"We asked the Admins of {account.name} to let you in. You will get an e-mail either way."
            )
        return redirect("account_request")


class AccountHomeView(AccountScopedMixin, TemplateView):
    template_name = "smartaccounts/account_home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        account = self.smart_account
        context.update(selectors.account_home_counts(self.request.user, account))  # va_count, member_count
        context["recent_events"] = list(
            selectors.events_for(self.request.user, account, whole_account=self.account_role is not None)[:10]
        )
        if context["is_account_admin"]:
            requests = list(selectors.pending_access_requests(account)[:5])
            context["pending_requests"] = requests
            # The Users tab's badge counts the same requests: read with the account, else listed or counted here.
            count = navigation.remembered_badge(self.request, "account_users")
            if count is None:
                count = len(requests) if len(requests) < 5 else selectors.pending_access_request_count(account)
            context["pending_request_count"] = count
            navigation.remember_badge(self.request, "account_users", count)
        context["panels"] = navigation.panels_for(self)
        return context


class AccountPropertiesView(AccountScopedMixin, FormView):
    """Admins edit the name, headquarters address and visibility."""

    template_name = "smartaccounts/account_properties.html"
    form_class = AccountPropertiesForm
    required_action = "admin"
    required_write_action = "admin"

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.smart_account.is_limited_use:  # never found by domain: the choice would change nothing
            form.fields["visibility"].widget = forms.HiddenInput()
        return form

    def get_initial(self):
        account = self.smart_account
        return {
            "name": account.name,
            "headquarters_address": account.headquarters_address,
            "visibility": account.visibility,
        }

    def form_valid(self, form):
        try:
            services.update_account_properties(
                actor=self.request.user, smart_account=self.smart_account, **form.cleaned_data
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "The account properties are saved.")
        return redirect(reverse("account_home", args=[self.smart_account.pk]))
