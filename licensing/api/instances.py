"""Product instances, registration tokens and instance transfers of a Smart Account
(`/api/v1/accounts/<account_id>/...`).

The same selectors as the Product Instances and Tokens pages (`instances_in_scope` with its search,
`instance_page` for keyset pages, `instance_for`, `tokens_in_scope`) and the same services
(`remove_product_instance`, `create_registration_token`, `revoke_registration_token`,
`transfer_product_instances`).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from smartaccounts.api.base import AccountApiView
from smartaccounts.params import BadCursor

from .. import selectors, services
from ..models import ProductInstance
from ..services.instances import TOKEN_MAX_DAYS, TOKEN_MAX_USES, TOKEN_MIN_DAYS
from ..views.base import USABLE_KINDS
from .serializers import (
    IdField,
    ProductInstanceSerializer,
    ScopeQuery,
    SearchField,
    VirtualAccountRefSerializer,
    read_query,
    renamed_fields,
    scope_from_query,
    visible_virtual_account,
)

__all__ = [
    "InstanceTransfersApiView",
    "ProductInstanceDetailApiView",
    "ProductInstancesApiView",
    "RegistrationTokenDetailApiView",
    "RegistrationTokenRevokeApiView",
    "RegistrationTokensApiView",
]


# --- Product instances --------------------------------------------------------------------------------


class InstanceKeysetPage(BasePagination):
    """Keyset pages of product instances by (hostname, id): the Product Instances page's paginator
    (`selectors.instance_page`), so the 4,000th page costs what the first does. `cursor` is opaque:
    follow `next` and `previous`."""

    page_size = 100
    max_page_size = 1000

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        params = getattr(view, "params", None) or read_query(InstancesQuery, request)
        after = before = ""
        cursor = params.get("cursor", "")
        if cursor:
            direction, _, key = cursor.partition(".")
            if direction == "n":
                after = key
            elif direction == "p":
                before = key
            else:
                raise serializers.ValidationError({"cursor": [str(BadCursor().args[0])]}, code="bad_cursor")
        try:
            self.page = selectors.instance_page(queryset, after=after, before=before, size=params["page_size"])
        except BadCursor as error:
            raise serializers.ValidationError({"cursor": [str(error)]}, code="bad_cursor") from None
        return self.page.rows

    def _link(self, cursor: str | None, prefix: str) -> str | None:
        if not cursor:
            return None
        return replace_query_param(self.request.build_absolute_uri(), "cursor", f"{prefix}.{cursor}")

    def get_paginated_response(self, data):
        previous = self._link(self.page.previous_cursor, "p")
        if previous is None and not self.page.is_first:
            previous = remove_query_param(self.request.build_absolute_uri(), "cursor")
        return Response({"next": self._link(self.page.next_cursor, "n"), "previous": previous, "results": data})

    def get_paginated_response_schema(self, schema):
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }


class InstancesQuery(ScopeQuery):
    q = SearchField(help_text="A full serial number, or part of a host name, or the start of a PID or serial number.")
    status = serializers.ChoiceField(
        choices=ProductInstance.Status.choices, required=False, help_text="Without it: active and reserved."
    )
    family = serializers.CharField(required=False, max_length=100, help_text="A product family of the catalog.")
    reporting = serializers.ChoiceField(choices=ProductInstance.ReportingStatus.choices, required=False)
    license = IdField(required=False, help_text="Only instances using this license.")
    cursor = serializers.CharField(required=False, max_length=600, help_text="From the `next` or `previous` link.")
    page_size = serializers.IntegerField(
        required=False, min_value=1, max_value=InstanceKeysetPage.max_page_size, default=InstanceKeysetPage.page_size
    )

    def validate_family(self, value: str) -> str:
        if value and value not in selectors.license_families():
            raise serializers.ValidationError("No license of the catalog is of this product family.")
        return value


class ProductInstanceListSerializer(ProductInstanceSerializer):
    license_count = serializers.IntegerField(help_text="How many licenses it uses.")


class ProductInstancesApiView(AccountApiView):
    """The Product Instances page as JSON: filters, search and keyset pages."""

    serializer_class = ProductInstanceListSerializer
    pagination_class = InstanceKeysetPage
    allowed_kinds = USABLE_KINDS

    @extend_schema(
        operation_id="product_instances_list",
        parameters=[InstancesQuery],
        responses=ProductInstanceListSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        self.params = params = read_query(InstancesQuery, request)  # the paginator reads cursor and page_size
        scope = scope_from_query(self, params)
        instances = selectors.instances_in_scope(
            scope,
            search=params["q"],
            status=params.get("status", ""),
            family=params.get("family", ""),
            reporting_status=params.get("reporting", ""),
            license_id=params.get("license"),
        )
        page = self.paginate_queryset(instances)
        return self.get_paginated_response(ProductInstanceListSerializer(page, many=True).data)


class InstanceUsageSerializer(serializers.Serializer):
    license_id = serializers.IntegerField()
    name = serializers.CharField(source="license.name")
    entitlement_tag = serializers.CharField(source="license.tag")
    count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class ProductInstanceDetailSerializer(ProductInstanceSerializer):
    usage = InstanceUsageSerializer(source="usage_rows", many=True, help_text="Licenses in use, per license.")
    reservation_id = serializers.IntegerField(
        allow_null=True, help_text="The active reservation of a reserved (offline) device."
    )
    export_controlled_allowed = serializers.BooleanField()
    registration_token_id = serializers.IntegerField(allow_null=True)
    trust_code_issued_at = serializers.DateTimeField(allow_null=True)


class ProductInstanceDetailApiView(AccountApiView):
    """One product instance; DELETE removes it (its licenses are freed), as the page's Remove button."""

    serializer_class = ProductInstanceDetailSerializer
    allowed_kinds = USABLE_KINDS

    @extend_schema(operation_id="product_instances_retrieve", responses=ProductInstanceDetailSerializer)
    def get(self, request, *args, **kwargs):
        instance = selectors.instance_for(request.user, self.smart_account, kwargs["instance_id"])
        instance.usage_rows = selectors.instance_usage(instance)
        instance.reservation_id = None
        if instance.status == ProductInstance.Status.RESERVED:
            instance.reservation_id = (
                instance.reservations.filter(status="active").order_by("pk").values_list("pk", flat=True).first()
            )
        return Response(ProductInstanceDetailSerializer(instance).data)

    @extend_schema(operation_id="product_instances_destroy", responses={204: None})
    def delete(self, request, *args, **kwargs):
        instance = selectors.instance_for(request.user, self.smart_account, kwargs["instance_id"])
        services.remove_product_instance(actor=request.user, product_instance=instance)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Instance transfers ------------------------------------------------------------------------------


class InstanceTransferRequest(serializers.Serializer):
    product_instance_ids = serializers.ListField(child=IdField(), min_length=1, max_length=1000)
    target_virtual_account_id = IdField()


class InstanceTransferSerializer(serializers.Serializer):
    moved = serializers.IntegerField(help_text="How many moved (those already in the target stay and count 0).")
    target_virtual_account = VirtualAccountRefSerializer()
    product_instances = ProductInstanceSerializer(many=True, help_text="The instances named, after the move.")


class InstanceTransfersApiView(AccountApiView):
    """Move product instances (with the licenses they use) to another VA of the account."""

    serializer_class = InstanceTransferRequest
    allowed_kinds = USABLE_KINDS

    @extend_schema(
        operation_id="instance_transfers_create",
        request=InstanceTransferRequest,
        responses={200: InstanceTransferSerializer},
        examples=[
            OpenApiExample(
                "Move two devices",
                value={"product_instance_ids": [101, 102], "target_virtual_account_id": 14},
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        body = InstanceTransferRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        ids = set(data["product_instance_ids"])
        target = visible_virtual_account(self, data["target_virtual_account_id"])
        visible = selectors.instances_for_ids(request.user, self.smart_account, ids, "view")
        if len(visible) != len(ids):
            raise Http404("No such product instance.")
        operable = selectors.instances_for_ids(request.user, self.smart_account, ids, "operate")
        if len(operable) != len(ids):
            raise PermissionDenied("You need the User role on the Virtual Accounts of these product instances.")
        with renamed_fields({"target": "target_virtual_account_id"}):
            moved = services.transfer_product_instances(actor=request.user, product_instances=operable, target=target)
        after = ProductInstance.objects.filter(pk__in=ids).select_related("virtual_account", "deadline").order_by("pk")
        answer = {"moved": moved, "target_virtual_account": target, "product_instances": list(after)}
        return Response(InstanceTransferSerializer(answer).data)


# --- Registration tokens -----------------------------------------------------------------------------


class RegistrationTokenSerializer(serializers.Serializer):
    """A registration token. `token` is given whole to those who may use it (the User role on its VA)
    while it is active, as on the Tokens page; else null, and `token_prefix` tells it apart."""

    id = serializers.IntegerField(source="pk")
    virtual_account = VirtualAccountRefSerializer()
    description = serializers.CharField()
    token = serializers.SerializerMethodField()
    token_prefix = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()
    created_by = serializers.EmailField(source="created_by.email")
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    max_uses = serializers.IntegerField(allow_null=True, help_text="Null: unlimited.")
    uses = serializers.IntegerField()
    export_controlled_allowed = serializers.BooleanField()
    revoked_at = serializers.DateTimeField(allow_null=True)

    def get_status(self, token) -> str:
        """active, revoked, expired or used_up (`RegistrationToken.status`)."""
        return token.status.lower().replace(" ", "_")

    def get_token(self, token) -> str | None:
        shown = token.virtual_account_id in self.context.get("operable_va_ids", ()) and token.status == "Active"
        return token.token if shown else None

    def get_token_prefix(self, token) -> str:
        return token.token[:6]


class TokensQuery(ScopeQuery):
    pass


class TokenCreateRequest(serializers.Serializer):
    virtual_account_id = IdField()
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    expires_after_days = serializers.IntegerField(min_value=TOKEN_MIN_DAYS, max_value=TOKEN_MAX_DAYS, default=30)
    max_uses = serializers.IntegerField(
        min_value=1, max_value=TOKEN_MAX_USES, required=False, allow_null=True, default=None, help_text="Null: no limit"
    )
    export_controlled = serializers.BooleanField(
        default=False, help_text="Devices registered with it may use export-controlled licenses."
    )


class TokenApiMixin:
    serializer_class = RegistrationTokenSerializer
    allowed_kinds = USABLE_KINDS

    def token_data(self, tokens, many: bool = False):
        va_ids = {t.virtual_account_id for t in (tokens if many else [tokens])}
        operable = set(self.visible_virtual_accounts("operate").filter(pk__in=va_ids).values_list("pk", flat=True))
        return RegistrationTokenSerializer(tokens, many=many, context={"operable_va_ids": operable}).data

    def token(self, token_id: int):
        scope = selectors.scope_for(self.request.user, self.smart_account, role_on_account=self.account_role)
        return selectors.token_in_scope(scope, token_id)


class RegistrationTokensApiView(TokenApiMixin, AccountApiView):
    """The registration tokens of the VAs the caller may see (or of one VA); POST creates one."""

    @extend_schema(
        operation_id="registration_tokens_list",
        parameters=[TokensQuery],
        responses=RegistrationTokenSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        scope = scope_from_query(self, read_query(TokensQuery, request))
        page = self.paginate_queryset(selectors.tokens_in_scope(scope))
        return self.get_paginated_response(self.token_data(page, many=True))

    @extend_schema(
        operation_id="registration_tokens_create",
        request=TokenCreateRequest,
        responses={201: RegistrationTokenSerializer},
        examples=[
            OpenApiExample(
                "A token for a branch rollout",
                value={
                    "virtual_account_id": 14,
                    "description": "Branch rollout",
                    "expires_after_days": 30,
                    "max_uses": 50,
                    "export_controlled": False,
                },  # fmt: skip
                request_only=True,
            )
        ],
    )
    def post(self, request, *args, **kwargs):
        body = TokenCreateRequest(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        va = visible_virtual_account(self, data["virtual_account_id"])
        token = services.create_registration_token(
            actor=request.user,
            virtual_account=va,
            description=data["description"],
            expires_after_days=data["expires_after_days"],
            max_uses=data["max_uses"],
            export_controlled=data["export_controlled"],
        )
        token = selectors.tokens_of(va).get(pk=token.pk)
        return Response(self.token_data(token), status=status.HTTP_201_CREATED)


class RegistrationTokenDetailApiView(TokenApiMixin, AccountApiView):
    @extend_schema(operation_id="registration_tokens_retrieve", responses=RegistrationTokenSerializer)
    def get(self, request, *args, **kwargs):
        return Response(self.token_data(self.token(kwargs["token_id"])))


class RegistrationTokenRevokeApiView(TokenApiMixin, AccountApiView):
    """Revoke a token: devices can no longer register with it (those registered stay)."""

    @extend_schema(
        operation_id="registration_tokens_revoke", request=None, responses={200: RegistrationTokenSerializer}
    )
    def post(self, request, *args, **kwargs):
        token = self.token(kwargs["token_id"])
        services.revoke_registration_token(actor=request.user, token=token)
        return Response(self.token_data(selectors.tokens_of(token.virtual_account).get(pk=token.pk)))
