"""License reservations in the native API: list, reserve for a device's request code (specific or universal),
read one with its signed authorization code, update it (a new authorization code), release it with the
device's return code, or (Admins) remove an unmanaged device's reservation without one.

The same rights as the reservation pages: customer accounts only; a reservation is reached through its
VA (a VA-scoped person sees and acts on their VAs' reservations only); reserving, updating and
releasing need the User role on the VA, releasing without a return code the Admin role
(`release_reservation` says so). Reads go through `licensing.selectors.reservations`, writes through
the services.
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from smartaccounts import selectors as sa_selectors
from smartaccounts.api.base import AccountApiView
from smartaccounts.models import SmartAccount

from .. import reservation_codes, services
from ..identifiers import is_entitlement_tag, printable
from ..models import License, Reservation, ReservationLine
from ..selectors import reservations as selectors
from .workflows import (
    IdField,
    NamedLicense,
    NamedVirtualAccount,
    body_virtual_account,
    check_filter_virtual_account,
    license_ref,
)

__all__ = [
    "ReservationDetailView",
    "ReservationListView",
    "ReservationRehostView",
    "ReservationReleaseView",
    "ReservationUpdateView",
]

CUSTOMER = (SmartAccount.Kind.CUSTOMER,)
MAX_LICENSES = 500  # lines in one request: far more than any product family has licenses


# --- Answers ----------------------------------------------------------------------------------------------


class ReservedLicenseSerializer(serializers.Serializer):
    license = NamedLicense()
    quantity = serializers.IntegerField()


class ReservedDevice(serializers.Serializer):
    id = serializers.IntegerField()
    udi = serializers.CharField()
    pid = serializers.CharField()
    serial_number = serializers.CharField()
    status = serializers.CharField()


class ReservationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    virtual_account = NamedVirtualAccount()
    product_instance = ReservedDevice()
    reservation_type = serializers.ChoiceField(choices=Reservation.Type.choices)
    status = serializers.ChoiceField(choices=Reservation.Status.choices)
    created_at = serializers.DateTimeField()
    created_by = serializers.EmailField()
    updated_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)
    released_without_code = serializers.BooleanField()
    replaced_by = serializers.IntegerField(allow_null=True, help_text="The reservation it was rehosted to.")
    total = serializers.IntegerField(help_text="Licenses reserved.")
    licenses = ReservedLicenseSerializer(many=True)


class ReservationDetailSerializer(ReservationSerializer):
    request_code = serializers.CharField()
    authorization_code = serializers.CharField(
        help_text="The signed authorization code (JSON text) to install on the device. Each update issues a new one."
    )
    sequence = serializers.IntegerField(help_text="The number of the current authorization code (1, +1 per update).")


def reservation_data(reservation: Reservation, *, detail: bool = False) -> dict:
    instance = reservation.product_instance
    lines = list(reservation.lines.all())
    data = {
        "id": reservation.pk,
        "virtual_account": {"id": reservation.virtual_account_id, "name": reservation.virtual_account.name},
        "product_instance": {
            "id": instance.pk,
            "udi": instance.udi,
            "pid": instance.pid,
            "serial_number": instance.serial_number,
            "status": instance.status,
        },
        "reservation_type": reservation.reservation_type,
        "status": reservation.status,
        "created_at": reservation.created_at,
        "created_by": reservation.created_by.email,
        "updated_at": reservation.updated_at,
        "released_at": reservation.released_at,
        "released_without_code": reservation.released_without_code,
        "replaced_by": reservation.replaced_by_id,
        "total": sum(line.quantity for line in lines),
        "licenses": [{"license": license_ref(line.license), "quantity": line.quantity} for line in lines],
    }
    if detail:
        payload = reservation_codes.load_authorization(reservation.authorization_code)["payload"]
        data.update(
            request_code=reservation.request_code,
            authorization_code=reservation.authorization_code,
            sequence=int(payload.get("sequence", 1)),
        )
    return data


# --- Requests ---------------------------------------------------------------------------------------------


class LicenseQuantitySerializer(serializers.Serializer):
    license_id = IdField(required=False)
    entitlement_tag = serializers.CharField(required=False, help_text="Instead of license_id.")
    quantity = serializers.IntegerField()

    def validate(self, attrs):
        if ("license_id" in attrs) == ("entitlement_tag" in attrs):
            raise serializers.ValidationError("Name each license by license_id or by entitlement_tag (one).")
        return attrs


class LicensesField(serializers.ListField):
    """[{license_id or entitlement_tag, quantity}] → {License: quantity}; an unknown license is a 400."""

    child = LicenseQuantitySerializer()

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_LICENSES)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        rows = super().to_internal_value(data)
        ids = {row["license_id"] for row in rows if "license_id" in row}
        tags = {row["entitlement_tag"] for row in rows if "entitlement_tag" in row}
        bad_tags = [tag for tag in tags if not is_entitlement_tag(tag)]
        if bad_tags:
            raise serializers.ValidationError(f"“{printable(bad_tags[0], 70)}” is not an entitlement tag.")
        found = list(License.objects.filter(pk__in=ids)) + list(License.objects.filter(tag__in=tags))
        by_id = {lic.pk: lic for lic in found}
        by_tag = {lic.tag: lic for lic in found}
        wanted: dict[License, int] = {}
        for row in rows:
            license = by_id.get(row["license_id"]) if "license_id" in row else by_tag.get(row["entitlement_tag"])
            if license is None:
                name = row.get("license_id") or printable(row["entitlement_tag"], 70)
                raise serializers.ValidationError(f"There is no license {name} in the catalog.")
            if license in wanted:
                raise serializers.ValidationError(f"{license.name} is named twice.")
            wanted[license] = row["quantity"]
        return wanted


class ReservationCreateSerializer(serializers.Serializer):
    virtual_account_id = IdField(help_text="The Virtual Account whose licenses are reserved.")
    request_code = serializers.CharField(max_length=2000, help_text="The request code the device printed.")
    reservation_type = serializers.ChoiceField(choices=Reservation.Type.choices)
    licenses = LicensesField(required=False, help_text="Specific: the licenses and how many of each.")
    product_family = serializers.CharField(
        max_length=100,
        required=False,
        help_text="Universal: the device's product family (inferred from its PID when omitted and unambiguous).",
    )

    def validate(self, attrs):
        if attrs["reservation_type"] == Reservation.Type.SPECIFIC and not attrs.get("licenses"):
            raise serializers.ValidationError({"licenses": "Name at least one license and how many to reserve."})
        if attrs["reservation_type"] == Reservation.Type.UNIVERSAL and attrs.get("licenses"):
            raise serializers.ValidationError(
                {"licenses": "A universal reservation takes one of every license of the family: name none."}
            )
        return attrs


class ReservationUpdateSerializer(serializers.Serializer):
    licenses = LicensesField(
        required=False,
        help_text="Specific: what the reservation holds after the update (0, or leaving a license out, releases it).",
    )
    product_family = serializers.CharField(
        max_length=100, required=False, help_text="Universal: take again every license of this family available."
    )


class ReleaseSerializer(serializers.Serializer):
    return_code = serializers.CharField(
        max_length=500, required=False, help_text="The return code the device printed when it released the licenses."
    )
    without_code = serializers.BooleanField(
        default=False, help_text="True (Admins): remove an unmanaged device's reservation without a return code."
    )

    def validate(self, attrs):
        if ("return_code" in attrs) == attrs["without_code"]:
            raise serializers.ValidationError(
                {"return_code": "Give the device's return code, or (Admins) set without_code for an unmanaged device."}
            )
        return attrs


class RehostSerializer(serializers.Serializer):
    request_code = serializers.CharField(max_length=2000, help_text="The replacement device's request code.")


class ReservationFilterSerializer(serializers.Serializer):
    virtual_account = IdField(required=False, help_text="Reservations of this Virtual Account (not its sub-VAs).")
    type = serializers.ChoiceField(choices=Reservation.Type.choices, required=False)
    status = serializers.ChoiceField(choices=Reservation.Status.choices, required=False)


# --- Views ------------------------------------------------------------------------------------------------


def _with_lines(reservations):
    return reservations.prefetch_related(
        Prefetch("lines", queryset=ReservationLine.objects.select_related("license").order_by("license__name"))
    )


class ReservationListView(AccountApiView):
    """`GET`: reservations in the VAs the caller can see, newest first. `POST`: reserve licenses for a device."""

    allowed_kinds = CUSTOMER
    ordering = ("-created_at", "-pk")
    serializer_class = ReservationSerializer

    @extend_schema(parameters=[ReservationFilterSerializer], responses=ReservationSerializer(many=True))
    def get(self, request, *args, **kwargs):
        filters = ReservationFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = filters.validated_data
        check_filter_virtual_account(self, wanted.get("virtual_account"))
        visible = self.visible_virtual_accounts()
        if "virtual_account" in wanted:
            visible = visible.filter(pk=wanted["virtual_account"])
        reservations = selectors.reservations_in(visible, wanted.get("status"))
        if "type" in wanted:
            reservations = reservations.filter(reservation_type=wanted["type"])
        page = self.paginate_queryset(_with_lines(reservations))
        return self.get_paginated_response(ReservationSerializer([reservation_data(r) for r in page], many=True).data)

    @extend_schema(request=ReservationCreateSerializer, responses={201: ReservationDetailSerializer})
    def post(self, request, *args, **kwargs):
        payload = ReservationCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        va = body_virtual_account(self, data["virtual_account_id"])
        specific = data["reservation_type"] == Reservation.Type.SPECIFIC
        reservation = services.reserve_licenses(
            actor=request.user,
            virtual_account=va,
            request_code=data["request_code"],
            reservation_type=data["reservation_type"],
            licenses=data["licenses"] if specific else None,
            product_family=None if specific else data.get("product_family") or None,
        )
        fresh = _with_lines(selectors.reservations_in(self.visible_virtual_accounts())).get(pk=reservation.pk)
        return Response(
            ReservationDetailSerializer(reservation_data(fresh, detail=True)).data, status=status.HTTP_201_CREATED
        )


class ReservationScope(AccountApiView):
    """One reservation. Its VA governs the role, as on the pages: a VA-scoped person reaches only their VAs' ones."""

    allowed_kinds = CUSTOMER
    serializer_class = ReservationDetailSerializer

    def resolve_virtual_account(self, kwargs):
        visible = sa_selectors.virtual_accounts_for(self.request.user, self.smart_account, "view")
        self.reservation = (
            _with_lines(selectors.reservations_in(visible))
            .filter(pk=kwargs["reservation_id"], smart_account=self.smart_account)
            .first()
        )
        if self.reservation is None:
            raise Http404("No such reservation.")
        return self.reservation.virtual_account

    def answer(self) -> Response:
        fresh = _with_lines(selectors.reservations_in(self.visible_virtual_accounts())).get(pk=self.reservation.pk)
        return Response(ReservationDetailSerializer(reservation_data(fresh, detail=True)).data)


class ReservationDetailView(ReservationScope):
    @extend_schema(responses=ReservationDetailSerializer)
    def get(self, request, *args, **kwargs):
        return Response(ReservationDetailSerializer(reservation_data(self.reservation, detail=True)).data)


class ReservationUpdateView(ReservationScope):
    """Change what an active reservation holds; the answer carries the new authorization code."""

    @extend_schema(request=ReservationUpdateSerializer, responses=ReservationDetailSerializer)
    def post(self, request, *args, **kwargs):
        payload = ReservationUpdateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        universal = self.reservation.reservation_type == Reservation.Type.UNIVERSAL
        if not universal and "licenses" not in data:
            raise serializers.ValidationError({"licenses": "Give the licenses the reservation holds after the update."})
        if universal and "licenses" in data:
            raise serializers.ValidationError(
                {"licenses": "A universal reservation takes every available license of its family: name none."}
            )
        services.update_reservation(
            actor=request.user,
            reservation=self.reservation,
            licenses=None if universal else data["licenses"],
            product_family=data.get("product_family") or None if universal else None,
        )
        return self.answer()


class ReservationReleaseView(ReservationScope):
    """Give the licenses back to the VA: with the device's return code, or (Admins) without one."""

    @extend_schema(request=ReleaseSerializer, responses=ReservationDetailSerializer)
    def post(self, request, *args, **kwargs):
        payload = ReleaseSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.release_reservation(
            actor=request.user, reservation=self.reservation, return_code=payload.validated_data.get("return_code")
        )
        return self.answer()


class ReservationRehostView(ReservationScope):
    """Move an active reservation from a failed device to its replacement: a new reservation (201) with its own
    authorization code; the old one is marked rehosted and names it in `replaced_by`."""

    @extend_schema(request=RehostSerializer, responses={201: ReservationDetailSerializer})
    def post(self, request, *args, **kwargs):
        payload = RehostSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        new = services.rehost_reservation(
            actor=request.user, reservation=self.reservation, request_code=payload.validated_data["request_code"]
        )
        fresh = _with_lines(selectors.reservations_in(self.visible_virtual_accounts())).get(pk=new.pk)
        return Response(
            ReservationDetailSerializer(reservation_data(fresh, detail=True)).data, status=status.HTTP_201_CREATED
        )
