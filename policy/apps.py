from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "policy"
    verbose_name = "Smart Licensing using Policy"
    default_auto_field = "django.db.models.BigAutoField"
