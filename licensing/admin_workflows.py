"""Admin pages of hand-overs, PAKs and reservations.

Staff load PAKs here (one at a time; many with `import_paks`): the add form goes through the same
service as the import, so its rules (catalog SKUs, an eligible owner, a loaded PAK never changes)
hold here too. Hand-overs and reservations are read-only: the customer and partner decide them in
the portal, where the ledger moves with them.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Count, Sum

from smartaccounts.models import SmartAccount

from .models import HandOver, HandOverLine, Pak, PakLine, Reservation, ReservationLine
from .services import import_paks, normalise_pak_number


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Hand-overs ------------------------------------------------------------------------------------


class HandOverLineInline(_ReadOnlyInline):
    model = HandOverLine
    fields = ("order_line", "license", "quantity")
    readonly_fields = fields


@admin.register(HandOver)
class HandOverAdmin(_ReadOnlyAdmin):
    list_display = ("pk", "partner_account", "customer_account", "status", "total", "created_at", "decided_at")
    list_filter = ("status",)
    search_fields = ("partner_account__name", "customer_account__name", "lines__order_line__order__number")
    list_select_related = ("partner_account", "customer_account")
    date_hierarchy = "created_at"
    inlines = [HandOverLineInline]
    fields = (
        "partner_account",
        "customer_account",
        "status",
        "created_by",
        "created_at",
        "decided_by",
        "decided_at",
        "reason",
        "virtual_account",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(total_licenses=Sum("lines__quantity"))

    @admin.display(description="Licenses", ordering="total_licenses")
    def total(self, obj):
        return obj.total_licenses or 0


# --- PAKs --------------------------------------------------------------------------------------------


class PakLineInline(_ReadOnlyInline):
    model = PakLine
    fields = ("sku", "quantity", "converted_quantity")
    readonly_fields = fields


class PakCreationForm(forms.ModelForm):
    """A new PAK: its number, an optional owner and its lines, one "SKU, units" per line.

    Validating the form loads the PAK through `import_paks` (inside the admin's transaction), so
    the service's refusals show on the form and nothing is written when there is one.
    """

    owner = forms.ModelChoiceField(
        queryset=SmartAccount.objects.filter(kind__in=[SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE]),
        required=False,
        help_text="Empty: the first account that enters the PAK number claims it.",
    )
    lines = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5, "placeholder": "C9300-DNA-A-48, 10\nSL-4330-SEC-K9, 2"}),
        help_text="One line per SKU: the SKU code, a comma, the number of units. Errors name the line.",
    )
    actor = None  # the staff member, set by PakAdmin.get_form

    class Meta:
        model = Pak
        fields = ("number",)

    def validate_unique(self):
        pass  # the service decides what a PAK number already loaded means

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        owner = cleaned.get("owner")
        rows = [
            (n, {"pak_number": cleaned.get("number", ""), "sku": sku.strip(), "quantity": quantity.strip(),
                 "owner_domain": owner.domain if owner else ""})
            for n, (sku, _, quantity) in enumerate((t.partition(",") for t in cleaned["lines"].splitlines()), start=1)
            if sku.strip() or quantity.strip()
        ]  # fmt: skip
        if not rows:
            raise forms.ValidationError({"lines": "Give at least one line: SKU, units."})
        try:
            import_paks(rows=rows, actor=self.actor)
        except ValidationError as error:
            raise forms.ValidationError({"lines": error.messages}) from None
        self.instance = Pak.objects.get(number=normalise_pak_number(cleaned["number"]))
        return cleaned


@admin.register(Pak)
class PakAdmin(admin.ModelAdmin):
    list_display = ("number", "owner", "line_count", "units", "converted", "claimed_at", "created_at")
    list_filter = (("owner", admin.EmptyFieldListFilter),)
    search_fields = ("number", "owner__name", "owner__domain", "lines__sku__code")
    list_select_related = ("owner",)
    inlines = [PakLineInline]
    readonly_fields = ("number", "owner", "claimed_at", "claimed_by", "created_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                line_total=Count("lines"), unit_total=Sum("lines__quantity"), done=Sum("lines__converted_quantity")
            )
        )

    @admin.display(description="Lines", ordering="line_total")
    def line_count(self, obj):
        return obj.line_total

    @admin.display(description="Units", ordering="unit_total")
    def units(self, obj):
        return obj.unit_total or 0

    @admin.display(description="Converted", ordering="done")
    def converted(self, obj):
        return obj.done or 0

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = type("PakCreationForm", (PakCreationForm,), {"actor": request.user})
            kwargs["fields"] = ("number",)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("number", "owner", "lines") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return False  # a PAK is a record: claims, conversions and lots point at it

    def save_model(self, request, obj, form, change):
        pass  # validating the form loaded it through the service

    def save_related(self, request, form, formsets, change):
        pass


# --- Reservations ------------------------------------------------------------------------------------


class ReservationLineInline(_ReadOnlyInline):
    model = ReservationLine
    fields = ("license", "quantity")
    readonly_fields = fields


@admin.register(Reservation)
class ReservationAdmin(_ReadOnlyAdmin):
    list_display = ("product_instance", "smart_account", "virtual_account", "reservation_type", "status", "created_at")
    list_filter = ("reservation_type", "status", "released_without_code")
    search_fields = ("product_instance__serial_number", "product_instance__pid", "smart_account__name",
                     "smart_account__domain", "request_code")  # fmt: skip
    list_select_related = ("product_instance", "smart_account", "virtual_account")
    inlines = [ReservationLineInline]
    fields = (
        "smart_account",
        "virtual_account",
        "product_instance",
        "reservation_type",
        "status",
        "request_code",
        "authorization_code",
        "created_by",
        "created_at",
        "updated_at",
        "released_by",
        "released_at",
        "return_code",
        "released_without_code",
        "replaced_by",
    )
    readonly_fields = fields
