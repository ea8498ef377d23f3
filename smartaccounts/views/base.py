"""Helpers shared by the accounts views."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views import View

from ..mixins import AccountScopedMixin


def apply_validation_error(form, error: ValidationError) -> None:
    """Show a service's ValidationError on the form: per field when it names one, else at the top."""
    if hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)


def error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def form_errors_text(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def safe_next(request, fallback: str) -> str:
    """The `next` form field when it is a path on this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return fallback


class AccountActionView(AccountScopedMixin, View):
    """A POST-only action on an account page: run a service, say what happened, go back.

    Subclasses implement `perform()` (returning the success message) and `success_url()`.
    A ValidationError becomes an error message; PermissionDenied propagates (403).
    """

    http_method_names = ["post"]
    required_write_action = "admin"

    def perform(self) -> str:
        raise NotImplementedError

    def success_url(self) -> str:
        raise NotImplementedError

    def failure_url(self) -> str:
        return self.success_url()

    def post(self, request, *args, **kwargs):
        try:
            message = self.perform()
        except ValidationError as error:
            messages.error(request, error_text(error))
            return redirect(safe_next(request, self.failure_url()))
        if message:
            messages.success(request, message)
        return redirect(safe_next(request, self.success_url()))
