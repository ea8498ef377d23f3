"""JSON documents from outside (device requests, uploaded usage files): parsed with bounds.

`json.loads` follows nesting with recursion: a document nested 100,000 deep raises RecursionError,
and one nested a few hundred deep parses but breaks the next recursive step (a validator, `repr`,
`json.dumps`). Every document that enters the portal is read by `load_json`, which refuses both with
a `DocumentError`, refuses NaN and Infinity (not JSON), and answers what `json` finds wrong.
The deepest document the portal reads is a batch of reports ({"reports": [{"measurements": [{…}]}]},
five levels); `MAX_DEPTH` leaves ample room.
"""

from __future__ import annotations

import json

__all__ = ["MAX_DEPTH", "DocumentError", "load_json", "nesting_exceeds"]

MAX_DEPTH = 32


class DocumentError(ValueError):
    """The text is not a JSON document the portal reads. `code`: `parse_error` or `too_deep`."""

    def __init__(self, message: str, code: str = "parse_error"):
        super().__init__(message)
        self.code = code


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON value")


def nesting_exceeds(value, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest more than `limit` levels (a scalar is level 0). Iterative, level by level."""
    level = [value] if type(value) in (dict, list) else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below = []
        for node in level:
            children = node.values() if type(node) is dict else node
            below += [child for child in children if type(child) in (dict, list)]
        level = below
    return False


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH):
    """The document in `text` (bytes are read as UTF-8), or DocumentError saying what is wrong with it."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise DocumentError(f"The document is not UTF-8 text (byte {error.start}).") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise DocumentError(
            f"The document nests arrays or objects more than {max_depth} levels deep.", code="too_deep"
        ) from None
    except json.JSONDecodeError as error:
        raise DocumentError(
            f"The document is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except ValueError as error:  # NaN/Infinity, or an integer of more than 4,300 digits
        raise DocumentError(f"The document is not JSON the portal reads: {error}.") from None
    if nesting_exceeds(value, max_depth):
        raise DocumentError(f"The document nests arrays or objects more than {max_depth} levels deep.", code="too_deep")
    return value
