"""Load the license catalog (licenses and SKUs) from the shipped JSON file or another one. Idempotent."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing.services import CATALOG_FILE, load_catalog, read_catalog_file


class Command(BaseCommand):
    help = "Create or update licenses (by entitlement tag) and SKUs (by code) from a catalog JSON file."

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", default=str(CATALOG_FILE), help=f"Default: {CATALOG_FILE}")

    def handle(self, *args, **options):
        try:
            result = load_catalog(data=read_catalog_file(options["file"]))
        except FileNotFoundError:
            raise CommandError(f"{options['file']}: no such file.") from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        style = self.style.SUCCESS if result.changed else self.style.NOTICE
        self.stdout.write(style(f"Catalog loaded: {result}."))
