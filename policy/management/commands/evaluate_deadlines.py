"""Evaluate every product instance's reporting deadline now (what the hourly beat task does)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from policy.deadlines import evaluate_reporting_deadlines

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Recompute every product instance's next reporting deadline and status, open and resolve the "
        "due-soon and overdue alerts. Idempotent: running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="Evaluate as of this ISO time (e.g. 2026-06-01T00:00:00Z) instead of now.")
        parser.add_argument("--batch-size", type=int, default=None, help="Instances per batch (by id range).")

    def handle(self, *args, **options):
        now = None
        if options["now"]:
            try:
                now = datetime.fromisoformat(options["now"])
            except ValueError:
                raise CommandError(f"--now {options['now']!r} is not an ISO date-time.") from None
            if now.tzinfo is None:
                raise CommandError("--now needs a UTC offset, e.g. 2026-06-01T00:00:00Z.")
            # Deadlines are now ± up to years of days: far from both ends of the calendar there is room.
            if not EARLIEST <= now < LATEST:
                raise CommandError(f"--now must be from {EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC).")
        if options["batch_size"] is not None and options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        result = evaluate_reporting_deadlines(now=now, batch_size=options["batch_size"])
        self.stdout.write(
            f"{result['instances']} product instances: {result['ok']} OK, {result['due_soon']} due soon, "
            f"{result['overdue']} overdue, {result['not_required']} not required."
        )
        self.stdout.write(
            f"{result['changed']} changed; alerts: {result['alerts_opened']} opened, "
            f"{result['alerts_resolved']} resolved."
        )
