"""JSON documents from outside (device requests, uploaded usage files): parsed with bounds.

`json.loads` follows nesting with recursion: a document nested 100,000 deep raises RecursionError,
and one nested a few hundred deep parses but breaks the next recursive step (a validator, `repr`,
`json.dumps`). Every document that enters the portal is read by `load_json`, which refuses NaN and
Infinity (not JSON), answers what `json` finds wrong, and bounds nesting at `MAX_DEPTH` levels. The
deepest document the portal reads is a batch of reports ({"reports": [{"measurements": [{…}]}]}, five
levels); `MAX_DEPTH` leaves ample room.

Nesting past the bound refuses the whole text (`DocumentError`, code `too_deep`), unless the caller
reads several documents from it (a batch of reports, a usage file) and asks for `cap=True`: then each
array or object past the bound is replaced by `TOO_DEEP`, and only the document holding it is refused
(`contains_too_deep` finds it). `json.loads` (C) reads every text first; only a text it cannot read
for its nesting is read again, without recursion, by `_load_capped`.
"""

from __future__ import annotations

import json
import re
from json.decoder import scanstring

__all__ = ["MAX_DEPTH", "TOO_DEEP", "DocumentError", "contains_too_deep", "load_json", "nesting_exceeds"]

MAX_DEPTH = 32
# The most arrays and objects past MAX_DEPTH a capped read goes through (a document nested 100,000 deep
# is 100,000 of them); past it the whole text is refused, so one request costs a bounded amount of work.
MAX_CAPPED_CONTAINERS = 250_000


class DocumentError(ValueError):
    """The text is not a JSON document the portal reads. `code`: `parse_error` or `too_deep`."""

    def __init__(self, message: str, code: str = "parse_error"):
        super().__init__(message)
        self.code = code


class _TooDeep:
    """Stands for an array or object nested past MAX_DEPTH (in a capped read)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<nested more than {MAX_DEPTH} levels deep>"


TOO_DEEP = _TooDeep()


def _too_deep(max_depth: int) -> DocumentError:
    return DocumentError(f"The document nests arrays or objects more than {max_depth} levels deep.", code="too_deep")


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


def contains_too_deep(value) -> bool:
    """Whether a value read with `cap=True` holds `TOO_DEEP` anywhere (iterative)."""
    pending = [value]
    while pending:
        node = pending.pop()
        if node is TOO_DEEP:
            return True
        if type(node) is dict:
            pending += node.values()
        elif type(node) is list:
            pending += node
    return False


def load_json(text: str | bytes, *, max_depth: int = MAX_DEPTH, cap: bool = False):
    """The document in `text` (bytes are read as UTF-8), or DocumentError saying what is wrong with it.

    `cap`: arrays and objects nested past `max_depth` become `TOO_DEEP` instead of refusing the text."""
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise DocumentError(f"The document is not UTF-8 text (byte {error.start}).") from None
    try:
        value = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        value = _deep
    except json.JSONDecodeError as error:
        raise DocumentError(
            f"The document is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except ValueError as error:  # NaN/Infinity, or an integer of more than 4,300 digits
        raise DocumentError(f"The document is not JSON the portal reads: {error}.") from None
    if value is _deep or nesting_exceeds(value, max_depth):
        if not cap:
            raise _too_deep(max_depth)
        try:
            value = _load_capped(text, max_depth)
        except json.JSONDecodeError as error:  # from scanstring
            raise DocumentError(
                f"The document is not JSON: {error.msg} at line {error.lineno}, column {error.colno}."
            ) from None
        except ValueError as error:
            if isinstance(error, DocumentError):
                raise
            raise DocumentError(f"The document is not JSON the portal reads: {error}.") from None
    return value


_deep = object()  # json.loads ran out of recursion
_SPACE = re.compile(r"[ \t\n\r]*")
# JSON's number grammar, with ASCII digits only (`\d` would take other scripts' digits too).
_NUMBER = re.compile(r"(-?(?:0|[1-9][0-9]*))(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_LITERALS = (("true", True), ("false", False), ("null", None))


def _load_capped(text: str, max_depth: int):
    """`json.loads` without recursion, containers past `max_depth` replaced by TOO_DEEP.

    Strings are read by `json.decoder.scanstring` (what `json.loads` uses), numbers by JSON's grammar;
    only the nesting is walked here, with an explicit stack."""
    return _CappedReader(text, max_depth).read()


_OPENED = object()  # a container was opened: its first value comes next


class _CappedReader:
    """One capped read of `text`: the position, the open containers and how many were capped."""

    def __init__(self, text: str, max_depth: int):
        self.text = text
        self.max_depth = max_depth
        self.stack: list[list] = []  # open containers: [list or dict, the key awaiting a value (objects)]
        self.capped = 0
        self.index = _SPACE.match(text, 0).end()

    def read(self):
        while True:
            value = self._start_value()
            if value is _OPENED:
                continue
            finished, value = self._end_value(value)
            if finished:
                return value

    def _fail(self, message: str) -> DocumentError:
        text, index = self.text, self.index
        line = text.count("\n", 0, index) + 1
        column = index - (text.rfind("\n", 0, index) + 1) + 1
        return DocumentError(f"The document is not JSON: {message} at line {line}, column {column}.")

    def _key_at(self, position: int) -> tuple[str, int]:
        """The object key at `position` and where its value starts (errors are placed at `self.index`)."""
        text = self.text
        if text[position : position + 1] != '"':
            raise self._fail("Expecting property name enclosed in double quotes")
        key, position = scanstring(text, position + 1, True)
        position = _SPACE.match(text, position).end()
        if text[position : position + 1] != ":":
            raise self._fail("Expecting ':' delimiter")
        return key, _SPACE.match(text, position + 1).end()

    def _start_value(self):
        """The value starting at `self.index` when it is whole (a scalar, an empty or capped container),
        else `_OPENED` after opening its container."""
        char = self.text[self.index : self.index + 1]
        if char in ("{", "["):
            return self._open(char)
        if char == '"':
            value, self.index = scanstring(self.text, self.index + 1, True)
            return value
        return self._number_or_literal()

    def _open(self, char: str):
        text = self.text
        deep = len(self.stack) >= self.max_depth
        if deep:
            self.capped += 1
            if self.capped > MAX_CAPPED_CONTAINERS:
                raise _too_deep(self.max_depth)
        self.index = _SPACE.match(text, self.index + 1).end()
        if text[self.index : self.index + 1] == ("}" if char == "{" else "]"):
            self.index += 1
            return TOO_DEEP if deep else {} if char == "{" else []
        if char == "{":
            key, self.index = self._key_at(self.index)
            self.stack.append([{}, key])
        else:
            self.stack.append([[], None])
        return _OPENED

    def _number_or_literal(self):
        number = _NUMBER.match(self.text, self.index)
        if number is not None:
            whole, fraction, exponent = number.groups()
            self.index = number.end()
            return float(whole + (fraction or "") + (exponent or "")) if fraction or exponent else int(whole)
        for word, literal in _LITERALS:
            if self.text.startswith(word, self.index):
                self.index += len(word)
                return literal
        raise self._fail("Expecting value")

    def _end_value(self, value) -> tuple[bool, object]:
        """A value ended: it goes into its container, and containers that end with it close. Returns
        (True, the document) at the end of the text, (False, None) when another value starts."""
        text, stack = self.text, self.stack
        while True:
            if not stack:
                self.index = _SPACE.match(text, self.index).end()
                if self.index != len(text):
                    raise self._fail("Extra data")
                return True, value
            container, key = stack[-1]
            if type(container) is dict:
                container[key] = value
            else:
                container.append(value)
            self.index = _SPACE.match(text, self.index).end()
            char = text[self.index : self.index + 1]
            if char == ",":
                self.index = _SPACE.match(text, self.index + 1).end()
                if type(container) is dict:
                    stack[-1][1], self.index = self._key_at(self.index)
                return False, None
            if char != ("}" if type(container) is dict else "]"):
                raise self._fail("Expecting ',' delimiter")
            self.index += 1
            stack.pop()
            value = container if len(stack) < self.max_depth else TOO_DEEP
