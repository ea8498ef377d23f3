"""The licensing tabs, the account-home license panel and the VA tree's license and device counts."""

from __future__ import annotations

from django.db.models import Count, Sum

from smartaccounts.models import SmartAccount

USABLE = (SmartAccount.Kind.CUSTOMER, SmartAccount.Kind.LIMITED_USE)


def license_panel(view) -> dict:
    """Context of the account-home panel: read through the same scope as the licenses page."""
    from .models import ProductInstance
    from .selectors import license_summary_counts, scope_for

    scope = scope_for(view.request.user, view.smart_account, role_on_account=view.account_role)
    counts = license_summary_counts(scope)
    usable = view.smart_account.kind in USABLE
    counts.update(
        smart_account=view.smart_account,
        usable=usable,
        instances=(
            ProductInstance.objects.filter(scope.q()).exclude(status=ProductInstance.Status.REMOVED).count()
            if usable
            else 0
        ),
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
    """Product instances per VA (active and reserved), one grouped query."""
    from .models import ProductInstance

    return dict(
        ProductInstance.objects.filter(smart_account_id=smart_account.pk)
        .exclude(status=ProductInstance.Status.REMOVED)
        .values_list("virtual_account_id")
        .annotate(n=Count("id"))
        .order_by()
    )


def register_navigation() -> None:
    from smartaccounts.navigation import NavItem, Panel, register, register_panel

    register(
        NavItem(
            "Licenses", "licenses", order=20, active_for=("va_licenses", "license_detail", "va_license_detail",
                                                          "license_transfer")
        )
    )  # fmt: skip
    register(
        NavItem(
            "Product Instances",
            "instances",
            order=30,
            kinds=USABLE,
            active_for=("va_instances", "instance_detail", "va_tokens"),
        )
    )
    register(NavItem("Compliance", "compliance", order=40, kinds=USABLE))
    register(NavItem("Orders", "orders", order=60, kinds=USABLE, active_for=("order_detail",)))
    register_panel(Panel("licenses", "licensing/panels/license_summary.html", context=license_panel, order=20))

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
