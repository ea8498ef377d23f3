"""Request and answer bodies of the Smart Accounts endpoints (`/api/v1/accounts/...`).

Answers are read-only serializers over what the selectors return; requests are validated here for shape
(types, lengths, choices) only. Every rule (names unique in the account, who may do what, the last Admin)
stays in the services, whose refusals `config.api.exception_handler` answers as 400 / 403.
"""

from __future__ import annotations

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ..models import Role
from ..params import MAX_ID

ROLE_CHOICES = Role.choices


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Accounts --------------------------------------------------------------------------------------------


class AccountSerializer(serializers.Serializer):
    """A Smart Account as the caller sees it, with the caller's roles in it."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    domain = serializers.CharField(read_only=True, help_text="E-mail domain (the creator's address for Limited Use).")
    kind = serializers.ChoiceField(choices=["customer", "partner_holding", "limited_use"], read_only=True)
    status = serializers.ChoiceField(choices=["pending", "active"], read_only=True)
    default_virtual_account_id = serializers.IntegerField(read_only=True, allow_null=True)
    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, read_only=True, allow_null=True, help_text="The caller's role on the account itself."
    )
    strongest_role = serializers.ChoiceField(
        choices=ROLE_CHOICES,
        read_only=True,
        help_text="The caller's strongest role anywhere in the account (on it or on one of its VAs).",
    )
    created_at = serializers.DateTimeField(read_only=True)


# --- Virtual Accounts ------------------------------------------------------------------------------------


class VirtualAccountSerializer(serializers.Serializer):
    """A VA with where it sits in the part of the tree the caller sees.

    `parent_id` is null at the top level and where the caller's roles start at this VA (its parent is not
    theirs to see); `depth` and `path` count only the ancestors the caller sees."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    description = serializers.CharField(read_only=True)
    parent_id = serializers.IntegerField(read_only=True, allow_null=True)
    is_default = serializers.BooleanField(read_only=True)
    depth = serializers.IntegerField(read_only=True, help_text="0 for a VA shown at the top.")
    path = serializers.ListField(
        child=serializers.CharField(), read_only=True, help_text="Names of the ancestors shown, from the top down."
    )
    created_at = serializers.DateTimeField(read_only=True)


class VirtualAccountDetailSerializer(VirtualAccountSerializer):
    role = serializers.ChoiceField(
        choices=ROLE_CHOICES, read_only=True, help_text="The caller's strongest role over this VA."
    )


_TEXT = [ProhibitNullCharactersValidator()]


class VirtualAccountCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, validators=_TEXT)
    parent_id = id_field(required=False, allow_null=True, default=None, help_text="null: at the top level.")
    description = serializers.CharField(
        max_length=500, required=False, allow_blank=True, default="", trim_whitespace=True, validators=_TEXT
    )


class VirtualAccountUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, validators=_TEXT)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, validators=_TEXT)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("Send a name, a description or both.", code="invalid")
        return attrs


class VirtualAccountMoveSerializer(serializers.Serializer):
    parent_id = id_field(allow_null=True, help_text="The new parent; null for the top level.")


class CountColumnSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    help_text = serializers.CharField()


class TreeNodeSerializer(serializers.Serializer):
    """One VA of the nested tree, with the tree page's count columns: on the VA and in its subtree."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    parent_id = serializers.IntegerField(allow_null=True)
    is_default = serializers.BooleanField()
    depth = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField(), help_text="{column key: n on this VA}")
    totals = serializers.DictField(
        child=serializers.IntegerField(), help_text="{column key: n on this VA and its descendants shown}"
    )

    def get_fields(self):
        fields = super().get_fields()
        fields["children"] = TreeNodeSerializer(many=True)
        return fields


class TreeSerializer(serializers.Serializer):
    columns = CountColumnSerializer(many=True)
    roots = TreeNodeSerializer(many=True)


# --- Members ---------------------------------------------------------------------------------------------


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    virtual_account_id = serializers.IntegerField(allow_null=True, help_text="null: the entire account.")
    virtual_account_name = serializers.CharField(allow_null=True)


class MemberSerializer(serializers.Serializer):
    """A person with the roles in the account the caller manages (`id` is the person's)."""

    id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    roles = MemberRoleSerializer(many=True)


class ScopeSerializer(serializers.Serializer):
    virtual_account_id = id_field(
        required=False, allow_null=True, default=None, help_text="The VA; leave out or null for the entire account."
    )


class InviteSerializer(ScopeSerializer):
    email = serializers.CharField(max_length=254, validators=_TEXT)
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class RoleAssignSerializer(ScopeSerializer):
    role = serializers.ChoiceField(choices=ROLE_CHOICES)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=ROLE_CHOICES)
    virtual_account_id = serializers.IntegerField(allow_null=True)
    status = serializers.ChoiceField(choices=["pending", "accepted", "cancelled"])
    sent_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()


# --- Events ----------------------------------------------------------------------------------------------


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    action = serializers.CharField()
    actor_email = serializers.SerializerMethodField(help_text="null for the system.")
    virtual_account_id = serializers.IntegerField(allow_null=True)
    virtual_account_name = serializers.CharField(help_text="The VA's name when the event was written.")
    message = serializers.CharField()
    details = serializers.JSONField()

    @extend_schema_field(OpenApiTypes.EMAIL)
    def get_actor_email(self, event) -> str | None:
        return event.actor.email if event.actor_id else None


class ErrorSerializer(serializers.Serializer):
    """Every error of the API (`config.api.exception_handler`)."""

    code = serializers.CharField(help_text="Machine-readable: `invalid`, `not_found`, a service's refusal code...")
    detail = serializers.CharField(help_text="A sentence a person can act on.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), help_text="Messages per request field."
    )

    class Meta:
        ref_name = "ApiError"
