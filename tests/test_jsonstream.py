"""jsonstream.iter_array: the elements of a JSON array read through a small window equal json.loads'."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.jsonstream import iter_array

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                    st.text(max_size=6), st.sampled_from(["é😀\n", "\\u2028", "2.5", "]", ","]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                                        max_size=3), max_leaves=8)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=8), st.sampled_from([1, 2, 3, 7, 64]), st.booleans(), st.sampled_from([None, 1]))
def test_jsonstream_equals_json_loads_for_any_window(array, chunk, ascii_only, indent):
    raw = json.dumps(array, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    assert list(iter_array(io.BytesIO(raw), chunk_bytes=chunk)) == json.loads(raw)


@pytest.mark.parametrize("raw", [b"", b"{}", b"[1,", b"[1 2]", b"[1]x", b"[,1]", b"[1,]", b"[2.]", b"[tru]", b"[\"a"])
@pytest.mark.parametrize("chunk", [1, 100])
def test_jsonstream_refuses_what_is_not_one_array(raw, chunk):
    with pytest.raises(ValueError):
        list(iter_array(io.BytesIO(raw), chunk_bytes=chunk))
