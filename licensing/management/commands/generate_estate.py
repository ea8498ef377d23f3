"""Generate a large, realistic estate for the benchmarks (PostgreSQL, written with COPY)."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection
from tqdm import tqdm


class Command(BaseCommand):
    help = (
        "Generate one large customer account (2,000 VAs up to 6 levels, 300 licenses, 200,000 product instances, "
        "1,000,000 usage measurements, reports, pending changes, shortages, expiring terms) and 50 small accounts, "
        "then evaluate every reporting deadline. Needs PostgreSQL and an empty database."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scale", type=float, default=1.0, help="Shrink or grow the estate (0.01 … 5).")
        parser.add_argument("--seed", type=int, default=42, help="Same seed, same estate.")

    def handle(self, *args, **options):
        from licensing.estate import EstateSpec, generate
        from policy.deadlines import evaluate_reporting_deadlines

        if not 0 < options["scale"] <= 5:  # also refuses nan and inf
            raise CommandError("--scale must be above 0 and at most 5.")
        if connection.vendor != "postgresql":
            raise CommandError(
                "generate_estate writes with PostgreSQL COPY: set DATABASE_URL to a PostgreSQL database."
            )
        spec = EstateSpec().scaled(options["scale"])
        bar = tqdm(
            total=spec.instances + spec.small_accounts, unit="step", desc="estate", disable=options["verbosity"] < 1
        )
        seen = {}

        def progress(label, n):
            step = {"instances": 20_000, "small accounts": 1}.get(label)
            if step and n and label == "instances":
                bar.update(min(step, n - seen.get(label, 0)))
                seen[label] = n
            elif label == "small accounts":
                bar.update(1)
            bar.set_postfix_str(f"{label} {n}")

        try:
            result = generate(spec, seed=options["seed"], progress=progress)
        except RuntimeError as exc:
            raise CommandError(str(exc)) from None
        bar.close()
        statuses = evaluate_reporting_deadlines()
        with connection.cursor() as cursor:
            # Fresh statistics, and no dead rows left by the bulk writes (VACUUM cannot run inside a
            # transaction, as when a caller wraps the command in one: then the statistics only).
            cursor.execute("ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE")
        counts = ", ".join(f"{k.replace('_', ' ')}: {v:,}" for k, v in result.counts.items())
        self.stdout.write(self.style.SUCCESS(f"Estate generated: {counts}."))
        self.stdout.write(
            "Reporting: "
            + ", ".join(f"{k}: {statuses.get(k, 0):,}" for k in ("ok", "due_soon", "overdue", "not_required"))
        )
        self.stdout.write(
            f"Large account: {result.admin_email} (Admin), {result.va_user_email} (User on one region); "
            f"password: bench-password-2026"
        )
