"""The licensing tabs, the account-home license panel and the VA tree's license and device counts."""

from __future__ import annotations

from django.db.models import Sum
from django.urls import reverse

from smartaccounts.models import SmartAccount

USABLE = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)


def account_home_instance_counts(view) -> dict[str, int]:
    """Live instances per reporting status in what the account-home viewer may see (every VA for a role on
    the account, the VAs their roles reach otherwise). Read once per page: the license panel shows the
    total, the reporting panel the statuses."""
    counts = getattr(view, "_live_instance_counts", None)
    if counts is None:
        from .selectors import instance_counts, scope_for

        scope = scope_for(view.request.user, view.smart_account, role_on_account=view.account_role)
        counts = view._live_instance_counts = instance_counts(scope)
    return counts


def license_panel(view) -> dict:
    """Context of the account-home panel: read through the same scope as the licenses page."""
    from .selectors import license_summary_counts, scope_for

    scope = scope_for(view.request.user, view.smart_account, role_on_account=view.account_role)
    counts = license_summary_counts(scope)
    usable = view.smart_account.kind in USABLE
    licenses_url = reverse("licenses", args=[view.smart_account.pk])
    counts.update(
        smart_account=view.smart_account,
        usable=usable,
        shortages_url=(
            reverse("compliance", args=[view.smart_account.pk]) if usable else f"{licenses_url}?alert=insufficient"
        ),
        expiring_url=f"{licenses_url}?alert=expiring",
        instances=sum(account_home_instance_counts(view).values()) if usable else 0,
    )
    return counts


def purchased_counts(smart_account, va_ids) -> dict[int, int]:
    """Licenses held per VA (the materialised Purchased), one grouped query."""
    from .models import LicenseBalance

    return dict(
        LicenseBalance.objects.filter(smart_account_id=smart_account.pk, purchased__gt=0)
        .values_list("virtual_account_id")
        .annotate(n=Sum("purchased"))
        .order_by()
    )


def device_counts(smart_account, va_ids) -> dict[int, int]:
    """Product instances per VA (active and reserved): one grouped query over the materialised counts."""
    from .selectors import instance_counts_by_va

    return instance_counts_by_va(smart_account)


def _register_staff_queues() -> None:
    from smartaccounts.navigation import StaffQueue, register_staff_queue

    from .models import Order

    register_staff_queue(
        StaffQueue(
            "orders_on_hold",
            "Orders on Smart Account hold (no account, or one not yet approved)",
            count=lambda: Order.objects.filter(status=Order.Status.ON_HOLD).count(),
            url=lambda: reverse("admin:licensing_order_changelist") + "?status__exact=on_hold",
            order=20,
        )
    )


def register_navigation() -> None:
    from smartaccounts.navigation import NavItem, Panel, register, register_panel, register_va_tab

    register(NavItem("Licenses", "licenses", order=20, active_for=("license_detail",)))
    register(NavItem("Product Instances", "instances", order=30, kinds=USABLE, active_for=("instance_detail",)))
    # The tabs of a Virtual Account: the same pages, for that VA.
    register_va_tab(NavItem("Licenses", "va_licenses", order=20, active_for=("va_license_detail", "license_transfer")))
    register_va_tab(NavItem("Product Instances", "va_instances", order=30, kinds=USABLE))
    register_va_tab(NavItem("Registration Tokens", "va_tokens", order=35, kinds=USABLE))
    register(NavItem("Compliance", "compliance", order=40, kinds=USABLE))
    register(NavItem("Orders", "orders", order=60, kinds=USABLE, active_for=("order_detail",)))
    register_panel(Panel("licenses", "licensing/panels/license_summary.html", context=license_panel, order=20))
    _register_staff_queues()

    try:
        from smartaccounts.tree import register_count
    except ImportError:  # the tree registry ships with the Virtual Accounts page
        return
    register_count(
        "licenses",
        "Licenses",
        purchased_counts,
        order=20,
        help_text="Licenses held (purchased) in the Virtual Account.",
    )
    register_count(
        "devices",
        "Product instances",
        device_counts,
        order=30,
        kinds=USABLE,
        help_text="Product instances registered in the Virtual Account (active and reserved).",
    )
