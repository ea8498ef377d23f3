"""The wire formats: usage reports, change notices and ACKs.

Canonical form (what an HMAC or a signature covers): the JSON document without its top-level
`signature` member, serialised with keys sorted at every level, no insignificant whitespace
(separators `,` and `:`), non-ASCII characters written as UTF-8 (not `\\u` escapes), encoded as
UTF-8. In Python: `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`;
in a shell: `jq -cjS 'del(.signature)'`.

Reports and change notices are signed by the device: `signature` is the lowercase hex
HMAC-SHA256 of the canonical form, keyed with the instance's trust code (its UTF-8 bytes).
ACKs are signed by the portal: `signature` is the base64 Ed25519 signature of the canonical form,
checked with the public key served at /signing-key.pem.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from config.jsondoc import MAX_DEPTH, contains_too_deep
from licensing.identifiers import udi_part

from .schemacheck import Unsupported, compile_schema, python_pattern

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
REPORT_SCHEMA = "usage-report.schema.json"
NOTICE_SCHEMA = "change-notice.schema.json"


class Refusal(ValidationError):
    """A report or notice refused whole. `code` says which rule refused it (stable, for machines)."""

    def __init__(self, message: str, code: str):
        super().__init__(message, code=code)
        self.reason = code


@cache
def _schemas() -> dict[str, dict]:
    return {name: json.loads((SCHEMA_DIR / name).read_text()) for name in (REPORT_SCHEMA, NOTICE_SCHEMA)}


def _inline_refs(node, schemas: dict[str, dict], base: dict):
    """The schema with every `$ref` replaced by what it points to (ours are not recursive).

    Validating against the inlined copy gives the same answers and error paths, without resolving
    references for every document: the ingestion of a report is a hot path.
    """
    if isinstance(node, list):
        return [_inline_refs(item, schemas, base) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        ref = node["$ref"]
        document, _, pointer = ref.partition("#")
        target = schemas[document] if document else base
        for part in pointer.strip("/").split("/"):
            target = target[part]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        resolved = _inline_refs(target, schemas, schemas[document] if document else base)
        return {**resolved, **_inline_refs(rest, schemas, base)}
    return {
        # A pattern is ECMA-262 (`$` is the end of the text); Python's `re` is told so.
        k: python_pattern(v) if k == "pattern" and isinstance(v, str) else _inline_refs(v, schemas, base)
        for k, v in node.items()
        if k not in ("$defs", "$id", "$schema")
    }


@cache
def _validator(name: str) -> Draft202012Validator:
    schemas = _schemas()
    return Draft202012Validator(_inline_refs(schemas[name], schemas, schemas[name]))


@cache
def _compiled(name: str):
    """The schema compiled to plain checks (see `policy.schemacheck`), or None if it uses a keyword the
    compiler does not know (then `jsonschema` alone decides)."""
    schemas = _schemas()
    try:
        return compile_schema(_inline_refs(schemas[name], schemas, schemas[name]))
    except Unsupported:
        return None


def schema_text(name: str = REPORT_SCHEMA) -> str:
    return (SCHEMA_DIR / name).read_text()


def canonical_bytes(document: dict) -> bytes:
    """The bytes a signature covers: the document without `signature`, canonically serialised."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def hmac_signature(document: dict, trust_code: str) -> str:
    return hmac.new(trust_code.encode("utf-8"), canonical_bytes(document), hashlib.sha256).hexdigest()


def sign_with_trust_code(document: dict, trust_code: str) -> dict:
    """A copy of `document` carrying its HMAC signature (what a device does before sending)."""
    signed = {k: v for k, v in document.items() if k != "signature"}
    signed["signature"] = hmac_signature(signed, trust_code)
    return signed


def signature_matches(document: dict, trust_code: str) -> bool:
    given = document.get("signature")
    if not isinstance(given, str) or not trust_code:
        return False
    return hmac.compare_digest(given, hmac_signature(document, trust_code))


def check_schema(document, name: str = REPORT_SCHEMA) -> None:
    """Refuse a document that does not match the JSON Schema, naming the JSON path of the error."""
    compiled = _compiled(name)
    if isinstance(document, dict) and compiled is not None and compiled(document):
        return
    if contains_too_deep(document):  # read from a batch with `config.jsondoc.load_json(cap=True)`
        raise Refusal(f"The document nests arrays or objects more than {MAX_DEPTH} levels deep.", code="too_deep")
    if not isinstance(document, dict):
        raise Refusal("The document must be a JSON object.", code="schema")
    # Not valid (or no compiled check): `jsonschema` names the error and its JSON path.
    error = best_match(_validator(name).iter_errors(document))
    if error is not None:
        # The message quotes the value (`repr`: control characters escaped), cut short: it may be long.
        message = error.message if len(error.message) <= 300 else error.message[:300] + "…"
        raise Refusal(f"The document does not match the format at {error.json_path}: {message}", code="schema")


# Times a document may carry: from the Unix epoch (a device whose clock was never set reports 1970 or
# 1993) to the year 9000, far enough from datetime's limits that adding a policy's days cannot overflow.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9000, 1, 1, tzinfo=UTC)


def parse_time(value: str, path: str) -> datetime:
    """An RFC 3339 timestamp (the schema checked its shape) as an aware UTC datetime, between
    `EARLIEST_TIME` and `LATEST_TIME` (else Refusal `time_out_of_range`)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Refusal(
            f"The document does not match the format at {path}: {value!r} is not a date-time", "schema"
        ) from None
    if parsed.tzinfo is None:  # the schema's pattern requires an offset; belt and braces
        raise Refusal(f"The document does not match the format at {path}: {value!r} has no UTC offset", "schema")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before the first representable UTC instant
        utc = None
    if utc is None or not EARLIEST_TIME <= utc < LATEST_TIME:
        raise Refusal(
            f"{path} is {value}, outside the times the portal accepts ({iso(EARLIEST_TIME)} to {iso(LATEST_TIME)}). "
            "Set the device's clock (NTP) and generate the document again.",
            code="time_out_of_range",
        )
    return utc


def iso(value: datetime | None) -> str | None:
    """How the portal writes times: UTC, `Z`, microseconds only when there are some."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


# --- Parsed documents ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measurement:
    tag: str
    count: int
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Event:
    kind: str  # Change.Kind values
    at: datetime
    from_value: str
    to_value: str
    tag: str = ""


@dataclass
class ParsedReport:
    document: dict
    report_id: uuid.UUID
    pid: str
    serial_number: str
    hostname: str
    software_version: str
    generated_at: datetime
    measurements: list[Measurement] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    _usage: dict[str, int] | None = field(default=None, repr=False, compare=False)

    @property
    def signed(self) -> bool:
        return "signature" in self.document

    @property
    def udi(self) -> str:
        return f"PID:{self.pid} SN:{self.serial_number}"

    def times(self) -> list[tuple[str, datetime]]:
        """Every time in the document with its JSON path (for the future-time check)."""
        found = [("$.generated_at", self.generated_at)]
        for i, m in enumerate(self.measurements):
            found += [(f"$.measurements[{i}].start", m.start), (f"$.measurements[{i}].end", m.end)]
        found += [(f"$.events[{i}].at", e.at) for i, e in enumerate(self.events)]
        return found

    def tags(self) -> set[str]:
        return {m.tag for m in self.measurements} | {e.tag for e in self.events if e.tag}

    def usage_by_tag(self) -> dict[str, int]:
        """The instance's usage the report states: per tag, the count of its latest period (read once)."""
        if self._usage is not None:
            return self._usage
        latest: dict[str, Measurement] = {}
        for m in self.measurements:
            seen = latest.get(m.tag)
            if seen is None or (m.end, m.start, m.count) > (seen.end, seen.start, seen.count):
                latest[m.tag] = m
        self._usage = {tag: m.count for tag, m in latest.items()}
        return self._usage


def _events(items: list[dict], path: str) -> list[Event]:
    events = []
    for i, item in enumerate(items):
        at = parse_time(item["at"], f"{path}[{i}].at")
        if item["type"] == "software_upgrade":
            events.append(Event("software_upgrade", at, item.get("from_version", ""), item["to_version"]))
        else:
            events.append(
                Event(
                    "feature_change", at, str(int(item["from_count"])), str(int(item["to_count"])),
                    item["entitlement_tag"],
                )
            )  # fmt: skip
    return events


def parse_report(document) -> ParsedReport:
    """Validate a usage report against the schema and read it. Raises Refusal(code="schema")."""
    check_schema(document, REPORT_SCHEMA)
    measurements = []
    for i, item in enumerate(document["measurements"]):
        start = parse_time(item["start"], f"$.measurements[{i}].start")
        end = parse_time(item["end"], f"$.measurements[{i}].end")
        if end < start:
            raise Refusal(
                f"The document does not match the format at $.measurements[{i}]: the period ends before it starts",
                "schema",
            )
        # The schema's `integer` includes 2.0: counts are stored as the whole numbers they are.
        measurements.append(Measurement(item["entitlement_tag"], int(item["count"]), start, end))
    return ParsedReport(
        document=document,
        report_id=uuid.UUID(document["report_id"]),
        pid=udi_part(document["udi"]["pid"]),
        serial_number=udi_part(document["udi"]["serial_number"]),
        hostname=document.get("hostname", ""),
        software_version=document.get("software_version", ""),
        generated_at=parse_time(document["generated_at"], "$.generated_at"),
        measurements=measurements,
        events=_events(document.get("events", []), "$.events"),
    )


@dataclass
class ParsedNotice:
    document: dict
    notice_id: uuid.UUID
    pid: str
    serial_number: str
    generated_at: datetime
    changes: list[Event]

    @property
    def udi(self) -> str:
        return f"PID:{self.pid} SN:{self.serial_number}"

    def times(self) -> list[tuple[str, datetime]]:
        return [("$.generated_at", self.generated_at)] + [
            (f"$.changes[{i}].at", c.at) for i, c in enumerate(self.changes)
        ]


def parse_notice(document) -> ParsedNotice:
    check_schema(document, NOTICE_SCHEMA)
    return ParsedNotice(
        document=document,
        notice_id=uuid.UUID(document["notice_id"]),
        pid=udi_part(document["udi"]["pid"]),
        serial_number=udi_part(document["udi"]["serial_number"]),
        generated_at=parse_time(document["generated_at"], "$.generated_at"),
        changes=_events(document["changes"], "$.changes"),
    )


def split_batch(body) -> list:
    """A request body or file: one report, a JSON array of reports, or {"reports": [...]}."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict) and set(body) == {"reports"} and isinstance(body["reports"], list):
        return body["reports"]
    return [body]
