"""Registration tokens of a VA: list with uses and expiry, create, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views.generic import FormView, TemplateView

from smartaccounts.params import parse_id
from smartaccounts.views import apply_validation_error

from .. import selectors, services
from ..forms import TokenForm
from ..tables import TokenTable
from .base import USABLE_KINDS, LicensingMixin

__all__ = ["TokenRevokeView", "TokensView"]


class TokensView(LicensingMixin, FormView):
    template_name = "licensing/tokens.html"
    form_class = TokenForm
    allowed_kinds = USABLE_KINDS

    def tokens_url(self, **query) -> str:
        url = reverse("va_tokens", kwargs={"account_id": self.smart_account.pk, "va_id": self.virtual_account.pk})
        return url + (f"?created={query['created']}" if query.get("created") else "")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        tokens = list(selectors.tokens_of(self.virtual_account).order_by("-created_at", "-pk")[:200])
        created_id = parse_id(self.request.GET.get("created"))
        context.update(
            tokens=tokens,
            created_id=created_id,
            table=TokenTable(tokens, created_id=created_id),
            usage=self.usage(tokens, created_id),
        )
        return context

    def usage(self, tokens: list, created_id: int | None) -> dict:
        """How a device uses a token: the token shown (`?use=`, else the one just created, else the newest
        active one; only to people who may operate, as in the table) and the device endpoint's address as
        this browser reaches the portal."""
        active = [t for t in tokens if t.status == "Active"]
        wanted = parse_id(self.request.GET.get("use")) or created_id
        token = next((t for t in active if t.pk == wanted), active[0] if active else None)
        return {
            "token": token,
            "value": token.token if token is not None and self.can("operate") else "<token>",
            "endpoint": self.request.build_absolute_uri(reverse("api_device_register")),
            "choices": active if self.can("operate") else [],
        }

    def form_valid(self, form):
        data = form.cleaned_data
        try:
            token = services.create_registration_token(
                actor=self.request.user,
                virtual_account=self.virtual_account,
                description=data["description"],
                expires_after_days=data["expires_after_days"],
                max_uses=data["max_uses"],
                export_controlled=data["export_controlled"],
            )
        except ValidationError as error:
            apply_validation_error(form, error)
            return self.form_invalid(form)
        messages.success(self.request, "Token created. Copy it into the device's configuration.")
        return redirect(self.tokens_url(created=token.pk))


class TokenRevokeView(LicensingMixin, TemplateView):
    http_method_names = ["post"]
    allowed_kinds = USABLE_KINDS

    def post(self, request, *args, **kwargs):
        token = selectors.token_for(self.virtual_account, kwargs["token_id"])
        try:
            services.revoke_registration_token(actor=request.user, token=token)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, f"Token {token.description or f'#{token.pk}'} revoked.")
        return redirect("va_tokens", account_id=self.smart_account.pk, va_id=self.virtual_account.pk)
