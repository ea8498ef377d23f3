"""`/api/v1/accounts/<account_id>/api-clients/`: an account's API clients (account Admins).

The same selector and services as the *API clients* page: `selectors.api_clients_for`,
`services.create_api_client`, `services.revoke_api_client`. A create answers 201 with the client and
its secret, which is never shown again.
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from .. import selectors, services
from ..models import ApiClient, Role, VirtualAccount
from .base import AccountApiView

__all__ = ["ApiClientListView", "ApiClientRevokeView", "ApiClientSerializer"]


class ApiClientSerializer(serializers.ModelSerializer):
    client_id = serializers.CharField(source="application.client_id", read_only=True)
    virtual_account_id = serializers.IntegerField(allow_null=True, read_only=True)
    virtual_account_name = serializers.SerializerMethodField()
    created_by = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiClient
        fields = [
            "id",
            "name",
            "client_id",
            "role",
            "virtual_account_id",
            "virtual_account_name",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "status",
        ]
        read_only_fields = fields

    def get_virtual_account_name(self, obj) -> str | None:
        return obj.virtual_account.name if obj.virtual_account_id else None

    def get_created_by(self, obj) -> str | None:
        return obj.created_by.email if obj.created_by_id else None

    def get_status(self, obj) -> str:
        return "revoked" if obj.is_revoked else "active"


class ApiClientCreatedSerializer(ApiClientSerializer):
    client_secret = serializers.CharField(read_only=True, help_text="Shown once: store it now.")

    class Meta(ApiClientSerializer.Meta):
        fields = [*ApiClientSerializer.Meta.fields, "client_secret"]
        read_only_fields = fields


class ApiClientCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)
    virtual_account_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)


class ApiClientListView(AccountApiView):
    """List the account's API clients, or create one (account Admins)."""

    required_action = "admin"
    required_write_action = "admin"
    serializer_class = ApiClientSerializer
    ordering = ("-created_at", "-id")

    def get_queryset(self):
        return selectors.api_clients_for(self.request.user, self.smart_account).order_by(*self.ordering)

    @extend_schema(responses=ApiClientSerializer(many=True))
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApiClientSerializer(page, many=True).data)

    @extend_schema(request=ApiClientCreateSerializer, responses={201: ApiClientCreatedSerializer})
    def post(self, request, *args, **kwargs):
        data = ApiClientCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        va = None
        va_id = data.validated_data.get("virtual_account_id")
        if va_id is not None:
            va = VirtualAccount.objects.filter(
                pk=va_id, smart_account=self.smart_account, deleted_at__isnull=True
            ).first()
            if va is None:
                raise serializers.ValidationError({"virtual_account_id": "No such Virtual Account in this account."})
        api_client, secret = services.create_api_client(
            actor=request.user,
            smart_account=self.smart_account,
            name=data.validated_data["name"],
            role=data.validated_data["role"],
            virtual_account=va,
        )
        api_client.client_secret = secret
        return Response(ApiClientCreatedSerializer(api_client).data, status=status.HTTP_201_CREATED)


class ApiClientRevokeView(AccountApiView):
    """Revoke an API client: its tokens are refused from now on."""

    required_action = "admin"
    required_write_action = "admin"
    serializer_class = ApiClientSerializer

    @extend_schema(request=None, responses=ApiClientSerializer)
    def post(self, request, *args, **kwargs):
        api_client = selectors.api_clients_for(request.user, self.smart_account).filter(pk=kwargs["api_client_id"])
        api_client = api_client.first()
        if api_client is None:
            raise Http404("No such API client.")
        services.revoke_api_client(actor=request.user, api_client=api_client)
        return Response(ApiClientSerializer(api_client).data)
