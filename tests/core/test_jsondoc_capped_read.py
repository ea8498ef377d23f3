"""The capped read of `config.jsondoc` (documents nested past the bound) agrees with `json.loads`."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from config.jsondoc import TOO_DEEP, DocumentError, _load_capped

SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5)
)
DOCUMENTS = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4)
)


def capped(value, max_depth: int, level: int = 1):
    """`value` with every array or object nested deeper than `max_depth` levels replaced by TOO_DEEP."""
    if type(value) not in (dict, list):
        return value
    if level > max_depth:
        return TOO_DEEP
    if type(value) is dict:
        return {key: capped(item, max_depth, level + 1) for key, item in value.items()}
    return [capped(item, max_depth, level + 1) for item in value]


@settings(max_examples=50, deadline=None)
@given(DOCUMENTS, st.integers(min_value=0, max_value=4), st.sampled_from([None, 0, 2]))
def test_containers_past_the_bound_become_too_deep_and_the_rest_reads_as_json_loads_reads_it(doc, depth, indent):
    text = json.dumps(doc, indent=indent)

    assert _load_capped(text, depth) == capped(json.loads(text), depth)


@settings(max_examples=50, deadline=None)
@given(DOCUMENTS, st.data())
def test_a_damaged_text_is_refused_exactly_when_json_loads_refuses_it(doc, data):
    text = json.dumps(doc)
    position = data.draw(st.integers(min_value=0, max_value=len(text)))
    text = text[:position] + data.draw(st.sampled_from(list('{}[],:"0-e. x'))) + text[position + 1 :]
    try:
        expected = json.loads(text)
    except ValueError:
        expected = DocumentError
    try:
        read = _load_capped(text, 1000)
    except ValueError:
        read = DocumentError

    assert read == expected
