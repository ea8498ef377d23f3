from django.apps import AppConfig


class SmartAccountsConfig(AppConfig):
    name = "smartaccounts"
    verbose_name = "Smart Accounts"
    default_auto_field = "django.db.models.BigAutoField"
