from django.apps import AppConfig


class SmartAccountsConfig(AppConfig):
    name = "smartaccounts"
    verbose_name = "Smart Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from django.urls import register_converter

        from . import selectors, tree
        from .navigation import NavItem, register, register_va_tab
        from .params import IdConverter

        # `<id:...>` in every URLconf: ids as the one helper reads them (ASCII digits within bigint), else 404.
        register_converter(IdConverter, "id")

        tree.register_default_columns()
        register(NavItem("Virtual Accounts", "virtual_accounts", order=10, active_for_va_pages=True))
        register(NavItem("Event log", "account_events", order=80))
        # A Virtual Account's own tabs (the other apps add theirs): each the account's page of that name, for the VA.
        register_va_tab(NavItem("General", "virtual_account", order=0))
        register_va_tab(NavItem("Event Log", "va_events", order=90))
        register(
            NavItem(
                "Users",
                "account_users",
                action="admin",
                order=90,
                va_admins=True,
                active_for=("account_member", "access_requests"),
                badge=selectors.pending_access_requests,
            )
        )
        register(NavItem("API clients", "api_clients", action="admin", order=95))
