"""Product instances and registration tokens in a scope, with keyset pagination for large accounts."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404

from smartaccounts import access
from smartaccounts.models import SmartAccount, VirtualAccount
from smartaccounts.pagination import KeysetPage, KeysetPaginator

from ..models import (
    InstanceCount,
    ProductInstance,
    ProductInstanceUsage,
    RegistrationToken,
    Reservation,
    ReservationLine,
)
from .scope import LicensingScope

__all__ = [
    "instance_counts",
    "instance_counts_by_va",
    "instance_for",
    "instance_page",
    "instance_usage",
    "instances_in_scope",
    "instances_for_ids",
    "token_for",
    "token_in_scope",
    "tokens_in_scope",
    "tokens_of",
]


def instances_in_scope(
    scope: LicensingScope,
    *,
    search: str = "",
    status: str = "",
    family: str = "",
    reporting_status: str = "",
    license_id: int | None = None,
) -> QuerySet[ProductInstance]:
    """Instances of the scope, filtered. Without a status filter, removed instances are left out.

    `search` finds a full serial number exactly (one indexed lookup); otherwise it matches host
    names containing it and PIDs or serial numbers starting with it, case-insensitively.

    Whether the term is a full serial number is asked of the whole account, not of the user's VAs:
    a serial number typed in full means that device whoever asks, and a VA-scoped user who types
    the serial number of a device in a VA they cannot see finds nothing at once, instead of a
    substring scan over every device of their VAs (a 30,000-device region) that finds nothing either.
    """
    # The reporting status is shown and filtered from the instance's narrow deadline row, joined.
    qs = ProductInstance.objects.filter(scope.q()).select_related("deadline")
    qs = qs.filter(status=status) if status else qs.exclude(status=ProductInstance.Status.REMOVED)
    if search:
        term = search.strip()
        # A serial number typed in full finds its device through the serial index at once; anything
        # else matches names anywhere and PIDs and serial numbers by their beginning.
        serials = {term, term.upper()}
        in_account = ProductInstance.objects.filter(smart_account_id=scope.smart_account.pk, serial_number__in=serials)
        in_account = (
            in_account.filter(status=status) if status else in_account.exclude(status=ProductInstance.Status.REMOVED)
        )
        if " " not in term and in_account.exists():
            qs = qs.filter(serial_number__in=serials)
        else:
            qs = qs.filter(Q(hostname__icontains=term) | Q(pid__istartswith=term) | Q(serial_number__istartswith=term))
    if family:
        qs = qs.filter(product_family=family)
    if reporting_status:
        qs = qs.filter(deadline__reporting_status=reporting_status)
    if license_id:
        qs = qs.filter(usage__license_id=license_id)
    return qs


def instance_counts(scope: LicensingScope) -> dict[str, int]:
    """Live (not removed) instances of the scope per reporting status, every status present (0 when none).

    One grouped query over the materialised counts (`InstanceCount`, a few rows per VA), not over the
    instances: the same answer for 200 devices or 200,000.
    """
    rows = InstanceCount.objects.filter(scope.q()).order_by().values_list("reporting_status").annotate(n=Sum("count"))
    counts = dict(rows)
    return {status.value: int(counts.get(status.value) or 0) for status in ProductInstance.ReportingStatus}


def instance_counts_by_va(smart_account: SmartAccount, reporting_status: str = "") -> dict[int, int]:
    """{VA id: live instances} of the account, optionally of one reporting status; VAs without any are absent.

    One grouped query over the materialised counts, for a tree of any size.
    """
    rows = InstanceCount.objects.filter(smart_account_id=smart_account.pk)
    if reporting_status:
        rows = rows.filter(reporting_status=reporting_status)
    counts = rows.order_by().values_list("virtual_account_id").annotate(n=Sum("count"))
    return {va_id: n for va_id, n in counts if n}


def _with_license_counts(rows: list[ProductInstance]) -> list[ProductInstance]:
    """How many licenses each row uses, in one grouped query over the page's ids only (an aggregate
    joined into the page query would have to count every instance before the LIMIT)."""
    accounts = {r.smart_account_id for r in rows}
    counts = dict(
        ProductInstanceUsage.objects.filter(smart_account_id__in=accounts, product_instance_id__in=[r.pk for r in rows])
        .order_by()
        .values_list("product_instance_id")
        .annotate(n=Count("pk"))
    )
    reserved = [r.pk for r in rows if r.status == ProductInstance.Status.RESERVED]
    if reserved:  # an offline device uses what its active reservation holds: one more query, only then
        counts.update(
            ReservationLine.objects.filter(
                smart_account_id__in=accounts,
                reservation__smart_account_id__in=accounts,
                reservation__product_instance_id__in=reserved,
                reservation__status=Reservation.Status.ACTIVE,
            )
            .order_by()
            .values_list("reservation__product_instance_id")
            .annotate(n=Count("pk"))
        )
    for row in rows:
        row.license_count = counts.get(row.pk, 0)
        row.licenses_reserved = row.status == ProductInstance.Status.RESERVED
    return rows


def instance_paginator(size: int = 50) -> KeysetPaginator:
    """Pages of instances by (hostname, id), each row with its `license_count`."""
    return KeysetPaginator(("hostname", "pk"), (str, int), size=size, decorate=_with_license_counts)


def _encode(instance: ProductInstance) -> str:
    """The cursor of the page after `instance`."""
    return instance_paginator().cursor(instance)


def instance_page(qs: QuerySet[ProductInstance], *, after: str = "", before: str = "", size: int = 50) -> KeysetPage:
    """One page of `qs` ordered by (hostname, id), after or before a cursor (see `KeysetPaginator`): the
    4,000th page of 200,000 instances costs what the first one does."""
    return instance_paginator(size).page(qs.select_related("virtual_account"), after=after, before=before)


def instance_for(user, smart_account: SmartAccount, instance_id: int, action: str = "view") -> ProductInstance:
    """An instance of the account in a VA the user may `action` on; else 404."""
    instances = ProductInstance.objects.select_related("virtual_account", "registration_token", "deadline").filter(
        pk=instance_id, smart_account=smart_account
    )
    instance = access.restrict(instances, user, action, smart_account=smart_account).first()
    if instance is None:
        raise Http404("No such product instance.")
    return instance


def instances_for_ids(user, smart_account: SmartAccount, ids, action: str = "operate") -> list[ProductInstance]:
    """The instances among `ids` that are in VAs the user may `action` on (others are silently left out)."""
    instances = ProductInstance.objects.filter(pk__in=ids, smart_account=smart_account)
    return list(access.restrict(instances, user, action, smart_account=smart_account).order_by("pk"))


def instance_usage(instance: ProductInstance) -> list[ProductInstanceUsage]:
    return list(
        instance.usage.filter(smart_account_id=instance.smart_account_id)
        .select_related("license")
        .order_by("license__name")
    )


def tokens_of(virtual_account: VirtualAccount) -> QuerySet[RegistrationToken]:
    return RegistrationToken.objects.filter(
        smart_account_id=virtual_account.smart_account_id, virtual_account=virtual_account
    ).select_related("created_by", "revoked_by")


def token_for(virtual_account: VirtualAccount, token_id: int) -> RegistrationToken:
    """A token of this VA (already resolved through the selectors); else 404."""
    token = tokens_of(virtual_account).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token


def tokens_in_scope(scope: LicensingScope) -> QuerySet[RegistrationToken]:
    """The registration tokens of the scope's live VAs: one VA, a VA and its subtree, or every VA of the
    account the user may see."""
    tokens = RegistrationToken.objects.filter(
        smart_account_id=scope.smart_account.pk, virtual_account__deleted_at__isnull=True
    ).select_related("virtual_account", "created_by", "revoked_by")
    va = scope.virtual_account
    if va is not None and not scope.include_subtree:
        return tokens.filter(virtual_account=va)
    if va is not None:
        return tokens.filter(access.in_subtree_of(va, "virtual_account__"))
    if scope.account_wide:
        return tokens
    return access.restrict(tokens, scope.user, "view", smart_account=scope.smart_account, account_role=None)


def token_in_scope(scope: LicensingScope, token_id: int) -> RegistrationToken:
    """A token of the scope; else 404."""
    token = tokens_in_scope(scope).filter(pk=token_id).first()
    if token is None:
        raise Http404("No such token.")
    return token
