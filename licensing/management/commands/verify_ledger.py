"""Recompute every lot and balance from the ledger; exit non-zero naming each difference."""

from django.core.management.base import BaseCommand, CommandError

from licensing.models import LicenseBalance, LicenseLot
from licensing.verification import verify_ledger
from smartaccounts.models import SmartAccount
from smartaccounts.params import has_control_characters


class Command(BaseCommand):
    help = (
        "Check the license ledger: each lot against its entries, each balance's purchased against its lots, "
        "in use against its product instances' usage, reserved against reservation entries."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", help="Only this Smart Account (its domain identifier).")

    def handle(self, *args, **options):
        account = None
        if options["account"]:
            domain = options["account"]
            # A NUL (refused by PostgreSQL) or a byte that is not UTF-8 names no account: do not ask.
            account = None
            if not has_control_characters(domain):
                account = SmartAccount.objects.filter(domain__iexact=domain).first()
            if account is None:
                raise CommandError(f"No Smart Account has the domain {options['account']}.")
        differences = verify_ledger(smart_account=account)
        if differences:
            for difference in differences:
                self.stderr.write(f"DIFFERENCE [{difference.check}] {difference}")
            raise CommandError(f"The ledger has {len(differences)} difference(s).")
        lots = LicenseLot.objects.filter(smart_account=account) if account else LicenseLot.objects.all()
        balances = LicenseBalance.objects.filter(smart_account=account) if account else LicenseBalance.objects.all()
        self.stdout.write(
            self.style.SUCCESS(f"Ledger consistent: {lots.count()} lots and {balances.count()} balances checked.")
        )
