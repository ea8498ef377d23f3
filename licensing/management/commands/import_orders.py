"""Import sales orders from a CSV file (format in the README), all or nothing, and deposit them."""

import csv

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from licensing.services import ORDER_CSV_COLUMNS, import_orders


class Command(BaseCommand):
    help = (
        "Import orders from a CSV file with the columns "
        + ", ".join(ORDER_CSV_COLUMNS)
        + ". A bad row refuses the whole file with line-numbered errors; orders already imported are skipped."
    )

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--no-progress", action="store_true", help="Do not draw progress bars.")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            with open(path, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                columns = [c.strip() for c in reader.fieldnames or []]
                unknown = [c for c in columns if c not in ORDER_CSV_COLUMNS]
                missing = [c for c in ("order_number", "sku", "quantity") if c not in columns]
                if missing or unknown:
                    raise CommandError(
                        f"{path}, line 1: "
                        + (f"missing column(s) {', '.join(missing)}. " if missing else "")
                        + (f"unknown column(s) {', '.join(unknown)}. " if unknown else "")
                        + f"The columns are: {', '.join(ORDER_CSV_COLUMNS)}."
                    )
                # DictReader's line_num is the physical line the row ended on (quoted newlines included).
                rows = [(reader.line_num, {k.strip(): v for k, v in row.items() if k}) for row in reader]
        except FileNotFoundError:
            raise CommandError(f"{path}: no such file.") from None
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text: {exc}.") from None
        disable = options["no_progress"]

        def progress(iterable, **kwargs):
            return tqdm(iterable, disable=disable, file=self.stderr._out, leave=False, **kwargs)

        try:
            result = import_orders(rows=rows, progress=progress)
        except ValidationError as error:
            raise CommandError(f"{path}:\n  " + "\n  ".join(error.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"{path}: {result}"))
        for number in result.held:
            self.stdout.write(f"  {number}: on Smart Account hold")
