from django.apps import AppConfig

USABLE_KINDS = ("customer", "limited_use")  # Partner Holding accounts have no devices to report


class PolicyConfig(AppConfig):
    name = "policy"
    verbose_name = "Smart Licensing using Policy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from smartaccounts.navigation import NavItem, Panel, register, register_panel, register_va_tab
        from smartaccounts.tree import register_count

        from . import checks  # noqa: F401  (registers the system checks)
        from .selectors import overdue_counts_by_va
        from .views import usage_dashboard_context

        register(
            NavItem(
                "Reporting",
                "policy_reporting",
                kinds=USABLE_KINDS,
                order=45,
                active_for=("policy_instance_reporting", "policy_usage_upload", "policy_upload_result"),
            )
        )
        register(NavItem("Alerts", "policy_alerts", kinds=USABLE_KINDS, order=46))
        register_va_tab(NavItem("Reporting", "va_reporting", kinds=USABLE_KINDS, order=50))
        register_count(
            "reports_overdue",
            "Reports overdue",
            overdue_counts_by_va,
            order=60,
            kinds=USABLE_KINDS,
            help_text="Product instances whose usage report is overdue.",
        )
        register_panel(
            Panel(
                key="policy_reporting",
                template_name="policy/panel_reporting.html",
                context=usage_dashboard_context,
                kinds=USABLE_KINDS,
                order=30,
            )
        )
