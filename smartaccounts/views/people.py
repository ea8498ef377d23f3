"""The Users page (members, adding by e-mail, invitations), a member's roles, and access requests.

Account Admins manage everyone. Admins of some Virtual Accounts use the same pages for the
roles on those VAs (and their descendants) only: they see those memberships and invitations,
and can grant roles only there. The services check each change against its exact scope.
Access requests are decided by account Admins.
"""

from __future__ import annotations

from collections import OrderedDict

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.generic import TemplateView

from .. import selectors, services
from ..forms import ROLE_HELP, AddUserForm, ApproveAccessForm, ChangeRoleForm, DeclineAccessForm
from ..mixins import AccountScopedMixin
from ..models import AccessRequest, Invitation, Role
from ..tables import DecidedAccessRequestTable, MemberTable
from .base import AccountActionView, apply_validation_error, form_errors_text
from .virtual_accounts import TREE_FIELDS

ENTIRE_ACCOUNT = "Entire account"
NO_SUCH_MEMBER = "No such member of this account."


class PeopleMixin:
    """Scopes the current user may manage, and the forms that offer them."""

    va_admins_allowed = True
    required_action = "admin"
    required_write_action = "admin"

    @property
    def is_account_admin(self) -> bool:
        return self.account_role is not None and self.account_role.allows("admin")

    def managed_virtual_accounts(self) -> list:
        if not hasattr(self, "_managed"):
            self._managed = list(self.visible_virtual_accounts("admin").only(*TREE_FIELDS))
        return self._managed

    def scoped_form(self, form_class, data=None, **kwargs):
        form = form_class(data, **kwargs)
        form.fields["scope"].set_virtual_accounts(
            self.managed_virtual_accounts(), top_level_label=ENTIRE_ACCOUNT if self.is_account_admin else None
        )
        form.fields["scope"].required = not self.is_account_admin
        return form

    def scope_kwargs(self, va) -> dict:
        return {"virtual_account": va} if va is not None else {"smart_account": self.smart_account}

    def visible_invitations(self):
        return list(
            selectors.invitations_managed_by(self.request.user, self.smart_account)
            .filter(status=Invitation.Status.PENDING)
            .order_by("-sent_at")
        )


def resolve_member(user, smart_account, member_id: int):
    """The member and the roles of theirs that `user` manages, or 404: the same 404 for an id that is nobody,
    a login with no role here, or a member outside a VA Admin's subtree (nobody learns who exists)."""
    roles = selectors.memberships_for(user, smart_account, member_id=member_id)
    if not roles:
        raise Http404(NO_SUCH_MEMBER)
    return roles[0].user, roles


def group_by_user(memberships) -> list[dict]:
    people: OrderedDict[int, dict] = OrderedDict()
    for m in sorted(memberships, key=lambda m: (m.user.email, m.virtual_account is not None)):
        person = people.setdefault(m.user.pk, {"user": m.user, "roles": []})
        person["roles"].append(m)
    return list(people.values())


class UsersView(PeopleMixin, AccountScopedMixin, TemplateView):
    """Members with their roles and scopes, pending invitations, and the form to add someone by e-mail."""

    template_name = "smartaccounts/users.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(
            members=MemberTable(group_by_user(selectors.memberships_for(self.request.user, self.smart_account))),
            invitations=self.visible_invitations(),
            role_help=ROLE_HELP,
            is_account_admin=self.is_account_admin,
            pending_request_count=selectors.pending_access_request_count(self.smart_account)
            if self.is_account_admin
            else 0,
        )
        context.setdefault("form", self.scoped_form(AddUserForm, initial={"role": Role.VIEWER}))
        return context

    def post(self, request, *args, **kwargs):
        form = self.scoped_form(AddUserForm, request.POST)
        if form.is_valid():
            va = form.cleaned_data["scope"]
            try:
                invitation = services.invite_user(
                    actor=request.user,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    **self.scope_kwargs(va),
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                # One answer whoever the address belongs to: the page must not tell who has a login.
                messages.success(
                    request,
                    f"We e-mailed {invitation.email} an invitation ({Role(invitation.role).label} on "
                    f"{va.name if va else 'the entire account'}). They get the role when they accept it.",
                )
                return redirect("account_users", account_id=self.smart_account.pk)
        return self.render_to_response(self.get_context_data(form=form))


class MemberView(PeopleMixin, AccountScopedMixin, TemplateView):
    """One person's roles in the account (the ones the current user manages); change or add a role."""

    template_name = "smartaccounts/member.html"

    def resolve_member(self):
        return resolve_member(self.request.user, self.smart_account, self.kwargs["member_id"])

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        member, roles = self.resolve_member()
        context.update(
            member=member,
            roles=roles,
            role_choices=Role.choices,
            role_help=ROLE_HELP,
            is_account_admin=self.is_account_admin,
        )
        context.setdefault("form", self.scoped_form(ChangeRoleForm, initial={"role": Role.VIEWER}))
        return context

    def post(self, request, *args, **kwargs):
        member, _roles = self.resolve_member()
        form = self.scoped_form(ChangeRoleForm, request.POST)
        if form.is_valid():
            va = form.cleaned_data["scope"]
            try:
                services.assign_role(
                    actor=request.user, user=member, role=form.cleaned_data["role"], **self.scope_kwargs(va)
                )
            except ValidationError as error:
                apply_validation_error(form, error)
            else:
                messages.success(
                    request,
                    f"{member.email} has the {Role(form.cleaned_data['role']).label} role on "
                    f"{va.name if va else 'the entire account'}.",
                )
                return redirect("account_member", account_id=self.smart_account.pk, member_id=member.pk)
        return self.render_to_response(self.get_context_data(form=form))


class MemberRemoveView(PeopleMixin, AccountActionView):
    """Take one of a member's roles away (the scope comes with the form). The last Admin stays."""

    def perform(self) -> str:
        member, _roles = resolve_member(self.request.user, self.smart_account, self.kwargs["member_id"])
        form = self.scoped_form(ChangeRoleForm, {"role": Role.VIEWER, "scope": self.request.POST.get("scope", "")})
        if not form.is_valid():
            raise ValidationError(form_errors_text(form) or "Choose the role to remove.")
        va = form.cleaned_data["scope"]
        services.revoke_role(actor=self.request.user, user=member, **self.scope_kwargs(va))
        return f"{member.email} no longer has a role on {va.name if va else 'the entire account'}."

    def success_url(self) -> str:
        return reverse("account_users", args=[self.smart_account.pk])


class InvitationActionView(PeopleMixin, AccountActionView):
    def get_invitation(self) -> Invitation:
        """An invitation of the account the current user manages, else 404 (not 403: nobody learns what exists)."""
        return get_object_or_404(
            selectors.invitations_managed_by(self.request.user, self.smart_account), pk=self.kwargs["invitation_id"]
        )

    def success_url(self) -> str:
        return reverse("account_users", args=[self.smart_account.pk])


class InvitationResendView(InvitationActionView):
    def perform(self) -> str:
        invitation = services.resend_invitation(actor=self.request.user, invitation=self.get_invitation())
        return f"We sent the invitation to {invitation.email} again; the new link works for the full period."


class InvitationCancelView(InvitationActionView):
    def perform(self) -> str:
        invitation = services.cancel_invitation(actor=self.request.user, invitation=self.get_invitation())
        return f"The invitation to {invitation.email} is cancelled; its link no longer works."


class AccessRequestsView(AccountScopedMixin, TemplateView):
    """Pending access requests with approve (role and scope) and decline (reason) forms; recent decisions."""

    template_name = "smartaccounts/access_requests.html"
    required_action = "admin"
    required_write_action = "admin"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        vas = list(self.visible_virtual_accounts().only(*TREE_FIELDS))
        pending = []
        for req in selectors.pending_access_requests(self.smart_account):
            approve = ApproveAccessForm(prefix=f"r{req.pk}", initial={"role": Role.VIEWER})
            approve.fields["scope"].set_virtual_accounts(vas, top_level_label=ENTIRE_ACCOUNT)
            pending.append(
                {"request": req, "approve_form": approve, "decline_form": DeclineAccessForm(prefix=f"r{req.pk}")}
            )
        context.update(
            pending=pending,
            decided=DecidedAccessRequestTable(selectors.decided_access_requests(self.request.user, self.smart_account)),
        )
        return context


class AccessRequestActionView(AccountActionView):
    def get_request(self) -> AccessRequest:
        return get_object_or_404(
            AccessRequest.objects.select_related("smart_account", "requester"),
            pk=self.kwargs["request_id"],
            smart_account=self.smart_account,
        )

    def success_url(self) -> str:
        return reverse("access_requests", args=[self.smart_account.pk])


class AccessRequestApproveView(AccessRequestActionView):
    def perform(self) -> str:
        access_request = self.get_request()
        prefix = f"r{access_request.pk}"
        data = self.request.POST
        if f"{prefix}-role" not in data:  # also accept the fields without the per-row prefix
            prefix = None
        form = ApproveAccessForm(data, prefix=prefix)
        form.fields["scope"].set_virtual_accounts(
            self.visible_virtual_accounts().only(*TREE_FIELDS), top_level_label=ENTIRE_ACCOUNT
        )
        if not form.is_valid():
            raise ValidationError(form_errors_text(form))
        va = form.cleaned_data["scope"]
        services.approve_access_request(
            actor=self.request.user, access_request=access_request, role=form.cleaned_data["role"], virtual_account=va
        )
        return (
            f"{access_request.requester.email} now has the {Role(form.cleaned_data['role']).label} role on "
            f"{va.name if va else 'the entire account'}. We e-mailed them."
        )


class AccessRequestDeclineView(AccessRequestActionView):
    def perform(self) -> str:
        access_request = self.get_request()
        prefix = f"r{access_request.pk}"
        data = self.request.POST
        reason = data.get(f"{prefix}-reason", data.get("reason", ""))
        services.decline_access_request(actor=self.request.user, access_request=access_request, reason=reason)
        return f"The request from {access_request.requester.email} is declined. We e-mailed them the reason."
