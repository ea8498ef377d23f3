"""`manage.py create_api_client`: an API client for a provisioning script, through the same service as the
*API clients* page. Prints `client_id=...` and `client_secret=...` lines; bad input writes nothing."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from smartaccounts import services
from smartaccounts.models import Role, SmartAccount, VirtualAccount


class Command(BaseCommand):
    help = "Create an API client (OAuth2 client id and secret) with a role on an account or one Virtual Account."

    def add_arguments(self, parser):
        parser.add_argument("--account", required=True, help="The account's domain (its identifier).")
        parser.add_argument("--name", required=True, help="The client's name, unique among the account's live clients.")
        parser.add_argument("--role", required=True, help="admin, user or viewer.")
        parser.add_argument("--virtual-account", help="A Virtual Account's name: the role covers it and its subtree.")
        parser.add_argument("--client-id", help="Fix the client id (8-100 letters, digits, '.', '_', '-').")
        parser.add_argument("--client-secret", help="Fix the secret (24-128 letters and digits).")

    def handle(self, *args, **options):
        role = (options["role"] or "").strip().lower()
        if role not in Role.values:
            raise CommandError(f"--role: use admin, user or viewer (not {options['role']!r}).")
        domain = options["account"].strip()
        account = SmartAccount.objects.filter(domain__iexact=domain).first() if domain else None
        if account is None:
            raise CommandError(f"No Smart Account has the domain {domain!r}.")
        va = None
        if options["virtual_account"]:
            va = VirtualAccount.objects.filter(
                smart_account=account, name__iexact=options["virtual_account"].strip(), deleted_at__isnull=True
            ).first()
            if va is None:
                raise CommandError(f"{account.name} has no Virtual Account called {options['virtual_account']!r}.")
        try:
            api_client, secret = services.create_api_client(
                actor=None,  # the operator at the command line
                smart_account=account,
                name=options["name"],
                role=role,
                virtual_account=va,
                client_id=options["client_id"],
                client_secret=options["client_secret"],
            )
        except (ValidationError, PermissionDenied) as error:
            raise CommandError(" ".join(_messages(error))) from None
        self.stdout.write(f"client_id={api_client.client_id}")
        self.stdout.write(f"client_secret={secret}")
        self.stderr.write(
            f"Created the API client {api_client.name} of {account.name} "
            f"({Role(role).label} on {api_client.scope_label}). The secret is not stored: keep it now."
        )


def _messages(error) -> list[str]:
    if isinstance(error, ValidationError) and hasattr(error, "error_dict"):
        return [f"{field.replace('_', ' ')}: {' '.join(msgs)}" for field, msgs in error.message_dict.items()]
    return list(getattr(error, "messages", None) or [str(error)])
