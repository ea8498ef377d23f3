"""Staff pages: the catalog and orders are entered here; holdings, devices and the ledger are read-only.

Orders are deposited through `deposit_order` when saved with their lines (or by the action), so
the admin follows the same rules as the import and the ledger stays the only writer of lots.
Depositing needs the change permission on orders (the action, and the service again).
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError

from . import admin_workflows  # noqa: F401  (hand-overs, PAKs, reservations)
from .models import (
    LedgerEntry,
    License,
    LicenseBalance,
    LicenseLot,
    Order,
    OrderLine,
    ProductInstance,
    RegistrationToken,
    Sku,
)
from .services import deposit_order, license_class_changed
from .services.catalog import CLASS_FIELDS


class ReadOnlyAdmin(admin.ModelAdmin):
    """What the ledger and the devices write: staff look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SkuInline(admin.TabularInline):
    model = Sku
    extra = 1
    fields = ("code", "description", "licenses_per_unit", "default_term_months")


@admin.register(License)
class LicenseAdmin(admin.ModelAdmin):
    list_display = ("name", "product_family", "license_type", "enforcement", "billing", "tag")
    list_filter = ("product_family", "license_type", "enforcement", "billing")
    search_fields = ("name", "tag", "skus__code")
    readonly_fields = ("policy_class",)
    inlines = [SkuInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and set(CLASS_FIELDS) & set(form.changed_data):
            license_class_changed(license_ids=[obj.pk])


@admin.register(Sku)
class SkuAdmin(admin.ModelAdmin):
    list_display = ("code", "license", "licenses_per_unit", "default_term_months")
    search_fields = ("code", "description", "license__name")
    list_filter = ("license__product_family",)
    list_select_related = ("license",)
    autocomplete_fields = ("license",)


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 1
    fields = ("line_number", "sku", "quantity", "term_start", "term_end")
    autocomplete_fields = ("sku",)

    def _deposited(self, obj) -> bool:
        return obj is not None and obj.status == Order.Status.DEPOSITED

    def has_add_permission(self, request, obj=None):
        return not self._deposited(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return not self._deposited(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self._deposited(obj) and super().has_delete_permission(request, obj)


class OrderForm(forms.ModelForm):
    class Meta:
        model = Order
        fields = ("number", "ordered_by", "end_customer", "smart_account", "virtual_account")

    def clean(self):
        cleaned = super().clean()
        account, va = cleaned.get("smart_account"), cleaned.get("virtual_account")
        if va is not None and (account is None or va.smart_account_id != account.pk):
            raise ValidationError({"virtual_account": "Choose a Virtual Account of the order's Smart Account."})
        if va is not None and va.is_deleted:
            raise ValidationError({"virtual_account": "That Virtual Account has been deleted."})
        return cleaned


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Enter an order with its lines; saving deposits it, or puts it on Smart Account hold."""

    form = OrderForm
    list_display = ("number", "smart_account", "virtual_account", "status", "hold_reason", "created_at", "deposited_at")
    list_filter = ("status", "smart_account__kind")
    search_fields = ("number", "end_customer", "ordered_by", "smart_account__name", "smart_account__domain")
    list_select_related = ("smart_account", "virtual_account")
    raw_id_fields = ("smart_account", "virtual_account")
    inlines = [OrderLineInline]
    actions = ["deposit_selected"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.status == Order.Status.DEPOSITED:
            return ("number", "ordered_by", "end_customer", "smart_account", "virtual_account", "status",
                    "deposited_at")  # fmt: skip
        return ("status", "hold_reason", "deposited_at")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        order = form.instance
        if order.status != Order.Status.DEPOSITED and order.lines.exists():
            self._deposit(request, order)

    def _deposit(self, request, order: Order) -> None:
        try:
            order = deposit_order(order=order, actor=request.user)
        except (ValidationError, PermissionDenied) as error:
            reason = " ".join(getattr(error, "messages", None) or [str(error)])
            self.message_user(request, f"{order.number} was not deposited: {reason}", messages.ERROR)
            return
        if order.status == Order.Status.DEPOSITED:
            self.message_user(request, f"{order.number} deposited into {order.virtual_account}.", messages.SUCCESS)
        else:
            self.message_user(
                request, f"{order.number} waits on Smart Account hold: {order.hold_reason}", messages.WARNING
            )

    @admin.action(description="Deposit the selected orders (those whose account is active)", permissions=["change"])
    def deposit_selected(self, request, queryset):
        for order in queryset.exclude(status=Order.Status.DEPOSITED).order_by("created_at"):
            self._deposit(request, order)


@admin.register(LicenseLot)
class LicenseLotAdmin(ReadOnlyAdmin):
    list_display = ("license", "smart_account", "virtual_account", "quantity", "start_date", "end_date", "expired_at")
    list_filter = ("license__product_family", "smart_account__kind", ("expired_at", admin.EmptyFieldListFilter))
    search_fields = ("license__name", "smart_account__name", "smart_account__domain", "order_line__order__number")
    list_select_related = ("license", "smart_account", "virtual_account")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "smart_account", "virtual_account", "license", "quantity", "actor", "note")
    list_filter = ("kind", "smart_account__kind")
    search_fields = ("license__name", "smart_account__name", "note", "movement")
    list_select_related = ("smart_account", "virtual_account", "license", "actor")
    date_hierarchy = "created_at"


@admin.register(LicenseBalance)
class LicenseBalanceAdmin(ReadOnlyAdmin):
    list_display = ("smart_account", "virtual_account", "license", "purchased", "in_use", "reserved", "balance")
    list_filter = ("smart_account__kind", "license__product_family")
    search_fields = ("license__name", "smart_account__name", "virtual_account__name")
    list_select_related = ("smart_account", "virtual_account", "license")


@admin.register(ProductInstance)
class ProductInstanceAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "pid", "serial_number", "smart_account", "virtual_account", "status", "reporting_status")
    list_filter = ("status", "deadline__reporting_status", "smart_account__kind")
    search_fields = ("serial_number", "pid", "hostname", "smart_account__name", "smart_account__domain")
    list_select_related = ("smart_account", "virtual_account", "deadline")
    exclude = ("trust_code",)


@admin.register(RegistrationToken)
class RegistrationTokenAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "account", "virtual_account", "created_by", "expires_at", "uses", "max_uses",
                    "revoked_at")  # fmt: skip
    list_filter = ("export_controlled_allowed", ("revoked_at", admin.EmptyFieldListFilter), "expires_at")
    search_fields = ("description", "virtual_account__name", "virtual_account__smart_account__name",
                     "virtual_account__smart_account__domain")  # fmt: skip
    list_select_related = ("virtual_account__smart_account", "created_by")

    @admin.display(description="Smart Account", ordering="virtual_account__smart_account__name")
    def account(self, obj):
        return obj.virtual_account.smart_account

    exclude = ("token",)
