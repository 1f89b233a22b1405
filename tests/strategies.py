"""Hypothesis strategies shared by tests."""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["JSON_VALUES"]

# Any JSON value with integers in 64 bits (what databases and orjson hold exactly).
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
