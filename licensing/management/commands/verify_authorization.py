"""Check a license reservation authorization code offline: its Ed25519 signature and what it authorizes."""

import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing.reservation_codes import verify_authorization
from smartaccounts.documents import decode_text


class Command(BaseCommand):
    help = (
        "Verify an authorization code file (or - for standard input) against the portal's public key "
        "(--public-key FILE: a PEM file such as the one published at /signing-key.pem; without it, this "
        "portal's own key). Exits 0 and prints what it authorizes when the signature is valid, 1 otherwise."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The authorization code file, or - to read standard input.")
        parser.add_argument("--public-key", help="A PEM file holding the portal's Ed25519 public key.")
        parser.add_argument("--pid", help="Also check the code is for this product ID.")
        parser.add_argument("--serial", help="Also check the code is for this serial number.")

    def handle(self, *args, **options):
        path = options["file"]
        key = None
        if options["public_key"]:
            # The key is checked on its own first: a problem with the code is never reported as one of the key.
            try:
                key = Path(options["public_key"]).read_text(encoding="ascii")
                loaded = serialization.load_pem_public_key(key.encode("ascii"))
            except (OSError, UnicodeDecodeError):
                raise CommandError(f"{options['public_key']}: not a readable PEM file.") from None
            except ValueError as error:
                raise CommandError(f"{options['public_key']}: not a public key ({error}).") from None
            if not isinstance(loaded, Ed25519PublicKey):
                raise CommandError(f"{options['public_key']}: not an Ed25519 public key.")
        try:
            data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            text = decode_text(data, name="standard input" if path == "-" else path)
        except (FileNotFoundError, IsADirectoryError):
            raise CommandError(f"{path}: no such file.") from None
        except ValidationError as error:
            raise CommandError(f"{' '.join(error.messages)} An authorization code is a JSON document.") from None
        try:
            payload = verify_authorization(text, public_key_pem=key)
        except ValidationError as error:
            raise CommandError(f"{path}: NOT VALID. {' '.join(error.messages)}") from None
        udi = payload.get("udi", {})
        for option, field in (("pid", "pid"), ("serial", "serial_number")):
            if options[option] and options[option] != udi.get(field):
                raise CommandError(
                    f"{path}: the signature is valid, but the code is for {field.replace('_', ' ')} "
                    f"{udi.get(field)}, not {options[option]}."
                )
        self.stdout.write(self.style.SUCCESS(f"{path}: valid signature."))
        self.stdout.write(
            f"  Reservation {payload.get('reservation')}, authorization code {payload.get('sequence')}, "
            f"{payload.get('type')}, issued {payload.get('issued_at')}"
        )
        self.stdout.write(f"  Device: PID:{udi.get('pid')} SN:{udi.get('serial_number')}")
        for line in payload.get("licenses", []):
            self.stdout.write(f"  {line.get('count')} × {line.get('name')} ({line.get('tag')})")
