"""Import sales orders from a CSV file (format in docs/licensing.md), all or nothing, and deposit them."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from licensing.management.csvfiles import read_csv_rows
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
        rows = read_csv_rows(path, columns=ORDER_CSV_COLUMNS, required=("order_number", "sku", "quantity"))
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
