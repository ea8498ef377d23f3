"""The codes a reserving device and the portal exchange: request, authorization and return codes.

Request code (the device makes it; the user pastes it into the portal)::

    <prefix>-Z<PID>:<serial>-<nonce>-<check>      e.g. CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-75

- prefix: two characters A–Z or 0–9 naming the device's licensing agent (stored, not interpreted);
- PID: the product ID, 1–64 characters A–Z, 0–9 and ``. _ / + -`` (no colon);
- serial: the serial number, 1–40 characters A–Z and 0–9;
- nonce: 6–32 letters and digits, new for every request, so a request code is used once;
- check: two letters or digits that the device's licensing agent computes over the rest with an
  algorithm of its own. The portal checks their form, not their value (it cannot recompute them);
  the simulator writes the first two hexadecimal digits of the SHA-256 of everything before the
  last hyphen, the same rule the portal's return codes use.

Authorization code (the portal makes it; the device installs it): a JSON document
``{"format": ..., "payload": {...}, "signature": ...}`` whose signature is the portal's Ed25519
signature (base64) of the payload's canonical form: JSON with sorted keys, no spaces
(separators ``,`` and ``:``), UTF-8. Anyone can check it with the published public key.

Universal authorization key (what Cisco-compatible clients receive for a UNIVERSAL reservation)::

    ABCDEF-GHIJKL-MNOPQR-STUVWX-YZ2345-67ABCD

- six groups of six characters A–Z and 2–7 separated by hyphens: the first 36 characters of the
  unpadded base32 of SHA-256 of the UTF-8 text ``universal|<signature>``, where signature is the
  ``signature`` field of the reservation's authorization code. Cisco's clients for Permanent
  License Reservation accept only this shape; anyone holding the signed authorization code can
  recompute the key from it, so the key names exactly one signed code.

Return code (the device makes it when it gives the licenses back)::

    RT-Z<PID>:<serial>-<proof>-<check>

- proof: the first 16 characters of the unpadded base32 of SHA-256 of the UTF-8 text
  ``release|<PID>:<serial>|<signature>``, where signature is the ``signature`` field of the
  authorization code installed on the device (so a return code answers exactly one code);
- check: the first two characters, upper-case hexadecimal, of the SHA-256 of everything before the
  last hyphen (the portal verifies it, so a mistyped return code is caught before it is compared).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import string
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from smartaccounts.documents import parse_json

AUTHORIZATION_FORMAT = "smartaccounts-license-reservation/1"
RETURN_PREFIX = "RT"
MAX_CODE_LENGTH = 255

# Matched whole (`fullmatch`): `$` would also match before a final newline.
_REQUEST = re.compile(
    r"(?P<prefix>[A-Z0-9]{2})-Z(?P<pid>[A-Z0-9][A-Z0-9._/+-]{0,63}):(?P<serial>[A-Z0-9]{1,40})"
    r"-(?P<nonce>[A-Za-z0-9]{6,32})-(?P<check>[A-Za-z0-9]{2})"
)
_RETURN = re.compile(
    r"RT-Z(?P<pid>[A-Z0-9][A-Z0-9._/+-]{0,63}):(?P<serial>[A-Z0-9]{1,40})-(?P<proof>[A-Z2-7]{16})"
    r"-(?P<check>[0-9A-Fa-f]{2})"
)
_NONCE_ALPHABET = string.ascii_letters + string.digits

REQUEST_FORMAT_HELP = (
    "A request code looks like CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-75: two characters, "
    "a hyphen, Z and the product ID, a colon and the serial number, then a hyphen, the nonce, "
    "a hyphen and two check characters."
)


def check_characters(body: str) -> str:
    """The two check characters of a code whose text before the last hyphen is `body`."""
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:2].upper()


def _compact(text: str) -> str:
    # Codes are pasted from terminals and e-mails: line breaks and spaces inside are not part of them.
    return "".join((text or "").split())


@dataclass(frozen=True)
class RequestCode:
    text: str
    prefix: str
    pid: str
    serial_number: str
    nonce: str

    @property
    def udi(self) -> str:
        return f"PID:{self.pid} SN:{self.serial_number}"


def parse_request_code(text: str) -> RequestCode:
    """Validate a pasted or uploaded request code; ValidationError says what is wrong with it."""
    code = _compact(text)
    if not code:
        raise ValidationError("Enter the request code the device printed.", code="request_code_missing")
    if len(code) > MAX_CODE_LENGTH:
        raise ValidationError(
            f"That is too long for a request code ({len(code)} characters). {REQUEST_FORMAT_HELP}",
            code="request_code_format",
        )
    match = _REQUEST.fullmatch(code)
    if match is None:
        raise ValidationError(f"That is not a valid request code. {REQUEST_FORMAT_HELP}", code="request_code_format")
    return RequestCode(
        text=code, prefix=match["prefix"], pid=match["pid"], serial_number=match["serial"], nonce=match["nonce"]
    )


def make_request_code(*, pid: str, serial_number: str, prefix: str = "CE", nonce: str | None = None) -> str:
    """What a device prints when asked for a reservation request code."""
    nonce = nonce or "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(9))
    body = f"{prefix}-Z{pid}:{serial_number}-{nonce}"
    code = f"{body}-{check_characters(body)}"
    parse_request_code(code)  # refuses a PID or serial number the format cannot carry
    return code


# --- Authorization codes ---------------------------------------------------------------------------


def canonical(payload: dict) -> bytes:
    """The bytes an authorization code's signature covers."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def build_authorization(payload: dict, signature: str) -> str:
    """The authorization code as the device receives it (and the downloaded file holds)."""
    return json.dumps({"format": AUTHORIZATION_FORMAT, "payload": payload, "signature": signature}, indent=2) + "\n"


def load_authorization(text: str) -> dict:
    """Parse an authorization code; ValidationError when it is not one."""
    if not isinstance(text, str):
        raise ValidationError("That is not an authorization code: it is not a JSON document.")
    try:
        document = parse_json(text, name="")
    except ValidationError as error:
        reason = " ".join(error.messages).rstrip(".")
        raise ValidationError(f"That is not an authorization code: it is not a JSON document ({reason}).") from None
    if (
        not isinstance(document, dict)
        or document.get("format") != AUTHORIZATION_FORMAT
        or not isinstance(document.get("payload"), dict)
        or not isinstance(document.get("signature"), str)
    ):
        raise ValidationError(
            f"That is not an authorization code: it needs the format {AUTHORIZATION_FORMAT}, a payload and a signature."
        )
    return document


def verify_authorization(text: str, public_key_pem: str | None = None) -> dict:
    """Check an authorization code's signature; return its payload, or raise ValidationError."""
    from policy import signing

    document = load_authorization(text)
    if not signing.verify(canonical(document["payload"]), document["signature"], public_key_pem=public_key_pem):
        raise ValidationError("The authorization code's signature does not verify with this public key.")
    return document["payload"]


def universal_authorization_key(signature: str) -> str:
    """The short key of a universal reservation's authorization code (see the module docstring)."""
    digest = hashlib.sha256(f"universal|{signature}".encode()).digest()
    text = base64.b32encode(digest).decode("ascii").rstrip("=")[:36]
    return "-".join(text[i : i + 6] for i in range(0, 36, 6))


# --- Return codes ----------------------------------------------------------------------------------


def return_proof(*, pid: str, serial_number: str, signature: str) -> str:
    digest = hashlib.sha256(f"release|{pid}:{serial_number}|{signature}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=")[:16]


def make_return_code(*, pid: str, serial_number: str, signature: str) -> str:
    """What a device prints when it releases the licenses of the authorization code with `signature`."""
    proof = return_proof(pid=pid, serial_number=serial_number, signature=signature)
    body = f"{RETURN_PREFIX}-Z{pid}:{serial_number}-{proof}"
    return f"{body}-{check_characters(body)}"


def return_code_matches(text: str, *, pid: str, serial_number: str, signature: str) -> bool:
    """True when `text` is the return code of the device `pid`/`serial_number` for that authorization code."""
    code = _compact(text)
    match = _RETURN.fullmatch(code)
    if match is None or match["check"].upper() != check_characters(code.rsplit("-", 1)[0]):
        return False
    expected = make_return_code(pid=pid, serial_number=serial_number, signature=signature)
    return secrets.compare_digest(code.rsplit("-", 1)[0], expected.rsplit("-", 1)[0])


def describe_return_code_problem(text: str) -> str | None:
    """Why `text` is not shaped like a return code at all (None when it is)."""
    code = _compact(text)
    if not code:
        return "Enter the return code the device printed when it released its licenses."
    match = _RETURN.fullmatch(code)
    if match is None:
        return (
            "That is not a return code. A return code looks like RT-ZC9300-48P-4X:FOC1234X0AB-ABCDEFGHIJKLMNOP-7F: "
            "RT, a hyphen, Z and the product ID, a colon and the serial number, then a hyphen, 16 characters, "
            "a hyphen and two check characters."
        )
    if match["check"].upper() != check_characters(code.rsplit("-", 1)[0]):
        return "The return code's check characters do not match the rest of it: it was probably mistyped."
    return None
