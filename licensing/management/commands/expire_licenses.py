"""Expire term lots whose end date has passed (what the daily Celery beat task runs)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from licensing.services import expire_term_lots


class Command(BaseCommand):
    help = "Expire every term lot that ended before today (or --today). Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--today", help="YYYY-MM-DD: pretend it is this day.")

    def handle(self, *args, **options):
        today = None
        if options["today"]:
            try:
                today = dt.date.fromisoformat(options["today"])
            except ValueError:
                raise CommandError("--today takes a date such as 2026-01-31.") from None
        result = expire_term_lots(today=today)
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.licenses} license(s) in {result.lots} lot(s) expired, in {len(result.accounts)} account(s)."
            )
        )
