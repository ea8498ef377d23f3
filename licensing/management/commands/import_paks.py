"""Load PAKs from a CSV file (format in the README), all or nothing per file; loading it again changes nothing."""

import csv

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

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
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = [c.strip() for c in reader.fieldnames or []]
                unknown = [c for c in columns if c not in PAK_CSV_COLUMNS]
                missing = [c for c in REQUIRED if c not in columns]
                if missing or unknown:
                    raise CommandError(
                        f"{path}, line 1: "
                        + (f"missing column(s) {', '.join(missing)}. " if missing else "")
                        + (f"unknown column(s) {', '.join(unknown)}. " if unknown else "")
                        + f"The columns are: {', '.join(PAK_CSV_COLUMNS)}."
                    )
                # line_num is the physical line a row ended on, so errors point at the right line.
                rows = [(reader.line_num, {k.strip(): v or "" for k, v in row.items() if k}) for row in reader]
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file.") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}.") from None
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
