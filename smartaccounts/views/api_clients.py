"""The *API clients* page: an account's OAuth2 clients for scripts (account Admins only)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.generic import TemplateView

from .. import selectors, services
from ..forms import ApiClientForm
from ..mixins import AccountScopedMixin
from ..models import Role
from ..pagination import offset_page
from ..tables import ApiClientTable
from .base import AccountActionView, apply_validation_error
from .virtual_accounts import TREE_FIELDS

ENTIRE_ACCOUNT = "Entire account"
PAGE_SIZE = 50


@method_decorator(never_cache, name="dispatch")
class ApiClientsView(AccountScopedMixin, TemplateView):
    """The account's API clients and the form to create one; a new client's secret is shown once, on the
    answer to the form."""

    template_name = "smartaccounts/api_clients.html"
    required_action = "admin"
    required_write_action = "admin"

    def form(self, data=None) -> ApiClientForm:
        form = ApiClientForm(data, initial={"role": Role.VIEWER})
        form.fields["scope"].set_virtual_accounts(
            self.visible_virtual_accounts("admin").only(*TREE_FIELDS), top_level_label=ENTIRE_ACCOUNT
        )
        return form

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        page = offset_page(
            selectors.api_clients_for(self.request.user, self.smart_account), self.request.GET, PAGE_SIZE
        )
        context.setdefault("form", self.form())
        context.update(page=page, table=ApiClientTable(page.object_list))
        return context

    def post(self, request, *args, **kwargs):
        form = self.form(request.POST)
        created = secret = None
        if form.is_valid():
            try:
                created, secret = services.create_api_client(
                    actor=request.user,
                    smart_account=self.smart_account,
                    name=form.cleaned_data["name"],
                    role=form.cleaned_data["role"],
                    virtual_account=form.cleaned_data["scope"],
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                form = self.form()
        return self.render_to_response(self.get_context_data(form=form, created=created, secret=secret))


class ApiClientRevokeView(AccountActionView):
    required_write_action = "admin"

    def perform(self) -> str:
        api_client = get_object_or_404(
            selectors.api_clients_for(self.request.user, self.smart_account), pk=self.kwargs["api_client_id"]
        )
        services.revoke_api_client(actor=self.request.user, api_client=api_client)
        return f"The API client {api_client.name} is revoked: its tokens no longer work."

    def success_url(self) -> str:
        return reverse("api_clients", args=[self.smart_account.pk])
