"""Hand-overs in the native API: a partner holding account hands order lines to a customer account, which
accepts them into one of its Virtual Accounts or declines them; the partner may cancel while pending.

The same rights as the pages (licensing/urls_workflows.py): a partner holding account sees its outgoing
hand-overs and a customer account its incoming ones (an account has only one direction, by its kind);
handing over and cancelling need the User role in the partner account, accepting the User role on the
chosen VA, declining the Admin role on the customer account. Reads go through
`licensing.selectors.handover`, writes through the services, which check every rule again.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from smartaccounts.api.base import AccountApiView
from smartaccounts.models import SmartAccount
from smartaccounts.params import MAX_ID

from .. import services
from ..identifiers import printable
from ..models import HandOver
from ..selectors import handover as selectors
from .workflows import (
    IdField,
    NamedLicense,
    NamedVirtualAccount,
    body_virtual_account,
    license_ref,
    va_ref,
    visible_va_ids,
)

__all__ = [
    "HandOverAcceptView",
    "HandOverCancelView",
    "HandOverDeclineView",
    "HandOverDetailView",
    "HandOverListView",
]

PARTNER = SmartAccount.Kind.PARTNER_HOLDING
CUSTOMER = SmartAccount.Kind.CUSTOMER
OUTGOING, INCOMING = "outgoing", "incoming"


# --- Answers ----------------------------------------------------------------------------------------------


class HandOverLineSerializer(serializers.Serializer):
    order_line_id = serializers.IntegerField()
    order_number = serializers.CharField()
    line_number = serializers.IntegerField()
    sku = serializers.CharField()
    license = NamedLicense()
    quantity = serializers.IntegerField()


class HandOverSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    direction = serializers.ChoiceField(
        choices=[OUTGOING, INCOMING], help_text="outgoing: this partner account made it; incoming: made to this one."
    )
    status = serializers.ChoiceField(choices=HandOver.Status.choices)
    partner_account = serializers.CharField(help_text="The partner holding account's name.")
    customer_account = serializers.CharField(help_text="The customer account's name.")
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField(
        allow_null=True, help_text="Who handed the licenses over (outgoing hand-overs only)."
    )
    expires_at = serializers.DateTimeField(
        allow_null=True, help_text="A pending hand-over is declined automatically at this time."
    )
    decided_at = serializers.DateTimeField(allow_null=True)
    decided_by = serializers.EmailField(
        allow_null=True, help_text="Who accepted or declined it (incoming hand-overs only)."
    )
    reason = serializers.CharField(allow_blank=True, help_text="Why it was declined.")
    virtual_account = NamedVirtualAccount(
        allow_null=True, help_text="The VA it was accepted into (incoming, when the caller can see that VA)."
    )
    line_count = serializers.IntegerField()
    total = serializers.IntegerField(help_text="Licenses in the hand-over.")


class HandOverDetailSerializer(HandOverSerializer):
    lines = HandOverLineSerializer(many=True)


def hand_over_data(hand_over: HandOver, account: SmartAccount, visible: set[int], lines=None) -> dict:
    """A hand-over as `account` (its partner or its customer) sees it: the partner learns nothing of the
    customer beyond its name; `visible`: the VA ids the caller can see."""
    outgoing = hand_over.partner_account_id == account.pk
    pending = hand_over.status == HandOver.Status.PENDING
    data = {
        "id": hand_over.pk,
        "direction": OUTGOING if outgoing else INCOMING,
        "status": hand_over.status,
        "partner_account": account.name if outgoing else hand_over.partner_name,
        "customer_account": hand_over.customer_name if outgoing else account.name,
        "created_at": hand_over.created_at,
        "created_by": hand_over.created_by.email if outgoing else None,
        "expires_at": hand_over.created_at + timedelta(days=services.HAND_OVER_EXPIRY_DAYS) if pending else None,
        "decided_at": hand_over.decided_at,
        "decided_by": hand_over.decided_by.email if not outgoing and hand_over.decided_by else None,
        "reason": hand_over.reason,
        "virtual_account": None if outgoing else va_ref(hand_over.virtual_account, visible),
        "line_count": hand_over.line_count,
        "total": hand_over.total,
    }
    if lines is not None:
        data["lines"] = [
            {
                "order_line_id": line.order_line_id,
                "order_number": line.order_line.order.number,
                "line_number": line.order_line.line_number,
                "sku": line.order_line.sku.code,
                "license": license_ref(line.license),
                "quantity": line.quantity,
            }
            for line in lines
        ]
    return data


class HandOverScope(AccountApiView):
    """The account's hand-overs: outgoing ones in a partner holding account, incoming ones in a customer account."""

    allowed_kinds = (PARTNER, CUSTOMER)

    @property
    def direction(self) -> str:
        return OUTGOING if self.smart_account.kind == PARTNER else INCOMING

    def hand_overs(self) -> QuerySet[HandOver]:
        if self.direction == OUTGOING:
            return selectors.outgoing_hand_overs(self.smart_account)
        return selectors.incoming_hand_overs(self.smart_account)

    def get_hand_over(self, direction: str | None = None) -> HandOver:
        """The hand-over of the URL, in the direction the action needs (any other is a 404)."""
        if direction is not None and direction != self.direction:
            raise Http404("No such hand-over.")
        hand_over = self.hand_overs().filter(pk=self.kwargs["hand_over_id"]).first()
        if hand_over is None:
            raise Http404("No such hand-over.")
        return hand_over

    def serialize(self, hand_over: HandOver, *, detail: bool = False) -> dict:
        visible = visible_va_ids(self, [hand_over.virtual_account_id]) if self.direction == INCOMING else set()
        lines = selectors.hand_over_lines(hand_over) if detail else None
        return hand_over_data(hand_over, self.smart_account, visible, lines)

    def answer(self, hand_over_id: int, http_status: int = status.HTTP_200_OK) -> Response:
        """The hand-over as it is now, read again through the selector."""
        hand_over = self.hand_overs().get(pk=hand_over_id)
        return Response(HandOverDetailSerializer(self.serialize(hand_over, detail=True)).data, status=http_status)


# --- Requests ---------------------------------------------------------------------------------------------


class HandOverFilterSerializer(serializers.Serializer):
    direction = serializers.ChoiceField(choices=[OUTGOING, INCOMING], required=False)
    status = serializers.ChoiceField(choices=HandOver.Status.choices, required=False)


class HandOverCreateSerializer(serializers.Serializer):
    customer_domain = serializers.CharField(
        max_length=254, required=False, help_text="The domain identifier of the customer's Smart Account."
    )
    customer_account_id = IdField(required=False, help_text="Or the customer account's id.")
    order_lines = serializers.DictField(
        child=serializers.IntegerField(),
        allow_empty=False,
        help_text='{order line id: quantity}, e.g. {"812": 5}: the licenses of each line to hand over.',
    )

    def validate_order_lines(self, value):
        lines = {}
        for key, quantity in value.items():
            try:
                line_id = int(key)
            except (TypeError, ValueError):
                line_id = 0
            if str(line_id) != str(key).strip() or not 1 <= line_id <= MAX_ID:
                raise serializers.ValidationError(f"“{printable(str(key), 40)}” is not an order line id.")
            lines[line_id] = quantity
        return lines

    def validate(self, attrs):
        if ("customer_domain" in attrs) == ("customer_account_id" in attrs):
            raise serializers.ValidationError(
                {"customer_domain": "Name the customer by its domain identifier or by customer_account_id (one)."}
            )
        return attrs


class AcceptSerializer(serializers.Serializer):
    virtual_account_id = IdField(help_text="The Virtual Account of this account to take the licenses into.")


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=True, help_text="The partner reads it; say what they should do instead (up to 500 characters)."
    )


# --- Views ------------------------------------------------------------------------------------------------


class HandOverListView(HandOverScope):
    """`GET`: the account's hand-overs, newest first. `POST` (partner holding accounts): hand order lines over."""

    ordering = ("-created_at", "-pk")
    serializer_class = HandOverSerializer

    @extend_schema(
        parameters=[HandOverFilterSerializer],
        responses=HandOverSerializer(many=True),
        description="Outgoing hand-overs in a partner holding account, incoming ones in a customer account.",
    )
    def get(self, request, *args, **kwargs):
        filters = HandOverFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        hand_overs = self.hand_overs()
        wanted = filters.validated_data.get("direction")
        if wanted and wanted != self.direction:
            hand_overs = hand_overs.none()
        if filters.validated_data.get("status"):
            hand_overs = hand_overs.filter(status=filters.validated_data["status"])
        page = self.paginate_queryset(hand_overs)
        visible = visible_va_ids(self, [h.virtual_account_id for h in page]) if self.direction == INCOMING else set()
        rows = [hand_over_data(hand_over, self.smart_account, visible) for hand_over in page]
        return self.get_paginated_response(HandOverSerializer(rows, many=True).data)

    @extend_schema(request=HandOverCreateSerializer, responses={201: HandOverDetailSerializer})
    def post(self, request, *args, **kwargs):
        payload = HandOverCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        # Order lines of this account only (any other id is a 404), with what each holds where the caller operates.
        wanted = data["order_lines"]
        lines = {
            line.pk: line
            for line in selectors.held_order_lines(self.smart_account, self.visible_virtual_accounts("operate")).filter(
                pk__in=wanted
            )
        }
        if len(lines) != len(wanted):
            raise Http404("No such order line.")
        if "customer_account_id" in data:
            field, customer = (
                "customer_account_id",
                selectors.eligible_customer_account(account_id=data["customer_account_id"]),
            )
        else:
            field, customer = "customer_domain", selectors.eligible_customer_account(data["customer_domain"])
        if customer is None:
            raise ValidationError({field: services.NO_ELIGIBLE_CUSTOMER}, code="no_eligible_customer")
        hand_over = services.transfer_to_customer(
            actor=request.user,
            order_lines={lines[line_id]: quantity for line_id, quantity in wanted.items()},
            customer_account=customer,
        )
        return self.answer(hand_over.pk, status.HTTP_201_CREATED)


class HandOverDetailView(HandOverScope):
    serializer_class = HandOverDetailSerializer

    @extend_schema(responses=HandOverDetailSerializer)
    def get(self, request, *args, **kwargs):
        return Response(HandOverDetailSerializer(self.serialize(self.get_hand_over(), detail=True)).data)


class HandOverAcceptView(HandOverScope):
    """A customer account takes a pending hand-over into one of its VAs (User role on that VA)."""

    allowed_kinds = (CUSTOMER,)
    serializer_class = HandOverDetailSerializer

    @extend_schema(request=AcceptSerializer, responses=HandOverDetailSerializer)
    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over(INCOMING)
        payload = AcceptSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        va = body_virtual_account(self, payload.validated_data["virtual_account_id"])
        services.accept_hand_over(actor=request.user, hand_over=hand_over, virtual_account=va)
        return self.answer(hand_over.pk)


class HandOverDeclineView(HandOverScope):
    """An Admin of the customer account declines a pending hand-over; the licenses go back to the partner."""

    allowed_kinds = (CUSTOMER,)
    required_write_action = "admin"
    serializer_class = HandOverDetailSerializer

    @extend_schema(request=DeclineSerializer, responses=HandOverDetailSerializer)
    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over(INCOMING)
        payload = DeclineSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.decline_hand_over(actor=request.user, hand_over=hand_over, reason=payload.validated_data["reason"])
        return self.answer(hand_over.pk)


class HandOverCancelView(HandOverScope):
    """The partner takes a pending hand-over back; its licenses return to the VAs they came from."""

    allowed_kinds = (PARTNER,)
    serializer_class = HandOverDetailSerializer

    @extend_schema(request=None, responses=HandOverDetailSerializer)
    def post(self, request, *args, **kwargs):
        hand_over = self.get_hand_over(OUTGOING)
        services.cancel_hand_over(actor=request.user, hand_over=hand_over)
        return self.answer(hand_over.pk)
