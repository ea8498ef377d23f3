"""PAK conversion in the native API: the account's PAKs and what is left of each line, claiming a PAK by its
number, and converting lines into a Virtual Account.

The same rights as the "Convert PAKs" pages: Customer and Limited Use accounts only, the User role
(`operate`) for every endpoint, reads through `licensing.selectors.paks`, writes through `claim_pak` and
`convert_pak`. Entering PAK numbers counts against the pages' limits (per client address, per login and
per account, `smartaccounts.ratelimits`), checked after the role check so that people without a role get
their 404 first; over a limit the answer is 429 with Retry-After.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from smartaccounts.api.base import AccountApiView
from smartaccounts.models import SmartAccount
from smartaccounts.params import has_control_characters
from smartaccounts.ratelimits import PakClaimAccountThrottle, PakClaimAddressThrottle, PakClaimUserThrottle

from .. import services
from ..identifiers import printable
from ..models import Pak, Sku
from ..selectors import paks as selectors
from .workflows import (
    IdField,
    NamedLicense,
    NamedVirtualAccount,
    body_virtual_account,
    license_ref,
    va_ref,
    visible_va_ids,
)

__all__ = ["PakConvertView", "PakDetailView", "PakListView"]

PAK_KINDS = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)
CLAIM_THROTTLES = (PakClaimAddressThrottle, PakClaimUserThrottle, PakClaimAccountThrottle)
MAX_CONVERSIONS_SHOWN = 50
SKU_CODE_LENGTH = Sku._meta.get_field("code").max_length


class PakLineSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    license = NamedLicense()
    licenses_per_unit = serializers.IntegerField()
    quantity = serializers.IntegerField(help_text="Units on the PAK.")
    converted = serializers.IntegerField(help_text="Units converted so far.")
    left = serializers.IntegerField(help_text="Units left to convert.")


class PakSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    claimed_at = serializers.DateTimeField(allow_null=True, help_text="When this account entered the number.")
    units = serializers.IntegerField()
    converted_units = serializers.IntegerField()
    left = serializers.IntegerField(help_text="Units left to convert, all lines together.")
    lines = PakLineSerializer(many=True)


class ConversionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sku = serializers.CharField()
    license = NamedLicense()
    licenses = serializers.IntegerField(help_text="Licenses added to the VA.")
    virtual_account = NamedVirtualAccount(allow_null=True, help_text="Null when the caller cannot see that VA.")
    actor = serializers.EmailField(allow_null=True)


class PakDetailSerializer(PakSerializer):
    conversions = ConversionSerializer(
        many=True, help_text=f"The latest {MAX_CONVERSIONS_SHOWN} conversions of this PAK, newest first."
    )


class ClaimSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=80, help_text="The PAK number as printed on the certificate.")


class ConvertSerializer(serializers.Serializer):
    virtual_account_id = IdField(help_text="The Virtual Account of this account to convert into.")
    lines = serializers.DictField(
        child=serializers.IntegerField(),
        required=False,
        allow_null=True,
        help_text='{SKU code: units}, e.g. {"L-C9300-48-DNA-A-3Y": 2}. Omitted or null: everything that is left.',
    )

    def validate_lines(self, lines):
        # The service names a SKU it does not find in its answer: only text a SKU code can be gets that far.
        for code in lines or {}:
            if len(code) > SKU_CODE_LENGTH or has_control_characters(code):
                raise serializers.ValidationError(f"“{printable(code, 40)}” is not a SKU code.")
        return lines


def _line_data(line) -> dict:
    sku = line.sku
    return {
        "id": line.pk,
        "sku": sku.code,
        "license": license_ref(sku.license),
        "licenses_per_unit": sku.licenses_per_unit,
        "quantity": line.quantity,
        "converted": line.converted_quantity,
        "left": line.remaining,
    }


def pak_data(pak: Pak, lines) -> dict:
    units = sum(line.quantity for line in lines)
    converted = sum(line.converted_quantity for line in lines)
    return {
        "id": pak.pk,
        "number": pak.number,
        "claimed_at": pak.claimed_at,
        "units": units,
        "converted_units": converted,
        "left": units - converted,
        "lines": [_line_data(line) for line in lines],
    }


class PakScope(AccountApiView):
    allowed_kinds = PAK_KINDS
    required_action = "operate"

    def paks(self):
        return selectors.paks_of(self.smart_account)

    def get_pak(self) -> Pak:
        pak = self.paks().filter(pk=self.kwargs["pak_id"]).first()
        if pak is None:
            raise Http404("No such PAK.")
        return pak

    def detail(self, pak: Pak) -> dict:
        data = pak_data(pak, list(selectors.pak_lines(pak)))
        conversions = list(selectors.pak_conversions(pak)[:MAX_CONVERSIONS_SHOWN])
        visible = visible_va_ids(self, [entry.virtual_account_id for entry in conversions])
        data["conversions"] = [
            {
                "id": entry.pk,
                "created_at": entry.created_at,
                "sku": entry.pak_line.sku.code,
                "license": license_ref(entry.license),
                "licenses": entry.quantity,
                "virtual_account": va_ref(entry.virtual_account, visible),
                "actor": entry.actor.email if entry.actor else None,
            }
            for entry in conversions
        ]
        return PakDetailSerializer(data).data


class PakListView(PakScope):
    """`GET`: the account's PAKs with what is left per SKU. `POST`: enter a PAK number (an unowned PAK becomes
    this account's)."""

    ordering = ("number",)
    serializer_class = PakSerializer

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method == "POST":
            # After the scope check (AccountApiView.initial): the per-account limit needs the account.
            throttles = [throttle_class() for throttle_class in CLAIM_THROTTLES]
            waits = [throttle.wait() or 0 for throttle in throttles if not throttle.allow_request(request, self)]
            if waits:
                self.throttled(request, max(waits))

    @extend_schema(
        parameters=[OpenApiParameter("search", str, description="Part of a PAK number.")],
        responses=PakSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        search = request.query_params.get("search", "").strip()
        if len(search) > 80 or has_control_characters(search):
            raise serializers.ValidationError({"search": "Search with up to 80 printable characters."})
        page = self.paginate_queryset(selectors.paks_of(self.smart_account, search))
        rows = [pak_data(pak, list(pak.lines.all())) for pak in page]
        return self.get_paginated_response(PakSerializer(rows, many=True).data)

    @extend_schema(
        request=ClaimSerializer,
        responses={201: PakDetailSerializer, 200: PakDetailSerializer},
        description="201 when the PAK was unowned and now belongs to this account; 200 when it already did. "
        "Any other number (unknown, or another account's) is the same 400. Limited per client address, login "
        "and account (429 with Retry-After).",
    )
    def post(self, request, *args, **kwargs):
        payload = ClaimSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        pak = services.claim_pak(
            actor=request.user, smart_account=self.smart_account, number=payload.validated_data["number"]
        )
        claimed_now = getattr(pak, "claimed_now", False)
        answer = self.detail(self.paks().get(pk=pak.pk))
        return Response(answer, status=status.HTTP_201_CREATED if claimed_now else status.HTTP_200_OK)


class PakDetailView(PakScope):
    serializer_class = PakDetailSerializer

    @extend_schema(responses=PakDetailSerializer)
    def get(self, request, *args, **kwargs):
        return Response(self.detail(self.get_pak()))


class PakConvertView(PakScope):
    """Convert a PAK's lines into smart licenses in a VA (the User role on it)."""

    serializer_class = PakDetailSerializer

    @extend_schema(request=ConvertSerializer, responses=PakDetailSerializer)
    def post(self, request, *args, **kwargs):
        pak = self.get_pak()
        payload = ConvertSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        va = body_virtual_account(self, payload.validated_data["virtual_account_id"])
        services.convert_pak(actor=request.user, pak=pak, virtual_account=va, lines=payload.validated_data.get("lines"))
        return Response(self.detail(self.get_pak()))
