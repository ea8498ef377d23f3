"""Load the demo data `make run` shows. Safe to run again: what exists is left as it is."""

import importlib

from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings

# Each module has `seed(demo: DemoContext) -> None`; later modules use what earlier ones made.
DEMO_MODULES = ["smartaccounts.demo", "licensing.demo", "licensing.demo_workflows", "policy.demo"]


class Command(BaseCommand):
    help = "Create the demo accounts, users, licenses and devices (idempotent) and print the demo logins."

    def handle(self, *args, **options):
        from smartaccounts.demo import DemoContext

        demo = DemoContext(stdout=self.stdout, style=self.style)
        # The demo's invitations, approvals and access requests would e-mail fictional people: drop those mails.
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            for name in DEMO_MODULES:
                try:
                    module = importlib.import_module(name)
                except ModuleNotFoundError as exc:
                    if exc.name == name:
                        continue
                    raise
                with transaction.atomic():
                    module.seed(demo)
        demo.print_logins()
