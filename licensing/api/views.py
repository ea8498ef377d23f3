"""The device endpoint: a script or device registers itself with a registration token (JSON over HTTP).

No session and no CSRF: the registration token in the body is the credential. Answers are JSON;
errors are `{"code", "detail", "fields"}` (config.api): a machine-readable `code`, a `detail` a person
can act on, and the messages per field.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import error_body
from smartaccounts.ratelimits import DeviceRegistrationThrottle

from ..identifiers import TEXT_PATTERN, UDI_PART_MAX_LENGTH, UDI_PART_PATTERN, is_entitlement_tag, printable
from ..limits import MAX_INSTANCE_USAGE
from ..services import register_product_instance
from ..services.instances import MAX_USAGE_TAGS

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
    "account_usage_limit": status.HTTP_409_CONFLICT,
    "registered_elsewhere": status.HTTP_409_CONFLICT,
    "registered_in_another_va": status.HTTP_409_CONFLICT,
    "registered_concurrently": status.HTTP_409_CONFLICT,
    "reserved": status.HTTP_409_CONFLICT,
    "unknown_license": status.HTTP_400_BAD_REQUEST,
}


# The identifier rules of `licensing.identifiers`, anchored at both ends (`\Z`: never before a final newline).
_UDI_PART = RegexValidator(
    rf"\A{UDI_PART_PATTERN}\Z",
    "Up to 64 letters, digits and - . _ / + :, starting with a letter or digit.",
)
_TEXT = RegexValidator(rf"\A{TEXT_PATTERN}\Z", "Leave out control characters (NUL, line breaks, tabs).")


class RegistrationRequest(serializers.Serializer):
    # Spaces around a value are dropped (trim_whitespace), as the service does.
    token = serializers.CharField(max_length=256, help_text="The registration token from the portal.")
    pid = serializers.CharField(
        max_length=UDI_PART_MAX_LENGTH, validators=[_UDI_PART], help_text="Product ID of the UDI, e.g. C9300-48P."
    )
    serial_number = serializers.CharField(
        max_length=UDI_PART_MAX_LENGTH, validators=[_UDI_PART], help_text="Serial number of the UDI."
    )
    hostname = serializers.CharField(max_length=255, required=False, allow_blank=True, default="", validators=[_TEXT])
    product_family = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default="", validators=[_TEXT]
    )
    software_version = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", validators=[_TEXT]
    )
    usage = serializers.DictField(
        child=serializers.IntegerField(min_value=0, max_value=MAX_INSTANCE_USAGE),
        required=False,
        allow_null=True,
        default=None,
        help_text=f"Licenses in use now: {{entitlement tag: count}}, each count at most {MAX_INSTANCE_USAGE:,}.",
    )

    def validate_usage(self, usage):
        if usage is None:
            return usage
        if len(usage) > MAX_USAGE_TAGS:
            raise serializers.ValidationError(f"Name at most {MAX_USAGE_TAGS} entitlement tags.")
        for tag in usage:
            if not is_entitlement_tag(tag):
                raise serializers.ValidationError(
                    f"“{printable(tag, 70)}” is not an entitlement tag: printable ASCII, no spaces."
                )
        return usage


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


class DeviceRegistrationView(APIView):
    """POST a device's UDI and a registration token; get the product instance and its trust code back."""

    # The token is the credential: 384 random bits, so guessing one is hopeless; the limit per client
    # address keeps one client from flooding the registration service.
    authentication_classes: list = []
    permission_classes = [AllowAny]
    status_for_code = STATUS_FOR_CODE  # how `config.api.exception_handler` answers a service's refusal
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
            return Response(error_body("invalid", "Send a JSON object."), status=status.HTTP_400_BAD_REQUEST)
        payload = RegistrationRequest(data=request.data)
        if not payload.is_valid():
            token = request.data.get("token")
            if "token" in payload.errors and not (isinstance(token, str) and token.strip()):
                raise ValidationError("A registration token is required.", code="token_missing")
            raise serializers.ValidationError(payload.errors)
        data = payload.validated_data
        # A refusal (ValidationError with its code) is answered by config.api.exception_handler.
        instance = register_product_instance(
            token=data["token"],
            pid=data["pid"],
            serial_number=data["serial_number"],
            hostname=data["hostname"],
            product_family=data["product_family"],
            software_version=data["software_version"],
            usage=data["usage"],
        )
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
