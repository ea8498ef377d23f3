"""What every licensing page shares: the scope it reads, the VA picker, query strings and safe redirects."""

from __future__ import annotations

from html import escape
from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe

from smartaccounts.mixins import AccountScopedMixin
from smartaccounts.models import SmartAccount
from smartaccounts.params import parse_id

from ..selectors.scope import LicensingScope, scope_for

USABLE_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)


class LicensingMixin(AccountScopedMixin):
    """An account page (optionally of one VA) that reads licensing data through a `LicensingScope`.

    `va_url_name`: the VA-level page an account-level page jumps to when the VA picker is used.
    """

    va_url_name: str | None = None

    def get(self, request, *args, **kwargs):
        picked = parse_id(request.GET.get("va"))
        if self.va_url_name and picked is not None:
            rest = request.GET.copy()
            rest.pop("va", None)
            rest.pop("after", None)
            rest.pop("before", None)
            url = reverse(self.va_url_name, kwargs={"account_id": self.smart_account.pk, "va_id": picked})
            return redirect(f"{url}?{rest.urlencode()}" if rest else url)
        return super().get(request, *args, **kwargs)

    @cached_property
    def scope(self) -> LicensingScope:
        return scope_for(
            self.request.user,
            self.smart_account,
            self.virtual_account,
            include_subtree=self.include_subtree(),
            role_on_account=self.account_role,
        )

    def va_choices(self) -> str:
        """The picker's <option>s: every VA the user may view, in tree order. One query, and built
        here rather than in a template loop: an account may have thousands of VAs."""
        vas = self.visible_virtual_accounts("view").order_by("tree_id", "lft").values_list("pk", "name", "level")
        return va_options(vas, selected=self.virtual_account.pk if self.virtual_account else None)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["scope"] = self.scope
        context["usable_account"] = self.smart_account.kind in USABLE_KINDS
        context["all_vas_label"] = "All Virtual Accounts" if self.scope.account_wide else "All your Virtual Accounts"
        return context


def va_options(vas, selected: int | None = None) -> str:
    """<option> elements for (pk, name, level) rows, indented by tree level, names escaped (with the
    standard library's `html.escape`, which Django's `escape` wraps at a cost per call that thousands
    of options notice)."""
    return mark_safe(
        "".join(
            f'<option value="{int(pk)}"{" selected" if pk == selected else ""}>{"&nbsp;&nbsp;" * level}'
            f"{escape(name)}</option>"
            for pk, name, level in vas
        )
    )


def querystring(params, **changes) -> str:
    """`params` (a QueryDict) with `changes` applied (None removes a key), as `?a=b` ('' when empty)."""
    data = params.copy()
    for key, value in changes.items():
        data.pop(key, None)
        if value not in (None, ""):
            data[key] = value
    encoded = data.urlencode() if hasattr(data, "urlencode") else urlencode(data)
    return f"?{encoded}" if encoded else ""


def safe_next(request, fallback: str) -> str:
    """The `next` value when it is a path on this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        return target
    return fallback
