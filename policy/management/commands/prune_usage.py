"""Remove usage reports, their measurements and ACKs received before a cutoff (whole month partitions on
PostgreSQL). See `policy.partitions` for what is kept and why the deadlines do not move."""

from django.core.management.base import BaseCommand, CommandError

from policy.partitions import DEFAULT_KEEP_MONTHS, prune_usage


class Command(BaseCommand):
    help = (
        "Remove usage reports (with their measurements and ACKs) older than the last N months, this month "
        "included. On PostgreSQL whole month partitions are dropped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--keep-months",
            type=int,
            default=DEFAULT_KEEP_MONTHS,
            help=f"Months kept, this one included (default {DEFAULT_KEEP_MONTHS}).",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count what would be removed; remove nothing.")

    def handle(self, *args, **options):
        try:
            result = prune_usage(keep_months=options["keep_months"], dry_run=options["dry_run"])
        except ValueError as error:
            raise CommandError(str(error)) from error
        verb = "Would remove" if result.dry_run else "Removed"
        self.stdout.write(
            f"{verb} {result.reports} report(s), {result.measurements} measurement(s) and "
            f"{result.acknowledgements} ACK(s) received before {result.cutoff:%Y-%m-%d}"
            + (f"; partitions: {', '.join(result.partitions)}" if result.partitions else "")
            + "."
        )
