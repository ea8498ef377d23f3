"""What the hand-over, PAK and reservation endpoints share: references to objects in answers, reading a
Virtual Account named in a request body, and the body serializers' common fields.

A VA named in a body is looked up among the VAs of the URL's account the caller can see: another
account's VA, a deleted one or one outside a VA-scoped role is a 404, exactly like a VA in the URL. The
service then checks the action on it (a role too low is a 403 from the service's PermissionDenied).
"""

from __future__ import annotations

from django.http import Http404
from rest_framework import serializers

from smartaccounts.models import VirtualAccount
from smartaccounts.params import MAX_ID

__all__ = [
    "IdField",
    "NamedLicense",
    "NamedVirtualAccount",
    "body_virtual_account",
    "check_filter_virtual_account",
    "license_ref",
    "va_ref",
    "visible_va_ids",
]


class IdField(serializers.IntegerField):
    """An object id in a body: a whole number in the id range (anything else is a 400 on that field)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class NamedVirtualAccount(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class NamedLicense(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    tag = serializers.CharField(help_text="The entitlement tag devices report.")


def va_ref(va: VirtualAccount | None, visible: set[int] | None = None) -> dict | None:
    """`{"id", "name"}` of a VA, or None when there is none or the caller may not see it (`visible`)."""
    if va is None or (visible is not None and va.pk not in visible):
        return None
    return {"id": va.pk, "name": va.name}


def license_ref(license) -> dict:
    return {"id": license.pk, "name": license.name, "tag": license.tag}


def visible_va_ids(view, va_ids) -> set[int]:
    """Which of `va_ids` the caller can see (one query, whatever the number of VAs in the account)."""
    va_ids = {pk for pk in va_ids if pk is not None}
    if not va_ids:
        return set()
    return set(view.visible_virtual_accounts().filter(pk__in=va_ids).values_list("pk", flat=True))


def body_virtual_account(view, va_id: int) -> VirtualAccount:
    """The VA a body names, among the live VAs of the URL's account the caller can see; 404 otherwise."""
    va = view.visible_virtual_accounts().select_related("smart_account").filter(pk=va_id).first()
    if va is None:
        raise Http404("No such Virtual Account.")
    return va


def check_filter_virtual_account(view, va_id: int | None, field: str = "virtual_account") -> None:
    """A list filter naming a VA the caller cannot see in the URL's account is a 400 on that parameter."""
    if va_id is not None and not view.visible_virtual_accounts().filter(pk=va_id).exists():
        raise serializers.ValidationError({field: "Not a Virtual Account you can see in this account."})
