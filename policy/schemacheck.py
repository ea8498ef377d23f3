"""A JSON Schema compiled once into plain Python checks: the fast yes/no of `policy.formats`.

`jsonschema` walks the schema for every document it validates (about 0.2 ms for a usage report),
which is most of the CPU time of an accepted report. `compile_schema` turns a schema whose
references are already inlined into nested closures that answer only "valid or not", with the
semantics of `jsonschema`'s Draft 2020-12 validator for each keyword it knows (same type rules,
`integer` includes floats such as 1.0, `re.search` for `pattern` (given `python_pattern`'s reading of
the ECMA-262 pattern, as the caller gives `jsonschema` too), lengths in code points, `const`
and `enum` compared as `jsonschema` compares strings). A keyword it does not know makes
`compile_schema` raise `Unsupported`, and the caller keeps `jsonschema` alone.

The caller asks `jsonschema` for the error (and its JSON path) whenever the compiled check says
no, so messages are unchanged; the compiled check only decides the common case, a valid document.
tests/policy/test_formats.py holds the two to the same answers on many valid and broken documents.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], bool]

# Keywords that only annotate: they never change whether a document is valid.
ANNOTATIONS = frozenset({"title", "description", "$comment", "examples", "default", "deprecated"})


class Unsupported(Exception):
    """The schema uses a keyword (or a form of one) the compiler does not implement."""


def python_pattern(pattern: str) -> str:
    r"""A JSON Schema pattern (ECMA-262) for Python's `re`: `$` outside a character class becomes `\Z`.

    In ECMA-262 (without the multiline flag) `$` matches only at the end of the text; Python's `$` also
    matches before a final newline, so `^[A-Z0-9]+$` accepted "FOC1\n". Everything else our schemas
    use (`^`, classes, quantifiers, `\uXXXX` escapes) means the same in both.
    """
    out: list[str] = []
    i, in_class = 0, False
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "$":
            char = r"\Z"
        out.append(char)
        i += 1
    return "".join(out)


def _is_integer(value) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _type(names) -> Check:
    names = [names] if isinstance(names, str) else list(names)
    try:
        checks = [TYPES[name] for name in names]
    except KeyError as error:
        raise Unsupported(f"type {error}") from None
    if len(checks) == 1:
        return checks[0]
    return lambda v: any(check(v) for check in checks)


def _strings(values: list) -> frozenset[str]:
    # `jsonschema` compares a string with `==` only; other constants (numbers, booleans, arrays)
    # have subtler rules, so they are left to it.
    if not all(isinstance(v, str) for v in values):
        raise Unsupported("const/enum of non-strings")
    return frozenset(values)


def compile_schema(schema) -> Check:
    """A function answering whether a document is valid against `schema` (references inlined).

    Longer than our usual: one branch per supported JSON Schema keyword, kept in one dispatch so the
    keywords this checker understands read as one list (an unknown one raises `Unsupported`)."""
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, dict):
        raise Unsupported(f"schema {schema!r}")
    checks: list[Check] = []
    for key, value in schema.items():
        if key in ANNOTATIONS or key in ("then", "else"):
            continue
        if key == "type":
            checks.append(_type(value))
        elif key == "properties":
            compiled = [(name, compile_schema(sub)) for name, sub in value.items()]

            def properties(v, compiled=compiled):
                if not isinstance(v, dict):
                    return True
                return all(check(v[name]) for name, check in compiled if name in v)

            checks.append(properties)
        elif key == "required":
            required = tuple(value)
            checks.append(lambda v, required=required: not isinstance(v, dict) or all(k in v for k in required))
        elif key == "additionalProperties":
            if value is not False or "patternProperties" in schema:
                raise Unsupported("additionalProperties other than false")
            allowed = frozenset(schema.get("properties", {}))
            checks.append(lambda v, allowed=allowed: not isinstance(v, dict) or allowed.issuperset(v))
        elif key == "items":
            if "prefixItems" in schema:
                raise Unsupported("prefixItems")
            item = compile_schema(value)
            checks.append(lambda v, item=item: not isinstance(v, list) or all(item(x) for x in v))
        elif key in ("maxItems", "minItems"):
            bound = int(value)
            if key == "maxItems":
                checks.append(lambda v, n=bound: not isinstance(v, list) or len(v) <= n)
            else:
                checks.append(lambda v, n=bound: not isinstance(v, list) or len(v) >= n)
        elif key in ("maxLength", "minLength"):
            bound = int(value)
            if key == "maxLength":
                checks.append(lambda v, n=bound: not isinstance(v, str) or len(v) <= n)
            else:
                checks.append(lambda v, n=bound: not isinstance(v, str) or len(v) >= n)
        elif key == "pattern":
            search = re.compile(value).search
            checks.append(lambda v, search=search: not isinstance(v, str) or search(v) is not None)
        elif key in ("minimum", "maximum"):
            if not _is_number(value):
                raise Unsupported(f"{key} {value!r}")
            if key == "minimum":
                checks.append(lambda v, n=value: not _is_number(v) or v >= n)
            else:
                checks.append(lambda v, n=value: not _is_number(v) or v <= n)
        elif key == "enum":
            allowed = _strings(value)
            checks.append(lambda v, allowed=allowed: isinstance(v, str) and v in allowed)
        elif key == "const":
            (expected,) = _strings([value])
            checks.append(lambda v, expected=expected: isinstance(v, str) and v == expected)
        elif key == "allOf":
            parts = [compile_schema(sub) for sub in value]
            checks.append(lambda v, parts=parts: all(part(v) for part in parts))
        elif key == "if":
            condition = compile_schema(value)
            then = compile_schema(schema.get("then", True))
            otherwise = compile_schema(schema.get("else", True))
            checks.append(
                lambda v, condition=condition, then=then, otherwise=otherwise: then(v) if condition(v) else otherwise(v)
            )
        else:
            raise Unsupported(key)
    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    checks_tuple = tuple(checks)
    return lambda v: all(check(v) for check in checks_tuple)
