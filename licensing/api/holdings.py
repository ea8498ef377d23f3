"""Licenses, lots and license transfers of a Smart Account (`/api/v1/accounts/<account_id>/...`).

The same selectors as the Licenses pages (`licensing.selectors.license_rows`, `license_detail`,
`lots_in_scope`) and the same service as the transfer form (`licensing.services.transfer_licenses`).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from smartaccounts.api.base import AccountApiView

from .. import selectors, services
from ..models import License, LicenseBalance
from ..selectors.licenses import ALERT_CHOICES, SORTS
from ..selectors.scope import scope_for
from .serializers import (
    LOT_RELATED,
    IdField,
    LicenseRefSerializer,
    LicenseRowSerializer,
    LotSerializer,
    ScopeQuery,
    SearchField,
    VirtualAccountRefSerializer,
    read_query,
    renamed_fields,
    scope_from_query,
    visible_virtual_account,
)

__all__ = ["LicenseDetailApiView", "LicenseTransfersApiView", "LicensesApiView", "LotsApiView"]


# --- Licenses ----------------------------------------------------------------------------------------


class LicensesQuery(ScopeQuery):
    q = SearchField(help_text="Part of a license's name or entitlement tag.")
    type = serializers.ChoiceField(choices=License.Type.choices, required=False)
    family = serializers.CharField(required=False, max_length=100, help_text="A product family of the catalog.")
    alert = serializers.ChoiceField(choices=ALERT_CHOICES, required=False)
    sort = serializers.ChoiceField(choices=sorted(SORTS), required=False, default="name")
    dir = serializers.ChoiceField(choices=["asc", "desc"], required=False, default="asc")

    def validate_family(self, value: str) -> str:
        if value and value not in selectors.license_families():
            raise serializers.ValidationError("No license of the catalog is of this product family.")
        return value


class LicenseListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = LicenseRowSerializer(many=True)


class LicensesApiView(AccountApiView):
    """The Licenses page as JSON: one row per license held or used in the scope."""

    serializer_class = LicenseRowSerializer
    pagination_class = None

    @extend_schema(
        operation_id="licenses_list",
        parameters=[LicensesQuery],
        responses=LicenseListSerializer,
        description=(
            "Per license: purchased, in use, reserved, balance and alerts, summed over one Virtual Account "
            "(`virtual_account`, with `include_subaccounts`) or over every Virtual Account the caller may see. "
            "One row per license: the list is not paged."
        ),
    )
    def get(self, request, *args, **kwargs):
        params = read_query(LicensesQuery, request)
        scope = scope_from_query(self, params)
        rows = selectors.license_rows(
            scope,
            search=params["q"],
            license_type=params.get("type", ""),
            family=params.get("family", ""),
            alert=params.get("alert", ""),
            sort=params["sort"],
            descending=params["dir"] == "desc",
        )
        return Response({"count": len(rows), "results": LicenseRowSerializer(rows, many=True).data})


class BalanceSerializer(serializers.Serializer):
    virtual_account = VirtualAccountRefSerializer()
    purchased = serializers.IntegerField()
    in_use = serializers.IntegerField()
    reserved = serializers.IntegerField()
    balance = serializers.IntegerField()


class LicenseUsageSerializer(serializers.Serializer):
    product_instance_id = serializers.IntegerField()
    hostname = serializers.CharField(source="product_instance.hostname")
    udi = serializers.CharField(source="product_instance.udi")
    virtual_account = VirtualAccountRefSerializer(source="product_instance.virtual_account")
    count = serializers.IntegerField()


class LedgerEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    created_at = serializers.DateTimeField()
    kind = serializers.CharField()
    quantity = serializers.IntegerField(help_text="Signed: positive in, negative out.")
    virtual_account = VirtualAccountRefSerializer(allow_null=True)
    movement = serializers.UUIDField()
    note = serializers.CharField()


class LicenseDetailSerializer(LicenseRowSerializer):
    """A license in the scope: its totals and alerts, the VAs holding it, its lots, the instances using it."""

    description = serializers.CharField(source="license.description")
    per_virtual_account = BalanceSerializer(source="per_va", many=True, help_text="The largest holdings first.")
    more_virtual_accounts = serializers.IntegerField(source="per_va_more", help_text="Holdings not listed.")
    lots = LotSerializer(many=True)
    more_lots = serializers.IntegerField(source="lots_more")
    product_instances = LicenseUsageSerializer(source="instances", many=True)
    product_instances_total = serializers.IntegerField(source="instances_total")
    recent_entries = LedgerEntrySerializer(source="entries", many=True, help_text="The latest ledger entries.")


class LicenseDetailApiView(AccountApiView):
    serializer_class = LicenseDetailSerializer

    @extend_schema(operation_id="licenses_retrieve", parameters=[ScopeQuery], responses=LicenseDetailSerializer)
    def get(self, request, *args, **kwargs):
        scope = scope_from_query(self, read_query(ScopeQuery, request))
        license = selectors.license_in_scope(scope, kwargs["license_id"])
        detail = selectors.license_detail(scope, license)
        for lot in detail.lots:
            lot.license = license  # every lot is of this license: no query per lot for its reference
        return Response(LicenseDetailSerializer(detail).data)


# --- Lots --------------------------------------------------------------------------------------------


class LotsQuery(ScopeQuery):
    license = IdField(required=False, help_text="Only the lots of this license.")


class LotsApiView(AccountApiView):
    """The lots (holdings) of the scope: what each license's quantity is made of, with term and source."""

    serializer_class = LotSerializer

    @extend_schema(operation_id="lots_list", parameters=[LotsQuery], responses=LotSerializer(many=True))
    def get(self, request, *args, **kwargs):
        params = read_query(LotsQuery, request)
        scope = scope_from_query(self, params)
        lots = selectors.lots_in_scope(scope, license_id=params.get("license")).select_related(*LOT_RELATED)
        page = self.paginate_queryset(lots)
        return self.get_paginated_response(LotSerializer(page, many=True).data)


# --- License transfers -------------------------------------------------------------------------------


class LicenseTransferRequest(serializers.Serializer):
    source_virtual_account_id = IdField()
    target_virtual_account_id = IdField()
    license_id = IdField()
    quantity = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="Licenses to move.")


class TransferSideSerializer(serializers.Serializer):
    virtual_account = VirtualAccountRefSerializer()
    purchased = serializers.IntegerField()
    in_use = serializers.IntegerField()
    reserved = serializers.IntegerField()
    balance = serializers.IntegerField()


class LicenseTransferSerializer(serializers.Serializer):
    movement = serializers.UUIDField(help_text="The id the ledger entries of this transfer share.")
    license = LicenseRefSerializer()
    quantity = serializers.IntegerField()
    source = TransferSideSerializer(help_text="The source VA's balance of the license after the transfer.")
    target = TransferSideSerializer(help_text="The target VA's balance of the license after the transfer.")


class LicenseTransfersApiView(AccountApiView):
    """Move available licenses of one license between two VAs of the account."""

    serializer_class = LicenseTransferRequest

    @extend_schema(
        operation_id="license_transfers_create",
        request=LicenseTransferRequest,
        responses={200: LicenseTransferSerializer},
        examples=[
            OpenApiExample(
                "Move 5 licenses",
                value={
                    "source_virtual_account_id": 12,
                    "target_virtual_account_id": 14,
                    "license_id": 3,
                    "quantity": 5,
                },
                request_only=True,
            )
        ],
        description=(
            "Only licenses neither in use nor reserved can leave the source (`quantity` over that is a 400). "
            "The caller needs the User role on both VAs. Answers the balances of both after the move."
        ),
    )
    def post(self, request, *args, **kwargs):
        body = LicenseTransferRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        source = visible_virtual_account(self, data["source_virtual_account_id"])
        target = visible_virtual_account(self, data["target_virtual_account_id"])
        license = selectors.license_in_scope(
            scope_for(request.user, self.smart_account, source, role_on_account=self.account_role), data["license_id"]
        )
        with renamed_fields({"source": "source_virtual_account_id", "target": "target_virtual_account_id"}):
            movement = services.transfer_licenses(
                actor=request.user, source=source, target=target, license=license, quantity=data["quantity"]
            )
        balances = {
            b.virtual_account_id: b
            for b in LicenseBalance.objects.filter(license=license, virtual_account__in=[source, target])
        }

        def side(va):
            b = balances.get(va.pk) or LicenseBalance(virtual_account=va, license=license)
            return {
                "virtual_account": va,
                "purchased": b.purchased,
                "in_use": b.in_use,
                "reserved": b.reserved,
                "balance": b.balance,
            }

        answer = {
            "movement": movement,
            "license": license,
            "quantity": data["quantity"],
            "source": side(source),
            "target": side(target),
        }
        return Response(LicenseTransferSerializer(answer).data)
