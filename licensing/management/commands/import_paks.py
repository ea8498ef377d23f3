"""Load PAKs from a CSV file (format: docs/workflows.md), all or nothing per file; loading it again changes nothing."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from licensing.management.csvfiles import read_csv_rows
from licensing.services import PAK_CSV_COLUMNS, import_paks

REQUIRED = ("pak_number", "sku", "quantity")


class Command(BaseCommand):
    help = (
        "Load PAKs from a CSV file with the columns "
        + ", ".join(PAK_CSV_COLUMNS)
        + " (one row per PAK line; owner_domain optional). A bad row refuses the whole file with "
        "line-numbered errors; PAKs already loaded must match and are left as they are."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw a progress bar.")

    def handle(self, *args, **options):
        path = options["file"]
        rows = read_csv_rows(path, columns=PAK_CSV_COLUMNS, required=REQUIRED)
        if not rows:
            raise CommandError(f"{path}: no PAK lines after the header.")
        progress = tqdm(
            rows, desc="PAK lines", unit="line", disable=options["no_progress"], file=self.stderr._out, leave=False
        )
        try:
            result = import_paks(rows=progress)
        except ValidationError as error:
            raise CommandError(f"{path}: nothing was loaded.\n  " + "\n  ".join(error.messages)) from None
        finally:
            progress.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"{path}: loaded {result.created_paks} PAK{'s' if result.created_paks != 1 else ''} "
                f"with {result.created_lines} line{'s' if result.created_lines != 1 else ''}; "
                f"{result.unchanged_paks} already loaded, left as they were."
            )
        )
