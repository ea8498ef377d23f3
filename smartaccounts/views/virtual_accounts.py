"""The Virtual Accounts tree page, a Virtual Account's page, and the tree actions (all through the services)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.generic import TemplateView

from .. import selectors, services, tree
from ..forms import VirtualAccountCreateForm, VirtualAccountMoveForm, VirtualAccountRenameForm
from ..mixins import AccountScopedMixin
from ..models import SmartAccount, VirtualAccountUserObjectPermission
from ..params import parse_id
from ..templatetags.portal import va_tree
from .base import AccountActionView, apply_validation_error, safe_next

TREE_FIELDS = tree.TREE_FIELDS
# Trees bigger than this start with their branches folded below the top level, and the page carries
# the top two levels only: a deeper branch is loaded when it is opened (`?branch=<VA id>`), and
# "Expand all" asks for the whole tree (`?expand=all`).
FOLD_ABOVE = 150
SHOWN_DEPTH = 1


class VirtualAccountFormsMixin:
    """The VA forms, with choices restricted to the VAs the user administers."""

    def admin_virtual_accounts(self, visible=None, *, light: bool = False) -> list:
        """The VAs the user administers. `light`: as `tree.TreeNode`s, for choices that are only shown
        (a form that validates a POST needs the model instances it hands to the services)."""
        account_admin = self.account_role is not None and self.account_role.allows("admin")
        if account_admin and visible is not None:
            # An account Admin administers every VA: the list already loaded is the answer.
            return list(visible)
        queryset = self.visible_virtual_accounts() if account_admin else self.visible_virtual_accounts("admin")
        return tree.tree_nodes(queryset) if light else list(queryset.only(*TREE_FIELDS))

    @property
    def is_account_admin(self) -> bool:
        return self.account_role is not None and self.account_role.allows("admin")

    def create_form(self, data=None, admin_vas=None, parent=None):
        form = VirtualAccountCreateForm(data, initial={"parent": str(parent.pk) if parent else ""})
        form.fields["parent"].set_virtual_accounts(
            admin_vas if admin_vas is not None else self.admin_virtual_accounts(),
            top_level_label="Top level (no parent)" if self.is_account_admin else None,
        )
        form.fields["parent"].required = not self.is_account_admin
        return form


class VirtualAccountTreeView(VirtualAccountFormsMixin, AccountScopedMixin, TemplateView):
    """Every VA the user may view, indented and collapsible, with count columns; Admins create VAs here."""

    template_name = "smartaccounts/virtual_accounts.html"
    required_write_action = "admin"
    va_admins_allowed = True

    def get(self, request, *args, **kwargs):
        # An opened branch's rows, for the toggle that asks with htmx; a browser without JavaScript never
        # asks (it has "Expand all"), and a plain request for the URL gets the page.
        if "branch" in request.GET and request.htmx:
            return self.branch(request.GET["branch"])
        return super().get(request, *args, **kwargs)

    def branch(self, value: str) -> HttpResponse:
        """The rows below one VA the user can see (an opened branch of a big tree), as list items."""
        va_id = parse_id(value)
        if va_id is None:
            raise Http404("No such Virtual Account.")
        # Only the opened VA's subtree: its rows and their totals need nothing else of the tree.
        va = self.visible_virtual_accounts().filter(pk=va_id).first()
        if va is None:
            raise Http404("No such Virtual Account.")
        rows = tree.build_tree(self.smart_account, tree.tree_nodes(selectors.subtree_of(va)), branch=va.pk)
        html = va_tree(rows, self.va_base_url(), fold=True, branch_url=self.branch_url(), wrap=False)
        response = HttpResponse(html or '<li class="muted">No Virtual Accounts below this one.</li>')
        patch_vary_headers(response, ("HX-Request",))
        return response

    def va_base_url(self) -> str:
        return reverse("virtual_accounts", args=[self.smart_account.pk])

    def branch_url(self) -> str:
        return self.va_base_url() + "?branch="

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        account = self.smart_account
        # Light rows, not model instances: the tree and the parent picker only read their tree fields.
        vas = tree.tree_nodes(self.visible_virtual_accounts())
        fold = len(vas) > FOLD_ABOVE and self.request.GET.get("expand") != "all"
        rows = tree.build_tree(account, vas, max_depth=SHOWN_DEPTH if fold else None)
        context.update(
            rows=rows,
            va_count=len(vas),
            columns=tree.columns_for(account),
            va_base_url=self.va_base_url(),
            branch_url=self.branch_url(),
            fold=fold,
            can_create=self.can("admin") and account.kind != SmartAccount.Kind.LIMITED_USE,
        )
        if context["can_create"] and "form" not in context:
            context["form"] = self.create_form(admin_vas=self.admin_virtual_accounts(vas, light=True))
        return context

    def post(self, request, *args, **kwargs):
        form = self.create_form(request.POST)
        if form.is_valid():
            try:
                va = services.create_virtual_account(
                    actor=request.user,
                    smart_account=self.smart_account,
                    name=form.cleaned_data["name"],
                    parent=form.cleaned_data["parent"],
                    description=form.cleaned_data["description"],
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(request, f"The Virtual Account {va.name} is created.")
                return redirect(safe_next(request, reverse("virtual_accounts", args=[self.smart_account.pk])))
        return self.render_to_response(self.get_context_data(form=form))


class VirtualAccountDetailView(VirtualAccountFormsMixin, AccountScopedMixin, TemplateView):
    """One VA: where it sits, its children with their counts, who has a role on it, its recent events, and actions."""

    template_name = "smartaccounts/virtual_account.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        va = self.virtual_account
        user = self.request.user
        subtree = tree.tree_nodes(selectors.subtree_of(va))
        rows = tree.build_tree(self.smart_account, subtree)
        context.update(
            va=va,
            rows=rows[1:],
            own_row=rows[0] if rows else None,
            columns=tree.columns_for(self.smart_account),
            va_base_url=reverse("virtual_accounts", args=[self.smart_account.pk]),
            members=list(
                VirtualAccountUserObjectPermission.objects.filter(content_object=va)
                .select_related("user", "permission")
                .order_by("user__email")
            ),
            recent_events=list(
                selectors.events_for(user, self.smart_account, va, whole_account=self.account_role is not None)[:10]
            ),
            is_account_admin=self.is_account_admin,
        )
        if self.can("admin"):
            admin_vas = self.admin_virtual_accounts(light=True)
            subtree_ids = {v.pk for v in subtree}
            move_form = VirtualAccountMoveForm(initial={"parent": str(va.parent_id or "")})
            move_form.fields["parent"].set_virtual_accounts(
                [v for v in admin_vas if v.pk not in subtree_ids],
                top_level_label="Top level (no parent)" if self.is_account_admin else None,
            )
            move_form.fields["parent"].required = not self.is_account_admin
            context.update(
                holdings=services.virtual_account_holdings(va),
                rename_form=VirtualAccountRenameForm(initial={"name": va.name, "description": va.description}),
                move_form=move_form,
                child_form=self.create_form(admin_vas=admin_vas, parent=va)
                if self.smart_account.kind != SmartAccount.Kind.LIMITED_USE
                else None,
            )
        return context


class VirtualAccountActionView(AccountActionView):
    """A POST on one VA; back to the VA's page."""

    def success_url(self) -> str:
        return reverse("virtual_account", args=[self.smart_account.pk, self.virtual_account.pk])


class VirtualAccountRenameView(VirtualAccountActionView):
    def perform(self) -> str:
        form = VirtualAccountRenameForm(self.request.POST)
        if not form.is_valid():
            raise ValidationError(form.errors.get("name", ["Give the Virtual Account a name."]))
        old = self.virtual_account.name
        va = services.rename_virtual_account(
            actor=self.request.user,
            virtual_account=self.virtual_account,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
        )
        return f"{old} is now called {va.name}." if va.name != old else f"{va.name} is saved."


class VirtualAccountMoveView(VirtualAccountActionView):
    def perform(self) -> str:
        # The target is looked up among the VAs the user can see; anything else is refused like a bad id.
        raw = (self.request.POST.get("parent") or "").strip()
        parent = None
        if raw:
            parent_id = parse_id(raw)
            parent = self.visible_virtual_accounts().filter(pk=parent_id).first() if parent_id else None
            if parent is None:
                raise ValidationError("Choose a Virtual Account of this Smart Account to move it under.")
        va = services.move_virtual_account(actor=self.request.user, virtual_account=self.virtual_account, parent=parent)
        return f"{va.name} is now under {parent.name}." if parent else f"{va.name} is now at the top level."


class VirtualAccountDeleteView(VirtualAccountActionView):
    def perform(self) -> str:
        services.delete_virtual_account(actor=self.request.user, virtual_account=self.virtual_account)
        return f"The Virtual Account {self.virtual_account.name} is deleted."

    def success_url(self) -> str:
        return reverse("virtual_accounts", args=[self.smart_account.pk])

    def failure_url(self) -> str:
        return reverse("virtual_account", args=[self.smart_account.pk, self.virtual_account.pk])


class VirtualAccountMakeDefaultView(VirtualAccountActionView):
    def perform(self) -> str:
        va = services.set_default_virtual_account(actor=self.request.user, virtual_account=self.virtual_account)
        return f"{va.name} is now the default Virtual Account: orders without a Virtual Account are deposited there."
