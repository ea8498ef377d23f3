"""Operator staff manage reporting policies here. Every write goes through `policy.services`:
changing a policy's rules makes a new version (ACKs keep naming the version that judged them),
and an account's policy is assigned or removed with an event in its log."""

from __future__ import annotations

import functools

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils.html import format_html_join
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from licensing.models import LicenseClass

from . import services
from .models import (
    AccountPolicy,
    Acknowledgement,
    Alert,
    Change,
    Policy,
    PolicyRule,
    PolicyVersion,
    UsageReport,
    UsageUpload,
    WorkerHeartbeat,
)
from .services.policies import MAX_DAYS

RULE_FIELDS = ("first", "every", "change", "ack")


def _rule_field_name(license_class: str, part: str) -> str:
    return f"{license_class}__{part}"


def _rule_fields() -> dict[str, forms.Field]:
    """One row of fields per license class (declared on the class, as the admin requires)."""
    fields: dict[str, forms.Field] = {}
    days = {"min_value": 0, "max_value": MAX_DAYS, "initial": 0}
    for license_class, label in LicenseClass.choices:
        fields[_rule_field_name(license_class, "first")] = forms.IntegerField(
            label=f"{label}: first report (days after first use)", **days
        )
        fields[_rule_field_name(license_class, "every")] = forms.IntegerField(
            label=f"{label}: reporting frequency (days)", **days
        )
        fields[_rule_field_name(license_class, "change")] = forms.IntegerField(
            label=f"{label}: report on change (days after an upgrade or feature change)", **days
        )
        fields[_rule_field_name(license_class, "ack")] = forms.BooleanField(
            label=f"{label}: ACK required", required=False
        )
    return fields


class PolicyFormBase(forms.ModelForm):
    """The policy's name and description, and one row of rules per license class (0 days: not required)."""

    make_default = forms.BooleanField(
        required=False,
        label="Make this the default policy",
        help_text="The default applies to every account without a policy of its own; there is always exactly one.",
    )

    class Meta:
        model = Policy
        fields = ["name", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            return
        self.fields["make_default"].initial = self.instance.is_default
        latest = self.instance.versions.order_by("-number").first()
        for rule in latest.rules.all() if latest else []:
            values = {
                "first": rule.first_report_days,
                "every": rule.reporting_frequency_days,
                "change": rule.report_on_change_days,
                "ack": rule.ack_required,
            }
            for part, value in values.items():
                self.fields[_rule_field_name(rule.license_class, part)].initial = value

    def rules(self) -> dict:
        data = self.cleaned_data
        return {
            license_class: (
                data[_rule_field_name(license_class, "first")],
                data[_rule_field_name(license_class, "every")],
                data[_rule_field_name(license_class, "change")],
                bool(data[_rule_field_name(license_class, "ack")]),
            )
            for license_class in LicenseClass.values
        }


PolicyForm = type("PolicyForm", (PolicyFormBase,), _rule_fields())


class PolicyVersionInline(admin.TabularInline):
    model = PolicyVersion
    fields = ["number", "created_at", "created_by", "rule_summary"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-number"]
    show_change_link = True

    @admin.display(description="Rules (first report / every / on change, days)")
    def rule_summary(self, version):
        return format_html_join(
            ", ",
            "{}: {}/{}/{}{}",
            (
                (
                    r.get_license_class_display(),
                    r.first_report_days,
                    r.reporting_frequency_days,
                    r.report_on_change_days,
                    " ACK" if r.ack_required else "",
                )
                for r in version.rules.all()
            ),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by").prefetch_related("rules")


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    form = PolicyForm
    list_display = ["name", "is_default", "current_version", "account_count"]
    search_fields = ["name"]
    list_filter = ["is_default"]
    inlines = [PolicyVersionInline]

    def get_fieldsets(self, request, obj=None):
        rows = [(None, {"fields": ["name", "description", "make_default"]})]
        for license_class, label in LicenseClass.choices:
            rows.append(
                (
                    f"{label} licenses",
                    {"fields": [_rule_field_name(license_class, part) for part in RULE_FIELDS]},
                )
            )
        return rows

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(_versions=Count("versions", distinct=True), _accounts=Count("assignments", distinct=True))
        )

    @admin.display(description="Version")
    def current_version(self, policy):
        return policy._versions

    @admin.display(description="Accounts assigned")
    def account_count(self, policy):
        return policy._accounts

    def has_delete_permission(self, request, obj=None):
        return False  # versions named by ACKs must stay; a policy is never deleted

    def save_model(self, request, obj, form, change):
        try:
            if not change:
                created = services.create_policy(
                    actor=request.user,
                    name=form.cleaned_data["name"],
                    description=form.cleaned_data["description"],
                    rules=form.rules(),
                    is_default=form.cleaned_data["make_default"],
                )
                obj.pk, obj.is_default, obj.created_at = created.pk, created.is_default, created.created_at
                obj._state.adding = False
                return
            version = services.save_policy_rules(
                actor=request.user,
                policy=obj,
                rules=form.rules(),
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
            )
            if version is not None:
                messages.info(request, f"The rules changed: {obj.name} is now at version {version.number}.")
            if form.cleaned_data["make_default"] and not Policy.objects.get(pk=obj.pk).is_default:
                services.set_default_policy(actor=request.user, policy=obj)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        except PermissionDenied as error:
            messages.error(request, str(error))


class PolicyRuleInline(admin.TabularInline):
    model = PolicyRule
    fields = ["license_class", "first_report_days", "reporting_frequency_days", "report_on_change_days", "ack_required"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(PolicyVersion)
class PolicyVersionAdmin(admin.ModelAdmin):
    """Versions are read-only: an ACK names the version it was judged by."""

    list_display = ["policy", "number", "created_at", "created_by"]
    list_filter = ["policy"]
    search_fields = ["policy__name"]
    readonly_fields = ["policy", "number", "created_at", "created_by"]
    inlines = [PolicyRuleInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AccountPolicy)
class AccountPolicyAdmin(admin.ModelAdmin):
    list_display = ["smart_account", "policy", "assigned_at"]
    list_select_related = ["smart_account", "policy"]
    search_fields = ["smart_account__name", "smart_account__domain", "policy__name"]
    list_filter = ["policy"]
    raw_id_fields = ["smart_account"]
    fields = ["smart_account", "policy"]

    def save_model(self, request, obj, form, change):
        assignment = services.assign_policy(actor=request.user, smart_account=obj.smart_account, policy=obj.policy)
        if assignment is not None:
            obj.pk = assignment.pk
            obj._state.adding = False

    def delete_model(self, request, obj):
        services.assign_policy(actor=request.user, smart_account=obj.smart_account, policy=None)

    def delete_queryset(self, request, queryset):
        for obj in queryset.select_related("smart_account"):
            self.delete_model(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records the services write; staff look, never edit."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    list_display = ["report_id", "product_instance", "account", "source", "signed", "generated_at", "received_at"]
    list_filter = ["source", "signed", "product_instance__smart_account__kind"]
    search_fields = [
        "=report_id",
        "product_instance__serial_number",
        "product_instance__hostname",
        "product_instance__smart_account__name",
    ]
    list_select_related = ["product_instance__smart_account"]

    @admin.display(description="Smart Account", ordering="product_instance__smart_account__name")
    def account(self, obj):
        return obj.product_instance.smart_account

    date_hierarchy = "received_at"


@admin.register(Acknowledgement)
class AcknowledgementAdmin(ReadOnlyAdmin):
    list_display = ["ack_id", "product_instance", "account", "policy_version", "next_due_at", "created_at"]
    list_filter = ["policy_version__policy"]
    search_fields = ["=ack_id", "product_instance__serial_number", "product_instance__smart_account__name"]
    list_select_related = ["product_instance__smart_account", "policy_version__policy"]

    @admin.display(description="Smart Account", ordering="product_instance__smart_account__name")
    def account(self, obj):
        return obj.product_instance.smart_account


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["message", "kind", "severity", "smart_account", "due_at", "opened_at", "resolved_at"]
    list_filter = ["kind", "severity", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["message", "smart_account__name"]
    list_select_related = ["smart_account"]


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = ["product_instance", "account", "kind", "source", "occurred_at", "reported_at", "late"]
    list_filter = ["kind", "source", "late"]
    search_fields = [
        "product_instance__serial_number",
        "product_instance__hostname",
        "product_instance__smart_account__name",
    ]
    list_select_related = ["product_instance__smart_account"]

    @admin.display(description="Smart Account", ordering="product_instance__smart_account__name")
    def account(self, obj):
        return obj.product_instance.smart_account


@admin.register(UsageUpload)
class UsageUploadAdmin(ReadOnlyAdmin):
    list_display = ["file_name", "smart_account", "virtual_account", "actor", "accepted_count", "refused_count"]
    list_filter = ["smart_account__kind"]
    search_fields = ["file_name", "smart_account__name", "smart_account__domain", "actor__email"]
    list_select_related = ["smart_account", "virtual_account", "actor"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "hostname", "task_id"]
    search_fields = ["hostname", "task_id"]


# --- Celery beat's periodic tasks ------------------------------------------------------------------
# django-celery-beat's actions (enable, disable, toggle, run now) change the schedule or start tasks but
# declare no permission, so staff who may only look could run them. The same admin, with each action
# needing the change permission on periodic tasks.


def _needing_change(action):
    @functools.wraps(action)
    def checked(modeladmin, request, queryset):
        return action(modeladmin, request, queryset)

    checked.allowed_permissions = ("change",)
    return checked


class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    enable_tasks = _needing_change(BeatPeriodicTaskAdmin.enable_tasks)
    disable_tasks = _needing_change(BeatPeriodicTaskAdmin.disable_tasks)
    toggle_tasks = _needing_change(BeatPeriodicTaskAdmin.toggle_tasks)
    run_tasks = _needing_change(BeatPeriodicTaskAdmin.run_tasks)


if admin.site.is_registered(PeriodicTask):
    admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
