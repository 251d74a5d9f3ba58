"""The request decoder over any JSON: it returns the value, or refuses exactly the bodies
nested deeper than MAX_DEPTH and those holding text UTF-8 cannot encode."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsloop.serve import fastjson
from opsloop.serve.fastjson import MAX_DEPTH, JSONNestingError, UnstorableTextError

text = st.text(st.characters(codec=None, exclude_categories=()), max_size=6)  # surrogates too
values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=20,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def storable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def nest(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@settings(max_examples=300, deadline=None)
@given(value=values, extra=st.integers(0, 40))
def test_decodes_or_refuses_exactly(value: Any, extra: int) -> None:
    value = nest(value, extra)
    body = json.dumps(value).encode()  # ASCII: surrogates as \\u escapes
    if depth(value) > MAX_DEPTH:
        with pytest.raises(JSONNestingError):
            fastjson.loads(body)
    elif not storable(value):
        with pytest.raises(UnstorableTextError):
            fastjson.loads(body)
    else:
        assert fastjson.loads(body) == value


def test_brackets_in_strings_do_not_count() -> None:
    value = {"records": [{"color": "[" * 5_000 + "{" * 5_000}]}
    assert fastjson.loads(json.dumps(value).encode()) == value


def test_huge_numbers_still_reach_validation() -> None:
    assert fastjson.loads(b"[1" + b"0" * 400 + b"]") == [10**400]
