"""Search internals: batched per-hit work equals the per-video path, exact rounding."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidlens.library import Library, SearchConfig
from vidlens.library._search import _rounded, _standing_out, cell_centres
from vidlens.query.moments import find_moments, saliency_scores


@pytest.mark.parametrize("text", ["red", "something yellow"])
def test_hits_have_the_moments_and_saliency_of_each_video_alone(
    world_library: Path, text: str
) -> None:
    config = SearchConfig()
    with Library.open(world_library, readonly=True) as lib:
        results = lib.search(text, top_k=3, config=config)
        query, _ = lib.query_vector(text, negative_weight=config.negative_weight)
        state = lib.search_state()
        sims = state.matrix @ np.asarray(query, dtype=np.float32)  # as the exact path scores
        assert len(results.results) == 3
        for hit in results.results:
            i = state.video_ids.index(hit.video_id)
            start, n = int(state.row_starts[i]), int(state.row_counts[i])
            curve = sims[start : start + n]
            times = cell_centres(state.times(lib, i), hit.duration_s, lib.sampling)
            moments = _standing_out(find_moments(times, curve, hit.duration_s, config.moments))
            saliency = saliency_scores(times, curve, hit.duration_s, config.saliency_clip_s)
            assert hit.moments == [(round(s, 3), round(e, 3), round(sc, 6)) for s, e, sc in moments]
            assert hit.saliency == [round(x, 6) for x in saliency]


def python_rounded(values: list[float], digits: int) -> list[str]:
    return [round(v, digits).hex() for v in values]


near_halves = st.tuples(st.integers(-(10**9), 10**9), st.integers(0, 8)).map(
    lambda kd: (kd[0] + 0.5) / 10.0 ** kd[1]  # ties in decimal, never quite in binary
)
values = st.lists(
    st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(-2, 2)
    | near_halves
    | near_halves.map(lambda x: math.nextafter(x, math.inf))
    | near_halves.map(lambda x: math.nextafter(x, -math.inf))
    | st.sampled_from([0.0, -0.0, 2.0**52 + 0.5, -(2.0**60), 5e-324, 1e308]),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(values, st.integers(0, 8))
def test_rounding_is_pythons_to_the_bit(xs: list[float], digits: int) -> None:
    assert [x.hex() for x in _rounded(xs, digits)] == python_rounded(xs, digits)


def test_rounding_keeps_non_finite_values() -> None:
    got = _rounded([math.inf, -math.inf, math.nan], 6)
    assert got[:2] == [math.inf, -math.inf] and math.isnan(got[2])
