"""The device endpoint: a script or device registers itself with a registration token (JSON over HTTP).

No session and no CSRF: the registration token in the body is the credential. Answers are JSON;
errors carry a machine-readable `code` and a `detail` a person can act on.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from smartaccounts.ratelimits import DeviceRegistrationThrottle

from ..services import register_product_instance

__all__ = ["DeviceRegistrationView"]

# Service refusal codes → HTTP status. Anything else that is a ValidationError is a 400.
STATUS_FOR_CODE = {
    "token_missing": status.HTTP_401_UNAUTHORIZED,
    "token_unknown": status.HTTP_401_UNAUTHORIZED,
    "token_revoked": status.HTTP_403_FORBIDDEN,
    "token_expired": status.HTTP_403_FORBIDDEN,
    "token_used_up": status.HTTP_403_FORBIDDEN,
    "partner_holding": status.HTTP_403_FORBIDDEN,
    "account_inactive": status.HTTP_403_FORBIDDEN,
    "export_controlled": status.HTTP_403_FORBIDDEN,
    "insufficient_enforced": status.HTTP_409_CONFLICT,
    "registered_elsewhere": status.HTTP_409_CONFLICT,
    "registered_concurrently": status.HTTP_409_CONFLICT,
    "reserved": status.HTTP_409_CONFLICT,
    "unknown_license": status.HTTP_400_BAD_REQUEST,
}


class RegistrationRequest(serializers.Serializer):
    token = serializers.CharField(max_length=256, help_text="The registration token from the portal.")
    pid = serializers.CharField(max_length=64, help_text="Product ID of the UDI, e.g. C9300-48P.")
    serial_number = serializers.CharField(max_length=64, help_text="Serial number of the UDI.")
    hostname = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    product_family = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    software_version = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    usage = serializers.DictField(
        child=serializers.IntegerField(min_value=0),
        required=False,
        allow_null=True,
        default=None,
        help_text="Licenses in use now: {entitlement tag: count}.",
    )


class RegistrationAnswer(serializers.Serializer):
    instance_id = serializers.IntegerField()
    udi = serializers.CharField()
    pid = serializers.CharField()
    serial_number = serializers.CharField()
    hostname = serializers.CharField()
    smart_account = serializers.CharField()
    virtual_account = serializers.CharField()
    status = serializers.CharField()
    trust_code = serializers.CharField(help_text="Shared secret for signing usage reports (HMAC-SHA256). Keep it.")
    trust_code_issued_at = serializers.DateTimeField()
    registered_at = serializers.DateTimeField()
    reregistered = serializers.BooleanField()
    usage = serializers.DictField(child=serializers.IntegerField())


def _error(code: str, detail, http_status: int, fields: dict | None = None) -> Response:
    body = {"code": code, "detail": detail}
    if fields:
        body["fields"] = fields
    return Response(body, status=http_status)


class DeviceRegistrationView(APIView):
    """POST a device's UDI and a registration token; get the product instance and its trust code back."""

    # The token is the credential: 384 random bits, so guessing one is hopeless; the limit per client
    # address keeps one client from flooding the registration service.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [DeviceRegistrationThrottle]

    @extend_schema(
        request=RegistrationRequest,
        responses={201: RegistrationAnswer, 200: RegistrationAnswer},
        examples=[
            OpenApiExample(
                "Register a switch",
                value={
                    "token": "<registration token>",
                    "pid": "C9300-48P",
                    "serial_number": "FOC2412X0AB",
                    "hostname": "sw-lab-01",
                    "software_version": "17.9.4",
                    "usage": {"regid.2017-03.com.cisco.C9300_NW_Advantage,1.0_6f5e7008-ec61-50be-b245-59ca9236de5f": 1},
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            return _error("invalid", "Send a JSON object.", status.HTTP_400_BAD_REQUEST)
        payload = RegistrationRequest(data=request.data)
        if not payload.is_valid():
            fields = {name: [str(e) for e in errors] for name, errors in payload.errors.items()}
            if "token" in fields and not str(request.data.get("token") or "").strip():
                return _error("token_missing", "A registration token is required.", status.HTTP_401_UNAUTHORIZED)
            return _error("invalid", "The request is not valid.", status.HTTP_400_BAD_REQUEST, fields)
        data = payload.validated_data
        try:
            instance = register_product_instance(
                token=data["token"],
                pid=data["pid"],
                serial_number=data["serial_number"],
                hostname=data["hostname"],
                product_family=data["product_family"],
                software_version=data["software_version"],
                usage=data["usage"],
            )
        except ValidationError as error:
            code = getattr(error, "code", None) or "invalid"
            fields = None
            if hasattr(error, "error_dict"):
                fields = error.message_dict
                code = next((e.code for errors in error.error_dict.values() for e in errors if e.code), "invalid")
            http_status = STATUS_FOR_CODE.get(code, status.HTTP_400_BAD_REQUEST)
            return _error(code, " ".join(error.messages), http_status, fields)
        usage = {u.license.tag: u.count for u in instance.usage.select_related("license")}
        answer = {
            "instance_id": instance.pk,
            "udi": instance.udi,
            "pid": instance.pid,
            "serial_number": instance.serial_number,
            "hostname": instance.hostname,
            "smart_account": instance.smart_account.name,
            "virtual_account": instance.virtual_account.name,
            "status": instance.status,
            "trust_code": instance.trust_code,
            "trust_code_issued_at": instance.trust_code_issued_at,
            "registered_at": instance.registered_at,
            "reregistered": instance.was_registered_before,
            "usage": usage,
        }
        http_status = status.HTTP_200_OK if answer["reregistered"] else status.HTTP_201_CREATED
        return Response(RegistrationAnswer(answer).data, status=http_status)
