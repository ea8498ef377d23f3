from django.apps import AppConfig


class SmartAccountsConfig(AppConfig):
    name = "smartaccounts"
    verbose_name = "Smart Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import tree

        tree.register_default_columns()
