"""The Django admin for operator staff. Every change goes through the services, under the same rules and
locks as the portal, and is recorded in the event log under the staff member's name.

- Smart Accounts: approve pending accounts, switch license reservation, convert Limited Use to Customer,
  and the account's roles (object permissions) on a page of their own.
- Virtual Accounts: a drag-and-drop tree; a drop "inside" a node makes it the parent, a drop before or
  after a node gives it that node's parent (siblings are shown by name, so there is no sibling order).
- API clients: created through the service (the secret is shown once), revoked with an action.
- Events: read only. Invitations and access requests: read only (Admins handle them in the portal).

Every action and page that changes something needs the staff member's model permission (the change
permission on Smart Accounts to approve, switch reservation, convert or manage roles; add, change or
delete on Virtual Accounts for the tree), and the services check it again: view-only staff look only.
"""

from __future__ import annotations

from axes import admin as axes_admin
from axes.models import AccessAttempt
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from mptt.admin import DraggableMPTTAdmin

from . import selectors, services
from .forms import VAChoiceField
from .models import AccessRequest, ApiClient, Event, Invitation, Role, SmartAccount, User, VirtualAccount
from .params import parse_id


def _error_text(error: Exception) -> str:
    text = " ".join(getattr(error, "messages", None) or [str(error)])
    if not text and isinstance(error, PermissionDenied):  # the admin's own refusals carry no text
        return "Your staff permissions do not allow this change."
    return text


# --- Users ---------------------------------------------------------------------------------------


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """People log in by e-mail. A login made here counts as confirmed (staff vouch for the address)."""

    add_form = UserCreationForm
    form = UserEditForm
    ordering = ("email",)
    list_display = ("email", "first_name", "last_name", "email_verified_at", "is_active", "is_staff", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active")
    search_fields = ("email", "first_name", "last_name")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email_verified_at")}),
        ("Staff access", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "usable_password", "password1", "password2")}),)


# --- Smart Accounts --------------------------------------------------------------------------------


class SmartAccountAddForm(forms.ModelForm):
    first_admin = forms.EmailField(
        label="First Admin's e-mail",
        help_text="An existing login with a confirmed address; the domain rules apply to it as if they requested it.",
    )

    class Meta:
        model = SmartAccount
        fields = ("name", "domain", "kind")

    def clean_first_admin(self):
        user = User.objects.filter(email__iexact=self.cleaned_data["first_admin"]).first()
        if user is None:
            raise ValidationError("There is no login with this e-mail address.")
        return user

    def validate_unique(self):
        """The service checks the domain (case-insensitively) and says what to do instead."""


class RoleGrantForm(forms.Form):
    email = forms.EmailField(label="E-mail address")
    role = forms.ChoiceField(choices=Role.choices)
    scope = VAChoiceField(label="On", required=False)


class ConvertForm(forms.Form):
    domain = forms.CharField(label="The company's domain", max_length=254)


@admin.register(SmartAccount)
class SmartAccountAdmin(admin.ModelAdmin):
    list_display = ("name", "domain", "kind", "status", "license_reservation_enabled", "created_at")
    list_filter = ("kind", "status", "license_reservation_enabled")
    search_fields = ("name", "domain")
    ordering = ("name",)
    actions = ["approve", "enable_reservation", "disable_reservation"]
    readonly_fields = (
        "name",
        "domain",
        "kind",
        "status",
        "visibility",
        "headquarters_address",
        "created_by",
        "created_at",
        "approved_by",
        "approved_at",
        "roles_link",
    )
    fields = (*readonly_fields[:-1], "license_reservation_enabled", "roles_link")
    change_form_template = "admin/smartaccounts/smartaccount/change_form.html"

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = SmartAccountAddForm
            kwargs["fields"] = ("name", "domain", "kind", "first_admin")
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return ("name", "domain", "kind", "first_admin") if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # licenses, orders and history hang off an account

    @admin.display(description="Roles")
    def roles_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">Manage the roles (object permissions)</a>',
            reverse("admin:smartaccounts_smartaccount_roles", args=[obj.pk]),
        )

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, _error_text(error), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if not change:
            admin_user = form.cleaned_data["first_admin"]
            account = services.create_smart_account(creator=admin_user, name=obj.name, domain=obj.domain, kind=obj.kind)
            services.record_event(
                actor=request.user,
                smart_account=account,
                action="account.created_by_staff",
                message=f"{request.user.email} created {account.name} in the admin "
                f"with {admin_user.email} as its Admin.",
            )
            obj.pk = account.pk
            obj.domain, obj.status, obj.created_by = account.domain, account.status, account.created_by
            return
        if "license_reservation_enabled" in form.changed_data:
            services.set_license_reservation(
                actor=request.user, smart_account=obj, enabled=form.cleaned_data["license_reservation_enabled"]
            )

    def save_related(self, request, form, formsets, change):
        """Nothing else to save: roles are managed on their own page."""

    @admin.action(
        description="Approve the selected pending accounts (the requesters are e-mailed)", permissions=["change"]
    )
    def approve(self, request, queryset):
        done = 0
        for account in queryset.filter(status=SmartAccount.Status.PENDING):
            try:
                services.approve_smart_account(actor=request.user, smart_account=account)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{account.name}: {_error_text(error)}", level=messages.ERROR)
        self.message_user(request, f"{done} account{'s' if done != 1 else ''} approved.")

    def _set_reservation(self, request, queryset, enabled: bool):
        done = 0
        for account in queryset:
            try:
                services.set_license_reservation(actor=request.user, smart_account=account, enabled=enabled)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{account.name}: {_error_text(error)}", level=messages.ERROR)
        self.message_user(request, f"License reservation {'enabled' if enabled else 'disabled'} on {done} account(s).")

    @admin.action(description="Enable license reservation (Customer accounts only)", permissions=["change"])
    def enable_reservation(self, request, queryset):
        self._set_reservation(request, queryset, True)

    @admin.action(description="Disable license reservation", permissions=["change"])
    def disable_reservation(self, request, queryset):
        self._set_reservation(request, queryset, False)

    # --- Extra pages: roles, conversion -------------------------------------------------------------

    def get_urls(self):
        extra = [
            path(
                "<id:object_id>/roles/",
                self.admin_site.admin_view(self.roles_view),
                name="smartaccounts_smartaccount_roles",
            ),
            path(
                "<id:object_id>/convert/",
                self.admin_site.admin_view(self.convert_view),
                name="smartaccounts_smartaccount_convert",
            ),
        ]
        return extra + super().get_urls()

    def _account_or_404(self, request, object_id, *, change: bool = True) -> SmartAccount:
        """The account of an extra page: looking needs the view permission, any POST the change permission."""
        allowed = self.has_change_permission(request) if change else self.has_view_permission(request)
        if not allowed:
            raise PermissionDenied
        return get_object_or_404(SmartAccount, pk=object_id)

    def roles_view(self, request, object_id):
        """Every role in the account; grant (by e-mail) and revoke through the role services."""
        account = self._account_or_404(request, object_id, change=request.method == "POST")
        vas = list(selectors.live_virtual_accounts().filter(smart_account=account))
        form = RoleGrantForm(request.POST if request.method == "POST" and "grant" in request.POST else None)
        form.fields["scope"].set_virtual_accounts(vas, top_level_label="Entire account")
        if request.method == "POST":
            try:
                with transaction.atomic():
                    if "revoke" in request.POST:
                        self._revoke(request, account, vas)
                    elif form.is_valid():
                        self._grant(request, account, form)
                    else:
                        raise ValidationError("Fill in the e-mail address, the role and the scope.")
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, _error_text(error), level=messages.ERROR)
            else:
                return HttpResponseRedirect(request.path)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": account,
            "title": f"Roles in {account.name}",
            "memberships": selectors.members_of(account),
            "form": form,
            "can_change": self.has_change_permission(request),
        }
        return TemplateResponse(request, "admin/smartaccounts/smartaccount/roles.html", context)

    def _grant(self, request, account, form):
        user = User.objects.filter(email__iexact=form.cleaned_data["email"]).first()
        if user is None:
            raise ValidationError(
                f"There is no login for {form.cleaned_data['email']}. An Admin of the account can invite them."
            )
        va = form.cleaned_data["scope"]
        services.assign_role(
            actor=request.user,
            user=user,
            role=form.cleaned_data["role"],
            smart_account=None if va else account,
            virtual_account=va,
        )
        self.message_user(request, f"{user.email} has the {Role(form.cleaned_data['role']).label} role.")

    def _revoke(self, request, account, vas):
        # Through the account's roles: an id of someone without one here names nobody.
        user_id = parse_id(request.POST.get("user"))
        roles = selectors.members_of(account, user_id=user_id) if user_id is not None else []
        if not roles:
            raise ValidationError("That person has no role in this account.")
        user = roles[0].user
        scope = request.POST.get("scope") or ""
        va = next((v for v in vas if str(v.pk) == scope), None) if scope else None
        if scope and va is None:
            raise ValidationError("That Virtual Account is not in this account.")
        services.revoke_role(actor=request.user, user=user, smart_account=None if va else account, virtual_account=va)
        self.message_user(request, f"{user.email}'s role is removed.")

    def convert_view(self, request, object_id):
        account = self._account_or_404(request, object_id)
        form = ConvertForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.convert_to_customer(
                    actor=request.user, smart_account=account, domain=form.cleaned_data["domain"]
                )
            except (ValidationError, PermissionDenied) as error:
                form.add_error("domain", _error_text(error))
            else:
                self.message_user(request, f"{account.name} is now a Customer account.")
                return HttpResponseRedirect(reverse("admin:smartaccounts_smartaccount_change", args=[account.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": account,
            "title": f"Convert {account.name} to a Customer account",
            "form": form,
        }
        return TemplateResponse(request, "admin/smartaccounts/smartaccount/convert.html", context)


# --- Virtual Accounts ------------------------------------------------------------------------------


class VirtualAccountAdminForm(forms.ModelForm):
    class Meta:
        model = VirtualAccount
        fields = ("smart_account", "parent", "name", "description", "is_default")

    def validate_unique(self):
        """Names are checked by the service (case-insensitively, within the account)."""

    def _post_clean(self):
        # The services make every change; the form must not move the node through django-mptt itself.
        pass


@admin.register(VirtualAccount)
class VirtualAccountAdmin(DraggableMPTTAdmin):
    """Live Virtual Accounts as a draggable tree. Drops, adds, edits and deletes call the tree services."""

    form = VirtualAccountAdminForm
    list_display = ("tree_actions", "indented_title", "smart_account", "is_default")
    list_display_links = ("indented_title",)
    list_filter = ("smart_account__kind",)
    search_fields = ("name", "smart_account__name", "smart_account__domain")
    list_select_related = ("smart_account",)
    expand_tree_by_default = True
    actions = ["delete_selected_through_service"]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(deleted_at__isnull=True)

    def get_readonly_fields(self, request, obj=None):
        return ("smart_account",) if obj is not None else ()

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("smart_account", "parent", "name", "description")
        return ("smart_account", "parent", "name", "description", "is_default")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "parent":
            kwargs["queryset"] = VirtualAccount.objects.filter(deleted_at__isnull=True).select_related("smart_account")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, _error_text(error), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            va = services.create_virtual_account(
                actor=request.user,
                smart_account=data["smart_account"],
                name=data["name"],
                parent=data.get("parent"),
                description=data.get("description") or "",
            )
            obj.pk, obj.name, obj.tree_id, obj.lft, obj.rght, obj.level = (
                va.pk,
                va.name,
                va.tree_id,
                va.lft,
                va.rght,
                va.level,
            )
            return
        current = VirtualAccount.objects.get(pk=obj.pk)
        if {"name", "description"} & set(form.changed_data):
            services.rename_virtual_account(
                actor=request.user, virtual_account=current, name=data["name"], description=data["description"]
            )
        if "parent" in form.changed_data:
            services.move_virtual_account(actor=request.user, virtual_account=current, parent=data.get("parent"))
        if "is_default" in form.changed_data:
            if not data["is_default"]:
                raise ValidationError("Make another Virtual Account the default instead: an account always has one.")
            services.set_default_virtual_account(actor=request.user, virtual_account=current)

    def get_deleted_objects(self, objs, request):
        # Deleting a VA keeps its row (history points at it): nothing cascades, the service checks it is empty.
        return [str(obj) for obj in objs], {self.model._meta.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        services.delete_virtual_account(actor=request.user, virtual_account=obj)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, _error_text(error), level=messages.ERROR)
            return HttpResponseRedirect(reverse("admin:smartaccounts_virtualaccount_change", args=[object_id]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # the bulk delete would bypass the service
        return actions

    @admin.action(description="Delete the selected Virtual Accounts (only empty ones)", permissions=["delete"])
    def delete_selected_through_service(self, request, queryset):
        deleted = 0
        for va in queryset.order_by("-level"):
            try:
                services.delete_virtual_account(actor=request.user, virtual_account=va)
                deleted += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, _error_text(error), level=messages.ERROR)
        self.message_user(request, f"{deleted} Virtual Account{'s' if deleted != 1 else ''} deleted.")

    def _move_node(self, request):
        """A drag-and-drop: "last-child" → under the target; "left"/"right" → beside it (its parent)."""
        position = request.POST.get("position")
        if position not in ("last-child", "left", "right"):
            self.message_user(request, "Did not understand moving instruction.", level=messages.ERROR)
            return HttpResponse("FAIL, unknown instruction.")
        queryset = self.get_queryset(request)
        try:
            cut_item = queryset.get(pk=parse_id(request.POST.get("cut_item")))
            pasted_on = queryset.get(pk=parse_id(request.POST.get("pasted_on")))
        except VirtualAccount.DoesNotExist:
            self.message_user(request, "Objects have disappeared, try again.", level=messages.ERROR)
            return HttpResponse("FAIL, invalid objects.")
        if not self.has_change_permission(request, cut_item):
            self.message_user(request, "No permission", level=messages.ERROR)
            return HttpResponse("FAIL, no permission.")
        parent = pasted_on if position == "last-child" else pasted_on.parent
        try:
            va = services.move_virtual_account(actor=request.user, virtual_account=cut_item, parent=parent)
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, _error_text(error), level=messages.ERROR)
            return HttpResponse("FAIL, invalid move.")
        where = f"under {parent.name}" if parent else "to the top level"
        self.message_user(request, f"{va.name} moved {where}.")
        return HttpResponse("OK, moved.")


# --- Read-only records ---------------------------------------------------------------------------


class ApiClientRevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiClient)
class ApiClientAdmin(admin.ModelAdmin):
    """Scripts' OAuth2 clients. Created through `services.create_api_client` (the secret is shown once, on
    the answer to the form); revoked with the action. Nothing is edited or deleted here."""

    list_display = ("name", "smart_account", "role", "scope", "client_id", "created_at", "last_used_at", "revoked_at")
    list_filter = (ApiClientRevokedFilter, "role", "smart_account__kind")
    list_select_related = ("smart_account", "virtual_account", "application")
    search_fields = ("name", "application__client_id", "smart_account__name", "smart_account__domain")
    raw_id_fields = ("smart_account", "virtual_account")
    ordering = ("smart_account__name", "name")
    actions = ["revoke_clients"]
    add_fields = ("name", "smart_account", "role", "virtual_account")
    readonly_fields = (
        "name",
        "smart_account",
        "virtual_account",
        "role",
        "client_id",
        "service_user",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )

    @admin.display(description="On")
    def scope(self, obj):
        return obj.scope_label

    @admin.display(description="Client id", ordering="application__client_id")
    def client_id(self, obj):
        return obj.application.client_id

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # the event log names the client; revoke it instead

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except (ValidationError, PermissionDenied) as error:
            self.message_user(request, _error_text(error), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def save_model(self, request, obj, form, change):
        if change:
            return
        api_client, secret = services.create_api_client(
            actor=request.user,
            smart_account=form.cleaned_data["smart_account"],
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            virtual_account=form.cleaned_data.get("virtual_account"),
        )
        obj.pk, obj.application, obj.service_user = api_client.pk, api_client.application, api_client.service_user
        request._api_client_secret = secret

    def save_related(self, request, form, formsets, change):
        """Nothing else to save."""

    def response_add(self, request, obj, post_url_continue=None):
        """The secret, once, on this answer (never in a message or the session)."""
        response = TemplateResponse(
            request,
            "admin/smartaccounts/apiclient/created.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "original": ApiClient.objects.select_related("smart_account", "virtual_account", "application").get(
                    pk=obj.pk
                ),
                "secret": request._api_client_secret,
                "title": f"API client {obj.name} created",
            },
        )
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected API clients (their tokens stop working)", permissions=["change"])
    def revoke_clients(self, request, queryset):
        done = 0
        for api_client in queryset.filter(revoked_at__isnull=True).select_related("smart_account"):
            try:
                services.revoke_api_client(actor=request.user, api_client=api_client)
                done += 1
            except (ValidationError, PermissionDenied) as error:
                self.message_user(request, f"{api_client.name}: {_error_text(error)}", level=messages.ERROR)
        self.message_user(request, f"{done} API client{'s' if done != 1 else ''} revoked.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    """The event log: never edited, never deleted (a database trigger refuses it too on PostgreSQL)."""

    list_display = ("created_at", "action", "actor", "smart_account", "virtual_account_name", "message")
    list_select_related = ("actor", "smart_account")
    search_fields = ("action", "message", "actor__email", "smart_account__name")
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "smart_account", "virtual_account", "role", "status", "sent_at", "invited_by")
    list_filter = ("status", "role")
    list_select_related = ("smart_account", "virtual_account", "invited_by")
    search_fields = ("email", "smart_account__name")


@admin.register(AccessRequest)
class AccessRequestAdmin(ReadOnlyAdmin):
    list_display = ("requester", "smart_account", "status", "created_at", "decided_by", "granted_role")
    list_filter = ("status",)
    list_select_related = ("requester", "smart_account", "decided_by")
    search_fields = ("requester__email", "smart_account__name")


# --- Login lockout records (django-axes) ------------------------------------------------------------
# axes' "Clean up expired attempts" deletes rows but declares no permission, so staff who may only look
# could run it. The same admin, with the action needing the delete permission on access attempts.


class AccessAttemptAdmin(axes_admin.AccessAttemptAdmin):
    @admin.action(description="Clean up expired attempts", permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):
    admin.site.unregister(AccessAttempt)
admin.site.register(AccessAttempt, AccessAttemptAdmin)


# django-oauth-toolkit's own admin pages would let staff edit tokens and applications outside the
# services; API clients are managed through their own admin and page (ApiClient), so those are hidden.
def _hide_oauth_admin() -> None:
    from oauth2_provider import models as oauth

    for model in (
        oauth.get_application_model(),
        oauth.get_access_token_model(),
        oauth.get_refresh_token_model(),
        oauth.get_grant_model(),
        oauth.get_id_token_model(),
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_hide_oauth_admin()
