"""Create the month partitions of usage reports and measurements ahead (PostgreSQL; the beat task
`policy.ensure_usage_partitions` runs the same daily)."""

from django.core.management.base import BaseCommand

from policy.partitions import MONTHS_AHEAD, ensure_partitions


class Command(BaseCommand):
    help = "Create the month partitions of usage reports and measurements for this month and the next ones."

    def add_arguments(self, parser):
        parser.add_argument("--months-ahead", type=int, default=MONTHS_AHEAD, help=f"Default {MONTHS_AHEAD}.")

    def handle(self, *args, **options):
        if options["months_ahead"] < 0:
            self.stderr.write("--months-ahead must be 0 or more.")
            raise SystemExit(2)
        created = ensure_partitions(months_ahead=options["months_ahead"])
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(f"{len(created)} partition(s) created.")
