"""Time ranges (spans): one pass cut into ranges gives exactly the frames of one whole pass."""

from __future__ import annotations

import functools
import itertools
import math
import random
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import videogen
from vidlens.config import SamplingConfig
from vidlens.errors import ConfigError
from vidlens.media import FrameSampler, SampledFrame, probe_video
from vidlens.spans import keyframe_spans, keyframe_times, spans_from_keyframes

NOISY = [(2.0, videogen.PALETTE[i]) for i in range(5)]  # 10 s, grain makes frames differ

# name -> writer(folder): videos whose keyframes, frame rates and time lines differ.
GENERATED = {
    # B-frames (pyramid), a keyframe at least every 30 frames and at each scene cut
    "bframes_gop30": lambda d: videogen.write_benchmark_video(
        d / "bframes_gop30.mp4", 12, size=(160, 96), fps=25, gop=30, scene_s=4
    ),
    # long GOPs: ranges start deep inside them
    "bframes_gop250": lambda d: videogen.write_benchmark_video(
        d / "bframes_gop250.mp4", 16, size=(160, 96), fps=25, gop=250, scene_s=9
    ),
    "gop5": lambda d: videogen.write_colour_video(d / "gop5.mp4", NOISY, gop=5, noise=12),
    "ntsc_29_97": lambda d: videogen.write_colour_video(
        d / "ntsc.mp4", NOISY, fps=Fraction(30000, 1001), gop=15, noise=12
    ),
    "offset_start": lambda d: videogen.write_colour_video(
        d / "offset.mp4", NOISY, gop=12, start_s=2.5, noise=12
    ),
    # irregular gaps from 20 ms to 1.5 s, one keyframe: every range starts inside its GOP
    "vfr": lambda d: videogen.write_vfr_video(d / "vfr_long.mp4", _vfr_times()),
    # no keyframe index (Matroska cues load lazily, MPEG-TS has none): ranges read from the start
    "matroska": lambda d: videogen.write_colour_video(
        d / "offset.mkv", NOISY, gop=10, start_s=1.0, noise=12, container_format="matroska"
    ),
    "mpegts": lambda d: videogen.write_colour_video(
        d / "offset.ts", NOISY, gop=10, start_s=1.0, noise=12, container_format="mpegts"
    ),
}
REAL = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4"]

SAMPLINGS = {
    "1fps": SamplingConfig(mode="fps", fps=1.0, short_side=24),
    "7fps": SamplingConfig(mode="fps", fps=7.0, short_side=24),  # most frames
    "0.2fps": SamplingConfig(mode="fps", fps=0.2, short_side=24),  # sparse: seeks
    "frames9": SamplingConfig(mode="frames", frames=9, short_side=24),
    "frames200": SamplingConfig(mode="frames", frames=200, short_side=24),  # > frames in some
}
CUTS = ["planned", "at_keyframes", "mid_gop", "on_frame_times"]


def _vfr_times() -> list[float]:
    rng = random.Random(3)
    times, t = [], 0.0
    while t < 12.0:
        times.append(round(t, 3))
        t += rng.choice([0.02, 0.04, 0.1, 0.3, 0.8, 1.5])
    return times


def sample(path: Path, sampling: SamplingConfig, span: tuple[float, float] | None = None) -> list:
    return list(FrameSampler(path, sampling, span=span))


@functools.cache
def one_pass(path: Path, sampling: SamplingConfig) -> list[SampledFrame]:
    """The reference: the frames of one whole pass (kept for the module's other cuts)."""
    return sample(path, sampling)


def cut_points(kind: str, path: Path, whole: list[SampledFrame]) -> list[float]:
    """Where the ranges start (besides 0.0) for one kind of cut."""
    info = probe_video(path)
    if kind == "planned":
        return [start for start, _ in keyframe_spans(path, 4, info=info)[1:]]
    if kind == "at_keyframes":  # exactly on keyframes: the frame before is in the previous GOP
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            start, tb = stream.start_time or 0, stream.time_base
            keys = [float((f.pts - start) * tb) for f in container.decode(stream) if f.key_frame]
        keys = [k for k in keys if k > 0]
        return keys[:: max(1, len(keys) // 3)][:3] or [info.duration_s / 2]
    if kind == "mid_gop":
        return [info.duration_s * f for f in (0.23, 0.51, 0.77)]
    # exactly on the times of three frames a whole pass gives
    step = max(1, len(whole) // 4)
    return sorted({f.time_s for f in whole[step::step][:3]} - {whole[0].time_s})


def in_spans(path: Path, sampling: SamplingConfig, starts: list[float]) -> list[SampledFrame]:
    edges = [0.0, *starts, math.inf]
    frames: list[SampledFrame] = []
    for span in itertools.pairwise(edges):
        frames.extend(sample(path, sampling, span))
    return frames


def assert_same_frames(got: list[SampledFrame], want: list[SampledFrame]) -> None:
    assert [f.time_s for f in got] == [f.time_s for f in want]  # exactly, not approximately
    assert [f.is_keyframe for f in got] == [f.is_keyframe for f in want]
    for a, b in zip(got, want, strict=True):
        assert np.array_equal(a.rgb, b.rgb), f"pixels differ at {a.time_s:.3f} s"


@pytest.fixture(scope="module")
def generated(video_dir: Path) -> dict[str, Path]:
    folder = video_dir / "spans"
    folder.mkdir(exist_ok=True)
    return {name: write(folder) for name, write in GENERATED.items()}


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("sampling", sorted(SAMPLINGS))
@pytest.mark.parametrize("name", sorted(GENERATED))
def test_spans_give_exactly_one_pass(
    generated: dict[str, Path], name: str, sampling: str, cut: str
) -> None:
    path, config = generated[name], SAMPLINGS[sampling]
    whole = one_pass(path, config)
    assert_same_frames(in_spans(path, config, cut_points(cut, path, whole)), whole)


# 720p clips with one keyframe: every range decodes from the start, so fewer combinations
@pytest.mark.parametrize("cut", ["planned", "mid_gop", "on_frame_times"])
@pytest.mark.parametrize("sampling", ["1fps", "7fps", "frames9"])
@pytest.mark.parametrize("name", REAL)
def test_spans_give_exactly_one_pass_on_real_clips(
    shared_media: Path, name: str, sampling: str, cut: str
) -> None:
    path, config = shared_media / name, SAMPLINGS[sampling]
    whole = one_pass(path, config)
    assert_same_frames(in_spans(path, config, cut_points(cut, path, whole)), whole)


@settings(max_examples=12, deadline=None)
@given(
    fractions=st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=5),
    fps=st.floats(min_value=0.1, max_value=12.0),
)
def test_spans_cut_anywhere_give_one_pass(
    generated: dict[str, Path], fractions: list[float], fps: float
) -> None:
    path = generated["bframes_gop30"]
    config = SamplingConfig(mode="fps", fps=fps, short_side=16)
    duration_s = probe_video(path).duration_s
    starts = sorted({f * duration_s for f in fractions} - {0.0})
    assert_same_frames(in_spans(path, config, starts), sample(path, config))


def test_spans_decode_about_what_one_pass_decodes(generated: dict[str, Path]) -> None:
    # Ranges start just after keyframes: nothing before a range's keyframe is decoded again.
    path, config = generated["bframes_gop30"], SAMPLINGS["1fps"]
    whole = FrameSampler(path, config)
    list(whole)
    decoded = 0
    for span in keyframe_spans(path, 4):
        part = FrameSampler(path, config, span=span)
        list(part)
        decoded += part.stats.frames_decoded
    assert whole.stats.frames_decoded <= decoded <= whole.stats.frames_decoded + 4


def test_truncated_file_spans_past_the_cut_are_empty(bad_inputs: dict[str, Path]) -> None:
    path = bad_inputs["truncated_tail"]  # 4 s whose index survived, the second half missing
    config = SamplingConfig(mode="fps", fps=4.0, short_side=16)
    whole = sample(path, config)
    assert sample(path, config, (3.0, math.inf)) == []
    assert_same_frames(in_spans(path, config, [1.0, 3.0]), whole)


def test_keyframe_times_match_a_full_decode(generated: dict[str, Path]) -> None:
    path = generated["offset_start"]  # keyframes every 12 frames, first timestamp 2.5 s
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start, tb = stream.start_time or 0, stream.time_base
        keys = [float((f.pts - start) * tb) for f in container.decode(stream) if f.key_frame]
    assert keyframe_times(path) == pytest.approx(keys, abs=1e-9)
    assert keyframe_times(generated["mpegts"]) == []  # no index: no split


def test_keyframe_spans_are_about_equal_and_start_after_keyframes(
    generated: dict[str, Path],
) -> None:
    path = generated["gop5"]  # 10 s at 10 fps, a keyframe every 0.5 s
    # a quarter frame after the keyframes nearest to 2.5, 5.0 and 7.5 s
    assert keyframe_spans(path, 4) == [
        (0.0, 2.525),
        (2.525, 5.025),
        (5.025, 7.525),
        (7.525, math.inf),
    ]
    assert keyframe_spans(generated["mpegts"], 4) == [(0.0, math.inf)]


@pytest.mark.parametrize(
    ("keyframes", "count", "expected_starts"),
    [
        ([0.0, 1.0, 2.0, 3.0], 1, [0.0]),
        ([], 4, [0.0]),  # no index: one range
        ([0.0], 4, [0.0]),  # one keyframe: nothing to start at
        ([0.0, 30.0, 60.0, 90.0], 4, [0.0, 30.025, 60.025, 90.025]),
        ([0.0, 50.0], 4, [0.0, 50.025]),  # too few keyframes: fewer ranges
        ([0.0, 10.0, 20.0, 44.0, 70.0, 80.0], 3, [0.0, 44.025, 80.025]),  # nearest keyframe
    ],
)
def test_spans_from_keyframes(
    keyframes: list[float], count: int, expected_starts: list[float]
) -> None:
    spans = spans_from_keyframes(keyframes, 120.0, count, fps=10.0)
    assert [s for s, _ in spans] == pytest.approx(expected_starts)
    assert spans[-1][1] == math.inf
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.parametrize("mode", ["shots", "keyframes"])
def test_span_needs_a_target_mode(generated: dict[str, Path], mode: str) -> None:
    with pytest.raises(ConfigError, match="span"):
        FrameSampler(generated["gop5"], SamplingConfig(mode=mode), span=(1.0, 2.0))


def test_span_must_not_be_empty(generated: dict[str, Path]) -> None:
    with pytest.raises(ConfigError, match="start_s < end_s"):
        FrameSampler(generated["gop5"], SamplingConfig(), span=(2.0, 2.0))


def test_span_reads_from_the_start_when_seeks_land_too_late(
    generated: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cut exactly on keyframes, a seek lands on the range's first frame (the frame before it is
    # unknown there); with one try allowed, the range falls back to reading from the beginning.
    import vidlens.media

    monkeypatch.setattr(vidlens.media, "_SPAN_SEEK_TRIES", 1)
    path, config = generated["gop5"], SAMPLINGS["7fps"]
    whole = one_pass(path, config)
    assert_same_frames(in_spans(path, config, [2.5, 5.0, 7.5]), whole)
