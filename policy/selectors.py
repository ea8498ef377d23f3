"""Every permission-scoped read of the policy app.

Everything here is narrowed to the Virtual Accounts the user may see in one account
(`smartaccounts.access.restrict`, subqueries in the same query), so another tenant's ids and VAs
outside a VA-scoped role are simply not found.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from licensing.models import InstanceCount, ProductInstance, ProductInstanceUsage
from licensing.selectors import instance_counts_by_va
from smartaccounts import access
from smartaccounts.models import SmartAccount, User, VirtualAccount
from smartaccounts.pagination import KeysetPage, KeysetPaginator

from . import rules as policy_rules
from .models import Acknowledgement, Alert, Change, DevicePoll, UsageMeasurement, UsageReport, UsageUpload

Status = ProductInstance.ReportingStatus


# How the policy app's rows reach their account and VA, for `smartaccounts.access.restrict`.
access.register(Alert)
access.register(UsageUpload)


def instances_for(user: User, smart_account: SmartAccount, action: str = "view") -> QuerySet[ProductInstance]:
    """The account's product instances (not removed) in VAs the user may `action` on."""
    instances = ProductInstance.objects.filter(smart_account=smart_account)
    return access.restrict(instances, user, action, smart_account=smart_account).exclude(
        status=ProductInstance.Status.REMOVED
    )


def reporting_instances(
    user: User,
    smart_account: SmartAccount,
    *,
    status: str = "",
    virtual_account_id: int | None = None,
    q: str = "",
    within: QuerySet | None = None,
) -> QuerySet[ProductInstance]:
    """`within`: only the instances of these VAs (a Virtual Account's page: the VA, or it and its subtree)."""
    instances = instances_for(user, smart_account).select_related("virtual_account", "deadline")
    if within is not None:
        instances = instances.filter(virtual_account_id__in=within.values("pk"))
    if status:
        instances = instances.filter(deadline__reporting_status=status)
    if virtual_account_id:
        instances = instances.filter(virtual_account_id=virtual_account_id)
    if q:
        q = q.strip()
        instances = (
            instances.filter(serial_number__icontains=q)
            | instances.filter(hostname__icontains=q)
            | (instances.filter(pid__icontains=q))
        )
    return instances.order_by("deadline__next_due_at", "pk")


def reporting_counts(
    user: User, smart_account: SmartAccount, *, whole_account: bool, within: QuerySet | None = None
) -> dict[str, int]:
    """Instances per reporting status (one query over the materialised counts, whatever the number of
    devices). `whole_account`: the user sees every VA. `within`: only these VAs (as `reporting_instances`)."""
    counts = InstanceCount.objects.filter(smart_account=smart_account)
    if within is not None:
        counts = counts.filter(virtual_account_id__in=within.values("pk"))
    elif not whole_account:
        counts = access.restrict(counts, user, "view", smart_account=smart_account, account_role=None)
    found = dict(counts.order_by().values_list("reporting_status").annotate(n=Sum("count")))
    return {status.value: int(found.get(status.value) or 0) for status in Status}


def instance_for(user: User, smart_account: SmartAccount, instance_id: int, action: str = "view") -> ProductInstance:
    """One instance the user may `action` on (DoesNotExist otherwise, also for another tenant's id)."""
    return (
        instances_for(user, smart_account, action)
        .select_related("virtual_account", "smart_account", "deadline")
        .get(pk=instance_id)
    )


def alerts_for(
    user: User,
    smart_account: SmartAccount,
    *,
    state: str = "open",
    kind: str = "",
    severity: str = "",
    virtual_account_id: int | None = None,
    whole_account: bool = False,
) -> QuerySet[Alert]:
    """The alerts of the VAs the user can see, newest first. `whole_account`: the user holds a role on the
    account itself (the caller knows), so the alerts of every live VA: a plain filter on the account,
    which reads the newest alerts straight from the (account, opened) index instead of checking each
    one against the list of visible VAs."""
    if whole_account:
        alerts = Alert.objects.filter(smart_account=smart_account, virtual_account__deleted_at__isnull=True)
    else:
        alerts = Alert.objects.filter(smart_account=smart_account)
        alerts = access.restrict(alerts, user, "view", smart_account=smart_account, account_role=None)
    alerts = alerts.select_related("virtual_account", "product_instance")
    if state == "open":
        alerts = alerts.filter(resolved_at__isnull=True)
    elif state == "resolved":
        alerts = alerts.filter(resolved_at__isnull=False)
    if kind:
        alerts = alerts.filter(kind=kind)
    if severity:
        alerts = alerts.filter(severity=severity)
    if virtual_account_id:
        alerts = alerts.filter(virtual_account_id=virtual_account_id)
    return alerts.order_by("-opened_at", "-pk")


def alert_page(alerts: QuerySet[Alert], *, after: str = "", before: str = "", size: int = 50) -> KeysetPage:
    """One page of `alerts` (newest first), older than the `after` cursor or newer than `before`.

    Pagination by key (`KeysetPaginator`) on (opened_at, id), which PostgreSQL answers from the
    (account, opened_at, id) index, no COUNT of the account's alerts and no OFFSET, so the first page
    costs the same with 50 alerts or 500,000, and so does the thousandth.
    """
    paginator = KeysetPaginator(("opened_at", "pk"), (datetime, int), descending=True, size=size)
    return paginator.page(alerts, after=after, before=before)


_change_counts = (
    Change.objects.filter(smart_account_id=OuterRef("smart_account_id"), report=OuterRef("pk"))
    .order_by()
    .values("report")
    .annotate(n=Count("pk"))
    .values("n")
)


def reports_of(instance: ProductInstance) -> QuerySet[UsageReport]:
    """An instance's reports, newest first (the caller got `instance` through `instance_for`)."""
    return (
        UsageReport.objects.filter(smart_account_id=instance.smart_account_id, product_instance=instance)
        .select_related("acknowledgement__policy_version__policy", "actor")
        # A subquery, not a join with GROUP BY: on PostgreSQL the key of a (partitioned) report is (id,
        # received_at), so grouping by id alone would not cover its columns.
        .annotate(change_count=Coalesce(Subquery(_change_counts), Value(0), output_field=IntegerField()))
        .defer("payload")
        .order_by("-generated_at", "-pk")
    )


def reports_for(
    user: User,
    smart_account: SmartAccount,
    *,
    virtual_account_id: int | None = None,
    instance_id: int | None = None,
    generated_after: datetime | None = None,
    generated_before: datetime | None = None,
) -> QuerySet[UsageReport]:
    """The reports of the instances the user can see in the account (`instances_for`), newest first,
    without their payloads; narrowed to one VA (not its sub-VAs), one instance, a time range."""
    instances = instances_for(user, smart_account)
    if virtual_account_id is not None:
        instances = instances.filter(virtual_account_id=virtual_account_id)
    if instance_id is not None:
        instances = instances.filter(pk=instance_id)
    reports = UsageReport.objects.filter(smart_account=smart_account, product_instance__in=instances.values("pk"))
    if generated_after is not None:
        reports = reports.filter(generated_at__gte=generated_after)
    if generated_before is not None:
        reports = reports.filter(generated_at__lt=generated_before)
    return (
        reports.select_related("product_instance__virtual_account", "acknowledgement__policy_version__policy", "actor")
        .defer("payload")
        .order_by("-generated_at", "-pk")
    )


def report_for(user: User, smart_account: SmartAccount, report_id: int) -> UsageReport:
    return UsageReport.objects.select_related("acknowledgement", "product_instance").get(
        pk=report_id,
        smart_account=smart_account,
        product_instance__in=instances_for(user, smart_account).values("pk"),
    )


def changes_of(instance: ProductInstance) -> QuerySet[Change]:
    return (
        Change.objects.filter(smart_account_id=instance.smart_account_id, product_instance=instance)
        .select_related("license")
        .order_by("-occurred_at", "-pk")
    )


def usage_series(instance: ProductInstance, limit: int = 500) -> dict[str, list[dict]]:
    """Usage over time per license for the chart: {license name: [{"x": end, "y": count}, ...]} (one query)."""
    rows = list(
        UsageMeasurement.objects.filter(smart_account_id=instance.smart_account_id, product_instance=instance)
        .order_by("-end", "-pk")
        .values_list("license__name", "end", "count")[:limit]
    )
    series: dict[str, list[dict]] = {}
    for name, end, count in reversed(rows):
        series.setdefault(name, []).append({"x": end.isoformat(), "y": count})
    return series


def current_usage(instance: ProductInstance) -> list[ProductInstanceUsage]:
    return list(
        ProductInstanceUsage.objects.filter(smart_account_id=instance.smart_account_id, product_instance=instance)
        .select_related("license")
        .order_by("license__name")
    )


def uploads_for(user: User, smart_account: SmartAccount) -> QuerySet[UsageUpload]:
    uploads = UsageUpload.objects.filter(smart_account=smart_account, virtual_account__deleted_at__isnull=True)
    uploads = uploads.select_related("virtual_account", "actor")
    return access.restrict(uploads, user, "view", smart_account=smart_account)


def upload_acks(user: User, smart_account: SmartAccount, upload: UsageUpload) -> list[dict]:
    """The ACKs of an upload's accepted reports, in the file's order, for the instances the user can see
    (a report accepted for an instance in a VA out of their reach stays unnamed). One query."""
    report_ids = [row["report"] for row in upload.results if row.get("report")]
    visible = instances_for(user, smart_account).values("pk")
    acks = dict(
        Acknowledgement.objects.filter(
            smart_account=smart_account,
            report__smart_account=smart_account,
            report__pk__in=report_ids,
            product_instance__in=visible,
        ).values_list("report__pk", "document")
    )
    return [acks[pk] for pk in report_ids if pk in acks]


def policy_in_force(smart_account: SmartAccount) -> dict:
    """The account's policy in force and its rules in plain words (one query)."""
    version, rules = policy_rules.rules_in_force(smart_account.pk)
    return {
        "version": version,
        "by_class": rules,
        "rules": [rules[c] for c in sorted(rules)],
        "sentences": policy_rules.describe(rules),
        "assigned": version is not None and not version.policy.is_default,
    }


def overdue_counts_by_va(smart_account: SmartAccount, va_ids: list[int]) -> dict[int, int]:
    """The VA tree's "Reports overdue" column: one grouped query over the materialised counts."""
    return instance_counts_by_va(smart_account, Status.OVERDUE)


def device_poll_for(virtual_account: VirtualAccount, poll_id: int) -> DevicePoll | None:
    """A kept SLUP result, only for the Smart Account and VA of the request that made it."""
    return DevicePoll.objects.filter(
        poll_id=poll_id, smart_account_id=virtual_account.smart_account_id, virtual_account=virtual_account
    ).first()


def unpolled_acknowledgements(virtual_account: VirtualAccount) -> int:
    """Usage reports sent through the SLUP flow whose acknowledgements no poll has collected yet."""
    return DevicePoll.objects.filter(
        virtual_account=virtual_account, action=DevicePoll.Action.ACKNOWLEDGEMENTS, polled_at__isnull=True
    ).count()
