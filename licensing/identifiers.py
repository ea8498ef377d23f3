r"""Identifiers: the rules for what names a device (UDI), a license (entitlement tag), and device-chosen text.

Each rule matches the WHOLE text (`re.fullmatch`, or `\A…\Z`), never `…$`: Python's `$` also matches
before a final newline, so `^[A-Z0-9]+$` let "FOC24100001\n" in as a second device beside "FOC24100001".
The JSON Schemas (policy/schemas) write the same rules as ECMA-262 patterns `^…$`, where `$` is the end
of the text; the portal's validators read them that way (`policy.schemacheck.python_pattern`).

A UDI is one product instance whatever path it takes (registration, usage report, upload, change
notice, reservation request code): every path checks its parts with `udi_part` and stores and looks
them up in the form it returns (upper case).
"""

from __future__ import annotations

import re

__all__ = [
    "STORED_UDI_PART_PATTERN",
    "TAG_MAX_LENGTH",
    "TAG_PATTERN",
    "TEXT_PATTERN",
    "UDI_PART_MAX_LENGTH",
    "UDI_PART_PATTERN",
    "has_control_characters",
    "is_entitlement_tag",
    "printable",
    "udi_part",
]

# PID and serial number: a letter or digit, then letters, digits and . _ / + : - (upper case once stored).
UDI_PART_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._/+:-]*"
STORED_UDI_PART_PATTERN = r"[A-Z0-9][A-Z0-9._/+:-]*"
UDI_PART_MAX_LENGTH = 64
# Entitlement tags (e.g. regid.2017-03.com.cisco.C9300_NW_Advantage,1.0_6f5e7008-…): printable ASCII, no spaces.
TAG_PATTERN = r"[!-~]+"
TAG_MAX_LENGTH = 255

# Text a device chooses (hostname, software version): anything but C0 and C1 control characters (NUL,
# line breaks, tabs, escapes, DEL) and lone UTF-16 surrogates (no character: they cannot be encoded as
# UTF-8, so they can be neither stored nor shown). Written with \u escapes, as the JSON Schemas write it.
_NOT_TEXT = r"\u0000-\u001f\u007f-\u009f\ud800-\udfff"
TEXT_PATTERN = rf"[^{_NOT_TEXT}]*"

_UDI_PART = re.compile(UDI_PART_PATTERN)
_TAG = re.compile(TAG_PATTERN)
_CONTROL = re.compile(rf"[{_NOT_TEXT}]")


def udi_part(value) -> str | None:
    """A PID or serial number in its stored form (upper case), or None when `value` is not one.

    Checked before it is upper-cased: `str.upper` turns some non-ASCII letters into ASCII ones
    ("ı" into "I", "ß" into "SS"), which must not make a second spelling of a UDI.
    """
    if not isinstance(value, str) or len(value) > UDI_PART_MAX_LENGTH or not _UDI_PART.fullmatch(value):
        return None
    return value.upper()


def is_entitlement_tag(value) -> bool:
    return isinstance(value, str) and len(value) <= TAG_MAX_LENGTH and _TAG.fullmatch(value) is not None


def has_control_characters(value: str) -> bool:
    """Whether device-chosen text (a hostname, a software version) holds what no name may: NUL, line
    breaks and other control characters, or lone surrogates."""
    return _CONTROL.search(value) is not None


def printable(value, limit: int = 100) -> str:
    """`value` (text from a refused document) safe to store and show: control characters and lone
    surrogates replaced by U+FFFD, at most `limit` characters."""
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub("\ufffd", value[:limit])
