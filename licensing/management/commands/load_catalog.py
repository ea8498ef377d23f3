"""Load the license catalog (licenses and SKUs) from the shipped JSON file or another one. Idempotent."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing.services import CATALOG_FILE, load_catalog, read_catalog


class Command(BaseCommand):
    help = (
        "Create or update licenses (by entitlement tag) and SKUs (by code) from a catalog JSON file. "
        "A problem refuses the whole file with its line number (exit status 1); nothing is loaded."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(CATALOG_FILE), help=f"Default: {CATALOG_FILE}")

    def handle(self, *args, **options):
        path = options["file"]
        try:
            data, lines = read_catalog(path)
            result = load_catalog(data=data, lines=lines)
        except (FileNotFoundError, IsADirectoryError):
            raise CommandError(f"{path}: no such file.") from None
        except ValidationError as error:
            message = " ".join(error.messages)
            if not message.startswith(path):
                message = f"{path}, {message}" if message.startswith("line ") else f"{path}: {message}"
            raise CommandError(message) from None
        style = self.style.SUCCESS if result.changed else self.style.NOTICE
        self.stdout.write(style(f"Catalog loaded: {result}."))
