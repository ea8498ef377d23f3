from django.apps import AppConfig


class LicensingConfig(AppConfig):
    name = "licensing"
    verbose_name = "Licensing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import navigation, navigation_workflows, signals  # noqa: F401  (signals: held orders, VA deletion)

        navigation.register_navigation()
        navigation_workflows.register()
