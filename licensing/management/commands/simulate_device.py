"""A small stand-in for a device that reserves licenses: it prints request codes, checks and installs
authorization codes, and prints the return code when it gives the licenses back.

    manage.py simulate_device request --pid C9300-48P-4X --serial FOC2231X0AB
    manage.py simulate_device install authorization.json --pid C9300-48P-4X --serial FOC2231X0AB
    manage.py simulate_device return authorization.json

The formats are in licensing/reservation_codes.py and docs/workflows.md.
"""

import json
import secrets
import string
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from licensing.reservation_codes import make_request_code, make_return_code, verify_authorization
from smartaccounts.documents import decode_text
from smartaccounts.params import has_control_characters

MAX_COUNT = 10_000

_SERIAL_ALPHABET = string.ascii_uppercase + string.digits


def random_serial() -> str:
    return "FOC" + "".join(secrets.choice(_SERIAL_ALPHABET) for _ in range(8))


class Command(BaseCommand):
    help = (
        "Simulate a device that reserves licenses: print request codes, install authorization codes, "
        "print return codes."
    )

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True, metavar="{request,install,return}")
        request = commands.add_parser("request", help="Print a reservation request code.")
        request.add_argument("--pid", default="C9300-48P-4X", help="Product ID (default C9300-48P-4X).")
        request.add_argument("--serial", help="Serial number (default: a random one).")
        request.add_argument("--prefix", default="CE", help="The two characters the code starts with (default CE).")
        request.add_argument("--nonce", help="The nonce (default: a random one; each request needs its own).")
        request.add_argument("--count", type=int, default=1, help="Print this many codes (random serials).")
        for name, text in (
            ("install", "Check an authorization code's signature and that it is for this device."),
            ("return", "Give the licenses back: print the return code for an installed authorization code."),
        ):
            sub = commands.add_parser(name, help=text)
            sub.add_argument("file", help="The authorization code file, or - for standard input.")
            sub.add_argument("--pid", help="This device's product ID (default: the one in the code).")
            sub.add_argument("--serial", help="This device's serial number (default: the one in the code).")
            sub.add_argument("--public-key", help="PEM file of the portal's public key (default: this portal's).")

    def handle(self, *args, **options):
        if options["action"] == "request":
            return self.request(options)
        payload, signature = self.load(options)
        udi = payload["udi"]
        if options["action"] == "install":
            licenses = ", ".join(f"{line['count']} × {line['name']}" for line in payload.get("licenses", []))
            self.stdout.write(
                f"Installed authorization code {payload.get('sequence')} on PID:{udi['pid']} "
                f"SN:{udi['serial_number']}: {licenses}"
            )
            return None
        self.stdout.write(make_return_code(pid=udi["pid"], serial_number=udi["serial_number"], signature=signature))
        return None

    def request(self, options):
        if not 1 <= options["count"] <= MAX_COUNT:
            raise CommandError(f"--count must be from 1 to {MAX_COUNT:,}.")
        for option in ("pid", "serial", "prefix", "nonce"):
            if options[option] and has_control_characters(options[option]):
                raise CommandError(f"--{option} holds a control character or bytes that are not UTF-8.")
        if options["count"] > 1 and (options["serial"] or options["nonce"]):
            raise CommandError(
                "--count makes codes for random serial numbers and nonces; leave out --serial and --nonce."
            )
        for _ in range(options["count"]):
            try:
                code = make_request_code(
                    pid=options["pid"],
                    serial_number=options["serial"] or random_serial(),
                    prefix=options["prefix"],
                    nonce=options["nonce"],
                )
            except ValidationError as error:
                raise CommandError(" ".join(error.messages)) from None
            self.stdout.write(code)

    def load(self, options) -> tuple[dict, str]:
        path = options["file"]
        try:
            text = decode_text(sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes(), name=path)
        except (OSError, ValidationError):
            raise CommandError(f"{path}: not a readable authorization code file.") from None
        try:
            key = Path(options["public_key"]).read_text(encoding="ascii") if options["public_key"] else None
        except (OSError, UnicodeDecodeError):
            raise CommandError(f"{options['public_key']}: not a readable PEM file.") from None
        try:
            payload = verify_authorization(text, public_key_pem=key)
        except ValidationError as error:
            raise CommandError(f"The device refuses the code: {' '.join(error.messages)}") from None
        except ValueError as error:  # the code was read; only the key is left to be wrong
            raise CommandError(f"{options['public_key']}: not an Ed25519 public key ({error}).") from None
        signature = json.loads(text)["signature"]
        udi = payload.get("udi") or {}
        for option, field in (("pid", "pid"), ("serial", "serial_number")):
            if options[option] and options[option] != udi.get(field):
                raise CommandError(
                    f"The device refuses the code: it is for {field.replace('_', ' ')} {udi.get(field)}, "
                    f"and this device's is {options[option]}."
                )
        return payload, signature
