"""What the licensing endpoints of the native API share: references to VAs and licenses, the query
parameters that choose a scope (`virtual_account`, `include_subaccounts`), ids in request bodies, and the
answers of licenses, lots and product instances (the Cisco-compatible layer reuses them).

Ids the caller names are read through the same permission-scoped selectors as the URL's: a Virtual
Account, license or product instance in a body that the caller cannot see is a 404, as it would be in
the URL; a `virtual_account` list filter naming one is a 400 on that parameter (as every list of the
API answers it). Neither says whether it exists.
"""

from __future__ import annotations

from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.http import Http404
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from smartaccounts.params import MAX_ID, has_control_characters

from ..models import License, LicenseLot, ProductInstance
from ..selectors.scope import LicensingScope, scope_for

__all__ = [
    "AlertsSerializer",
    "ExpiringSerializer",
    "IdField",
    "LOT_RELATED",
    "LicenseRefSerializer",
    "LicenseRowSerializer",
    "LotSerializer",
    "ProductInstanceSerializer",
    "ScopeQuery",
    "SearchField",
    "VirtualAccountRefSerializer",
    "read_query",
    "renamed_fields",
    "scope_from_query",
    "visible_virtual_account",
]


class IdField(serializers.IntegerField):
    """An id: a whole number from 1 to the largest bigint."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class SearchField(serializers.CharField):
    """A search term: control characters (NUL, line breaks) are refused, not compared."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("max_length", 200)
        kwargs.setdefault("default", "")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if has_control_characters(value):
            raise serializers.ValidationError("Leave out control characters (NUL, line breaks, tabs).")
        return value


class ScopeQuery(serializers.Serializer):
    """Which VAs a list reads: one VA (optionally with its sub-accounts) or, without `virtual_account`,
    every VA of the account the caller may see (the account roll-up)."""

    virtual_account = IdField(required=False, help_text="A Virtual Account's id: only its rows.")
    include_subaccounts = serializers.BooleanField(
        required=False, default=False, help_text="With `virtual_account`: its sub-accounts' rows too."
    )


def visible_virtual_account(view, va_id: int, action: str = "view"):
    """The live VA `va_id` of the view's account if the caller's roles reach it; else 404 (as in a URL)."""
    va = view.visible_virtual_accounts(action).filter(pk=va_id).first()
    if va is None:
        raise Http404("No such Virtual Account.")
    return va


def scope_from_query(view, params: dict) -> LicensingScope:
    """The `LicensingScope` the validated `ScopeQuery` parameters name (the Licenses page's scope).

    A `virtual_account` the caller cannot see in the URL's account is a 400 on that parameter, as every
    list filter of the API answers it (a VA in a body or in the URL is a 404); either way it says
    nothing of whether the VA exists."""
    va_id = params.get("virtual_account")
    va = None
    if va_id is not None:
        va = view.visible_virtual_accounts("view").filter(pk=va_id).first()
        if va is None:
            raise serializers.ValidationError({"virtual_account": "Not a Virtual Account you can see in this account."})
    return scope_for(
        view.request.user,
        view.smart_account,
        va,
        include_subtree=bool(params.get("include_subaccounts")),
        role_on_account=view.account_role,
    )


def read_query(serializer_class, request) -> dict:
    """The query string validated by `serializer_class`: a value it refuses is a 400 naming the parameter."""
    query = serializer_class(data=request.query_params)
    query.is_valid(raise_exception=True)
    return query.validated_data


@contextmanager
def renamed_fields(mapping: dict[str, str]):
    """A service's ValidationError with its field names as the request spells them (`target` →
    `target_virtual_account_id`), so that `fields` of the error names what the client sent."""
    try:
        yield
    except ValidationError as error:
        if not hasattr(error, "error_dict"):
            raise
        renamed = ValidationError({mapping.get(name, name): errors for name, errors in error.error_dict.items()})
        raise renamed from error


# --- References ------------------------------------------------------------------------------------------


class VirtualAccountRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()


class LicenseRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    entitlement_tag = serializers.CharField(source="tag")


# --- Licenses --------------------------------------------------------------------------------------------


class ExpiringSerializer(serializers.Serializer):
    within_days = serializers.IntegerField(help_text="30, 60 or 90: licenses ending in this tier, not an earlier one.")
    quantity = serializers.IntegerField()
    first_end_date = serializers.DateField(allow_null=True, help_text="The first end date (on the nearest tier only).")


class AlertsSerializer(serializers.Serializer):
    """The alerts of the Licenses page, as `licensing.selectors.licenses.LicenseAlerts` computes them."""

    insufficient = serializers.BooleanField(help_text="The balance is below zero.")
    short_virtual_accounts = serializers.IntegerField(
        source="short_vas", help_text="Virtual Accounts whose own balance is below zero."
    )
    expired = serializers.IntegerField(help_text="Licenses past their end date or expired in the last 90 days.")
    expiring = serializers.SerializerMethodField()
    labels = serializers.SerializerMethodField(help_text="The alerts as the Licenses page shows them.")

    @extend_schema_field(ExpiringSerializer(many=True))
    def get_expiring(self, alerts) -> list:
        rows = [{"within_days": d, "quantity": q, "first_end_date": first} for d, q, first in alerts.expiring]
        return ExpiringSerializer(rows, many=True).data

    def get_labels(self, alerts) -> list[str]:
        return [text for _, text in alerts.badges()]


class LicenseRowSerializer(serializers.Serializer):
    """One license of a scope (`licensing.selectors.license_rows`): totals over the scope's VAs."""

    id = serializers.IntegerField(source="license.pk")
    name = serializers.CharField(source="license.name")
    entitlement_tag = serializers.CharField(source="license.tag")
    product_family = serializers.CharField(source="license.product_family")
    license_type = serializers.ChoiceField(source="license.license_type", choices=License.Type.choices)
    enforcement = serializers.ChoiceField(source="license.enforcement", choices=License.Enforcement.choices)
    purchased = serializers.IntegerField()
    in_use = serializers.IntegerField(help_text="Used by product instances.")
    reserved = serializers.IntegerField(help_text="Held by license reservations.")
    total_in_use = serializers.IntegerField(help_text="in_use + reserved.")
    balance = serializers.IntegerField(help_text="purchased − in_use − reserved (negative: insufficient).")
    alerts = AlertsSerializer()


# --- Lots ------------------------------------------------------------------------------------------------


class LotSourceSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["order", "pak"], allow_null=True)
    order_id = serializers.IntegerField(allow_null=True)
    order_number = serializers.CharField(allow_null=True)
    line_number = serializers.IntegerField(allow_null=True)
    pak_id = serializers.IntegerField(allow_null=True)
    pak_number = serializers.CharField(allow_null=True)
    sku = serializers.CharField(allow_null=True)


class LotSerializer(serializers.Serializer):
    """A lot: a quantity of one license from one source (order line or PAK), with one term, in one VA."""

    id = serializers.IntegerField(source="pk")
    license = LicenseRefSerializer()
    virtual_account = VirtualAccountRefSerializer(allow_null=True, help_text="Null while in transit (a hand-over).")
    in_transit = serializers.SerializerMethodField()
    quantity = serializers.IntegerField(help_text="Licenses held now.")
    expired_quantity = serializers.IntegerField()
    expired_at = serializers.DateTimeField(allow_null=True)
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True, help_text="Null: perpetual.")
    term_months = serializers.IntegerField(allow_null=True, help_text="A term starting when a hand-over is accepted.")
    source = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()

    def get_in_transit(self, lot: LicenseLot) -> bool:
        return lot.in_transit_id is not None

    @extend_schema_field(LotSourceSerializer)
    def get_source(self, lot: LicenseLot) -> dict:
        source = dict.fromkeys(LotSourceSerializer().fields, None)
        if lot.order_line_id:
            line = lot.order_line
            source.update(
                kind="order",
                order_id=line.order_id,
                order_number=line.order.number,
                line_number=line.line_number,
                sku=line.sku.code,
            )
        elif lot.pak_line_id:
            line = lot.pak_line
            source.update(kind="pak", pak_id=line.pak_id, pak_number=line.pak.number, sku=line.sku.code)
        return source


LOT_RELATED = ("license", "virtual_account", "order_line__order", "order_line__sku", "pak_line__pak", "pak_line__sku")


# --- Product instances -----------------------------------------------------------------------------------


class ProductInstanceSerializer(serializers.Serializer):
    """A product instance (a device by its UDI) with its reporting state (Smart Licensing using Policy)."""

    id = serializers.IntegerField(source="pk")
    udi = serializers.CharField()
    pid = serializers.CharField()
    serial_number = serializers.CharField()
    hostname = serializers.CharField()
    product_family = serializers.CharField()
    software_version = serializers.CharField()
    virtual_account = VirtualAccountRefSerializer()
    status = serializers.ChoiceField(choices=ProductInstance.Status.choices)
    reporting_status = serializers.ChoiceField(choices=ProductInstance.ReportingStatus.choices)
    next_report_due_at = serializers.DateTimeField(
        source="next_due_at", allow_null=True, help_text="The reporting deadline."
    )
    last_report_at = serializers.DateTimeField(allow_null=True, help_text="When the last accepted report was made.")
    last_report_received_at = serializers.DateTimeField(allow_null=True)
    last_contact_at = serializers.DateTimeField(allow_null=True)
    registered_at = serializers.DateTimeField()
    removed_at = serializers.DateTimeField(allow_null=True)
