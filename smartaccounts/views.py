from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.views.generic import FormView, TemplateView

from . import navigation, selectors, services
from .forms import KIND_HELP, AccountRequestForm
from .mixins import AccountScopedMixin
from .models import Event


def apply_validation_error(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names one, else at the top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


class HomeView(LoginRequiredMixin, TemplateView):
    """The signed-in home page: the accounts the user holds a role in."""

    template_name = "smartaccounts/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["accounts"] = selectors.smart_accounts_for(self.request.user).order_by("name")
        return context


class AccountRequestView(LoginRequiredMixin, FormView):
    """Request a Smart Account; first shows the accounts that already exist for the user's domain."""

    template_name = "smartaccounts/account_request.html"
    form_class = AccountRequestForm

    def get_initial(self):
        return {"domain": self.request.user.email_domain}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        mine = selectors.smart_accounts_for(self.request.user).values_list("pk", flat=True)
        context["matching_accounts"] = selectors.accounts_matching_domain(self.request.user.email_domain).exclude(
            pk__in=mine
        )
        context["kind_help"] = KIND_HELP
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


class AccountHomeView(AccountScopedMixin, TemplateView):
    template_name = "smartaccounts/account_home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        vas = self.visible_virtual_accounts()
        context["va_count"] = vas.count()
        context["member_count"] = len({m.user.pk for m in selectors.members_of(self.smart_account)})
        events = Event.objects.filter(smart_account=self.smart_account).select_related("actor")
        if self.account_role is None:
            events = events.filter(virtual_account__in=vas)
        context["recent_events"] = events[:10]
        context["panels"] = navigation.panels_for(self)
        return context
