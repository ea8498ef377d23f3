"""Text and JSON that people hand to the portal's commands (a catalog, an authorization code, an order file),
read so that whatever is wrong with it is a ValidationError naming the line, never a traceback.

- text must be UTF-8 (a leading byte-order mark is dropped);
- JSON must be standard JSON (no NaN or Infinity), nested at most MAX_JSON_DEPTH deep (checked before
  parsing, without recursion, so 100,000 opening brackets cost a linear scan, not a RecursionError),
  and hold no NUL and no unpaired surrogate in its strings (PostgreSQL refuses NUL in text, and a lone
  surrogate cannot be written as UTF-8, so neither could be stored or signed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from django.core.exceptions import ValidationError

from config.jsondoc import MAX_DEPTH

__all__ = ["MAX_JSON_DEPTH", "decode_text", "item_lines", "parse_json", "read_text_file"]

# One bound for every JSON the portal reads (a catalog is 5 deep, an authorization code 4).
MAX_JSON_DEPTH = MAX_DEPTH


def decode_text(data: bytes, *, name: str) -> str:
    """`data` as UTF-8 text; a ValidationError naming the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ValidationError(
            f"{_at(name, line)}: not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8."
        ) from None


def read_text_file(path: str | Path, *, name: str | None = None) -> str:
    """A file's UTF-8 text (FileNotFoundError when there is no such file)."""
    return decode_text(Path(path).read_bytes(), name=name or str(path))


def parse_json(text: str, *, name: str, max_depth: int = MAX_JSON_DEPTH):
    """The JSON document in `text`; a ValidationError "NAME, line N: …" (or "line N: …" without a name) for
    anything that is not one we accept."""
    _scan(text, name=name, max_depth=max_depth)
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{_at(name, exc.lineno)}: not valid JSON ({exc.msg}).") from None
    except ValueError as exc:  # NaN / Infinity
        raise ValidationError(f"{name + ': ' if name else ''}not valid JSON ({exc}).") from None


def _at(name: str, line: int) -> str:
    return f"{name}, line {line}" if name else f"line {line}"


def _no_constant(value: str):
    raise ValueError(f"{value} is not a JSON number")


def _scan(text: str, *, name: str, max_depth: int) -> None:
    """One pass over the text: nesting depth outside strings, and NUL or unpaired surrogates inside them,
    escaped (\\u0000, \\ud800) or not. Anything else is left to the JSON parser."""
    depth, line, i, n = 0, 1, 0, len(text)
    in_string = False
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        elif in_string:
            if c == '"':
                in_string = False
            elif c == "\\":
                if text[i + 1 : i + 2] == "u":
                    unit = _hex(text[i + 2 : i + 6])
                    if unit == 0:
                        raise ValidationError(f"{_at(name, line)}: a text holds a NUL character (\\u0000).")
                    if unit is not None and 0xD800 <= unit <= 0xDFFF:
                        low = _hex(text[i + 8 : i + 12]) if text[i + 6 : i + 8] == "\\u" else None
                        if unit > 0xDBFF or low is None or not 0xDC00 <= low <= 0xDFFF:
                            raise ValidationError(
                                f"{_at(name, line)}: a text holds an unpaired surrogate (\\u{unit:04x})."
                            )
                        i += 12
                        continue
                    i += 6
                    continue
                i += 2
                continue
            elif c == "\x00" or "\ud800" <= c <= "\udfff":
                raise ValidationError(f"{_at(name, line)}: a text holds a NUL character or an unpaired surrogate.")
        elif c == '"':
            in_string = True
        elif c in "[{":
            depth += 1
            if depth > max_depth:
                raise ValidationError(f"{_at(name, line)}: nested more than {max_depth} deep.")
        elif c in "]}":
            depth -= 1
        i += 1


def _hex(digits: str) -> int | None:
    if len(digits) != 4 or any(d not in "0123456789abcdefABCDEF" for d in digits):
        return None
    return int(digits, 16)


_SPACE = re.compile(r"[ \t\n\r]*")


def item_lines(text: str, key: str) -> list[int]:
    """The line each element of the array `key` of the top-level object starts on, in a text `parse_json`
    accepted (so messages about an element can name its line); [] when there is no such array."""
    decoder = json.JSONDecoder()
    i = _SPACE.match(text, 0).end()
    if text[i : i + 1] != "{":
        return []
    i += 1
    while True:
        i = _SPACE.match(text, i).end()
        if text[i : i + 1] != '"':
            return []
        name, i = decoder.raw_decode(text, i)
        i = _SPACE.match(text, _SPACE.match(text, i).end() + 1).end()  # past the colon
        if name == key and text[i : i + 1] == "[":
            return _element_lines(text, i + 1, decoder)
        _, i = decoder.raw_decode(text, i)
        i = _SPACE.match(text, i).end()
        if text[i : i + 1] != ",":
            return []
        i += 1


def _element_lines(text: str, i: int, decoder: json.JSONDecoder) -> list[int]:
    lines, line, counted = [], 1, 0
    while True:
        i = _SPACE.match(text, i).end()
        if text[i : i + 1] in ("]", ""):
            return lines
        line += text.count("\n", counted, i)
        counted = i
        lines.append(line)
        _, i = decoder.raw_decode(text, i)
        i = _SPACE.match(text, i).end()
        if text[i : i + 1] == ",":
            i += 1
