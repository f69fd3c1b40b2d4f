"""Rotation envelopes, their inverse, and UTF-16 <-> code-point offsets."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from data_labeling_pipeline.labelstudio.common import clean_number
from data_labeling_pipeline.labelstudio.geometry import (
    codepoints_to_utf16,
    rectangle_from_envelope,
    rotated_envelope,
    utf16_to_codepoints,
)
from data_labeling_pipeline.labelstudio.regions import resolve_offsets


def test_geometry_reference_rotated_box_envelope():
    # a-box-04: rotation 90 about (400, 100), 200 x 80 px -> covers x 320..400, y 100..300
    assert [clean_number(v) for v in rotated_envelope(400, 100, 200, 80, 90)] == [320, 100, 80, 200]
    assert [clean_number(v) for v in rectangle_from_envelope(320, 100, 80, 200, 90)] == [400, 100, 200, 80]


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [(0, (10, 20, 30, 40)), (180, (-20, -20, 30, 40)), (270, (10, -10, 40, 30)), (360, (10, 20, 30, 40))],
)
def test_geometry_envelope_at_right_angles_is_exact(rotation, expected):
    assert rotated_envelope(10, 20, 30, 40, rotation) == expected


def test_geometry_envelope_at_45_degrees_inverts_to_a_square():
    ex, ey, ew, eh = rotated_envelope(0, 0, 10, 10, 45)
    assert math.isclose(ew, eh)
    x, y, w, h = rectangle_from_envelope(ex, ey, ew, eh, 45)
    assert math.isclose(w, 10) and math.isclose(h, 10) and abs(x) < 1e-9 and abs(y) < 1e-9
    assert rectangle_from_envelope(0, 0, 10, 20, 45) is None  # a 45° envelope is always square


@settings(max_examples=60, deadline=None)
@given(
    x=st.floats(-100, 2000),
    y=st.floats(-100, 2000),
    w=st.floats(0.5, 2000),
    h=st.floats(0.5, 2000),
    rotation=st.floats(0, 360).filter(lambda r: abs(math.cos(math.radians(2 * r))) > 0.05),
)
def test_geometry_envelope_inverse_property(x, y, w, h, rotation):
    envelope = rotated_envelope(x, y, w, h, rotation)
    back = rectangle_from_envelope(*envelope, rotation)
    assert back is not None
    assert all(
        math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6) for a, b in zip(back, (x, y, w, h), strict=True)
    )


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.sampled_from(list("ab é\U0001f600\U0001f1f3\U0001f1f4")), max_size=20), data=st.data())
def test_geometry_utf16_offsets_round_trip_property(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    u_start, u_end = codepoints_to_utf16(text, start, end)
    assert utf16_to_codepoints(text, u_start, u_end) == (start, end)


def test_geometry_utf16_offset_inside_a_surrogate_pair_is_none():
    text = "\U0001f600 Zoë"
    assert utf16_to_codepoints(text, 1, 3) is None  # between the two halves of the emoji
    assert utf16_to_codepoints(text, 0, 99) is None


def test_geometry_resolve_offsets_prefers_code_points():
    text = "\U0001f600 Zoë Zoë"
    assert resolve_offsets(text, 2, 5, "Zoë") == (2, 5, "ok")
    assert resolve_offsets(text, 3, 6, "Zoë") == (2, 5, "utf16")
    assert resolve_offsets(text, 4, 6, "Zoë") is None
    assert resolve_offsets(None, 4, 6, "Zoë") == (4, 6, "ok")
