"""Probe, frame sampling and shot detection: real clips and generated videos of known content."""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import videogen
from vidlens.config import SamplingConfig
from vidlens.errors import ConfigError, MediaError
from vidlens.media import FrameSampler, SampledFrame, check_decode_device, probe_video
from vidlens.shots import ShotDetector, detect_shots

NTSC = Fraction(30000, 1001)
RED, GREEN, BLUE, YELLOW = videogen.PALETTE[:4]
WHITE = videogen.PALETTE[6]


def sample(path: Path | str, **sampling: object) -> list[SampledFrame]:
    return list(FrameSampler(path, SamplingConfig(**sampling)))  # type: ignore[arg-type]


def mean_rgb(frame: SampledFrame) -> np.ndarray:
    return frame.rgb.reshape(-1, 3).mean(axis=0)


def assert_colour(frame: SampledFrame, rgb: tuple[int, int, int]) -> None:
    diff = np.abs(mean_rgb(frame) - np.asarray(rgb))
    assert diff.max() <= videogen.COLOUR_TOLERANCE, f"at {frame.time_s:.3f} s: {mean_rgb(frame)}"


def all_frame_times(path: Path | str) -> list[float]:
    """Reference: the time of every frame, from a plain full decode."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = stream.start_time or 0
        tb = stream.time_base or Fraction(1)
        return sorted(float(((f.pts or 0) - start) * tb) for f in container.decode(stream))


def reference_choice(times: list[float], targets: list[float], half_s: float) -> list[float]:
    """For each target the first frame at/after target - half_s, each frame at most once."""
    chosen: list[float] = []
    j = 0
    for target in targets:
        while j < len(times) and times[j] < target - half_s - 1e-6:
            j += 1
        if j < len(times) and (not chosen or times[j] > chosen[-1]):
            chosen.append(times[j])
    return chosen


# -- real clips ------------------------------------------------------------------------------------

REAL_CLIPS = {
    # name: (width, height, fps, frame_count, duration_s, has_audio)
    "bigbuckbunny.mp4": (1280, 720, 25.0, 132, 5.28, True),
    "bikes.mp4": (640, 272, 25.0, 250, 10.0, False),
    "carphone_pristine.mp4": (176, 144, float(NTSC), 120, 4.004, False),
}


@pytest.mark.parametrize("name", sorted(REAL_CLIPS))
def test_probe_real_clip(shared_media: Path, name: str) -> None:
    width, height, fps, frame_count, duration_s, has_audio = REAL_CLIPS[name]
    info = probe_video(shared_media / name)
    assert (info.width, info.height) == (width, height)
    assert info.fps == pytest.approx(fps, abs=1e-9)
    assert info.frame_count == frame_count
    assert info.duration_s == pytest.approx(duration_s, abs=1e-6)
    assert (info.rotation, info.start_s, info.codec, info.has_audio) == (0, 0.0, "h264", has_audio)
    assert info.size_bytes == (shared_media / name).stat().st_size


@pytest.mark.parametrize(
    ("encoder", "container_format", "codec"),
    [
        ("libx264", "mp4", "h264"),
        ("libx265", "mp4", "hevc"),
        ("libvpx-vp9", "webm", "vp9"),
        ("libsvtav1", "mp4", "av1"),  # decoded by libdav1d, whose name once stood for the codec
    ],
)
def test_probe_names_the_codec_not_the_decoder(
    tmp_path: Path, encoder: str, container_format: str, codec: str
) -> None:
    if encoder not in av.codecs_available:
        pytest.skip(f"this FFmpeg build has no {encoder}")
    path = tmp_path / f"clip.{container_format}"
    with av.open(str(path), "w", format=container_format) as out:
        stream = out.add_stream(encoder, rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(5):
            rgb = np.full((64, 64, 3), 40 * i, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    assert probe_video(path).codec == codec


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bikes.mp4", [float(k) for k in range(10)]),
        ("bigbuckbunny.mp4", [float(k) for k in range(6)]),
        ("carphone_pristine.mp4", [k * 1.001 for k in range(4)]),  # frame 30k is at 1.001 k s
    ],
)
def test_one_fps_on_real_clip(shared_media: Path, name: str, expected: list[float]) -> None:
    frames = sample(shared_media / name, mode="fps", fps=1.0)
    assert [f.time_s for f in frames] == pytest.approx(expected, abs=1e-9)


def test_real_clip_frame_shape(shared_media: Path) -> None:
    (first,) = sample(shared_media / "bigbuckbunny.mp4", mode="frames", frames=1)
    assert first.rgb.shape == (224, 398, 3) and first.rgb.dtype == np.uint8
    assert first.rgb.flags.c_contiguous


def test_carphone_keeps_its_pixel_aspect_and_is_not_upscaled(shared_media: Path) -> None:
    # 176x144 stored with a 128:117 sample aspect ratio: shown 193 wide; short side 144 < 224.
    (first,) = sample(shared_media / "carphone_pristine.mp4", mode="frames", frames=1)
    assert first.rgb.shape == (144, 193, 3)


@pytest.mark.parametrize(
    ("name", "fps", "period"),
    [("bikes.mp4", 30.0, Fraction(1, 25)), ("carphone_pristine.mp4", 30.0, 1 / NTSC)],
)
def test_every_frame_once_with_exact_times(
    shared_media: Path, name: str, fps: float, period: Fraction
) -> None:
    info = probe_video(shared_media / name)
    frames = sample(shared_media / name, mode="fps", fps=fps, short_side=16)
    assert len(frames) == info.frame_count
    assert [f.time_s for f in frames] == [float(i * period) for i in range(info.frame_count)]


def test_frames_mode_real_clip(shared_media: Path) -> None:
    frames = sample(shared_media / "bikes.mp4", mode="frames", frames=16)
    centres = [(k + 0.5) * 10.0 / 16 for k in range(16)]
    assert len(frames) == 16
    for frame, centre in zip(frames, centres, strict=True):
        assert centre - 0.02 <= frame.time_s < centre + 0.04 + 1e-9


BIKES_CUTS_S = [0.0, 1.2, 3.04, 5.48, 7.48, 9.68]  # checked by eye on the decoded frames


def test_keyframes_mode_real_clip(shared_media: Path) -> None:
    frames = sample(shared_media / "bikes.mp4", mode="keyframes")
    assert [f.time_s for f in frames] == pytest.approx(BIKES_CUTS_S, abs=1e-9)
    assert all(f.is_keyframe for f in frames)


def test_detect_shots_real_clip(shared_media: Path) -> None:
    shots = detect_shots(shared_media / "bikes.mp4")
    assert [start for start, _ in shots] == pytest.approx(BIKES_CUTS_S, abs=0.041)
    assert shots[-1][1] == pytest.approx(10.0)


def test_shots_mode_real_clip(shared_media: Path) -> None:
    sampler = FrameSampler(shared_media / "bikes.mp4", SamplingConfig(mode="shots", fps=0.5))
    frames = list(sampler)
    assert [f.time_s for f in frames if f.shot_start] == pytest.approx(BIKES_CUTS_S, abs=0.041)
    assert {0.0, 2.0, 4.0, 6.0, 8.0} <= {round(f.time_s, 6) for f in frames}
    assert [s for s, _ in sampler.shots] == pytest.approx(BIKES_CUTS_S, abs=0.041)


# -- generated videos: content and timing ----------------------------------------------------------

SEGMENTS = [(1.0, RED), (0.5, GREEN), (1.5, BLUE), (1.0, WHITE)]


@pytest.fixture(scope="module")
def colour_video(video_dir: Path) -> Path:
    return videogen.write_colour_video(video_dir / "segments.mp4", SEGMENTS, fps=10)


@pytest.mark.parametrize("sampling", [{"mode": "fps", "fps": 4.0}, {"mode": "frames", "frames": 7}])
def test_colour_at_each_sampled_time(colour_video: Path, sampling: dict[str, object]) -> None:
    frames = sample(colour_video, **sampling)
    assert len(frames) == (16 if sampling["mode"] == "fps" else 7)
    for frame in frames:
        assert_colour(frame, videogen.colour_at(SEGMENTS, frame.time_s))


def test_fps_reports_the_frame_time_not_the_target(colour_video: Path) -> None:
    # 3 fps on a 10 fps video: targets 1/3, 2/3 land between frames; the next frame is chosen
    # when the target is not within half a frame of the previous one.
    times = [f.time_s for f in sample(colour_video, mode="fps", fps=3.0)]
    assert times[:4] == pytest.approx([0.0, 0.3, 0.7, 1.0])


@pytest.fixture(scope="module")
def bframe_video(video_dir: Path) -> Path:
    """B-frames (pyramid), GOP 30 and a new scene every 4 s: what camera/web video looks like."""
    return videogen.write_benchmark_video(
        video_dir / "bframes.mp4", 12, size=(192, 108), fps=25, gop=30, scene_s=4
    )


@pytest.fixture(scope="module")
def bframe_times(bframe_video: Path) -> list[float]:
    return all_frame_times(bframe_video)


@settings(max_examples=25, deadline=None)
@given(
    mode=st.sampled_from(["fps", "frames"]),
    fps=st.floats(min_value=0.05, max_value=30.0),
    n_frames=st.integers(min_value=1, max_value=400),
)
def test_sampler_matches_full_decode(
    bframe_video: Path, bframe_times: list[float], mode: str, fps: float, n_frames: int
) -> None:
    """Skipping, dropping and seeking choose exactly the frames a full decode would."""
    info = probe_video(bframe_video)
    times = bframe_times
    if mode == "fps":
        targets = [k / fps for k in range(math.ceil(info.duration_s * fps - 1e-9))]
    else:
        targets = [(k + 0.5) * info.duration_s / n_frames for k in range(n_frames)]
    expected = reference_choice(times, targets, 0.5 / info.fps)
    frames = sample(bframe_video, mode=mode, fps=fps, frames=n_frames, short_side=16)
    assert [f.time_s for f in frames] == pytest.approx(expected, abs=1e-9)


def test_sparse_targets_seek_and_skip_decoding(bframe_video: Path) -> None:
    sampler = FrameSampler(bframe_video, SamplingConfig(mode="frames", frames=2, short_side=16))
    assert [f.time_s for f in sampler] == pytest.approx([3.0, 9.0])
    assert sampler.stats.seeks >= 1
    assert sampler.stats.frames_decoded < 100  # of 300


def test_one_fps_skips_unreferenced_frames(bframe_video: Path) -> None:
    sampler = FrameSampler(bframe_video, SamplingConfig(mode="fps", fps=1.0, short_side=16))
    assert len(list(sampler)) == 12
    assert sampler.stats.frames_decoded < 200  # of 300: non-reference B-frames were skipped
    assert sampler.stats.frames_converted == 12


@pytest.fixture(scope="module", params=["closed", "open"])
def camera_video(request: pytest.FixtureRequest, video_dir: Path) -> Path:
    """1-s GOPs at 30 fps with B-frames, as phones and cameras write: keyframes on the targets."""
    open_gop = request.param == "open"
    return videogen.write_benchmark_video(
        video_dir / f"camera-{request.param}-gop.mp4",
        10,
        size=(192, 108),
        fps=30,
        gop=30,
        scene_s=100,
        open_gop=open_gop,
        scenecut=False,
    )


def _every_frame(path: Path, short_side: int) -> dict[float, np.ndarray]:
    frames = FrameSampler(path, SamplingConfig(mode="fps", fps=120.0, short_side=short_side))
    return {f.time_s: f.rgb for f in frames}


@pytest.mark.parametrize("fps", [1.0, 0.5, 2.0, 3.0, 0.7])
def test_gops_ending_before_a_target_are_not_decoded_further(
    camera_video: Path, fps: float
) -> None:
    """With 1-s GOPs, 1 fps needs only the keyframes; the frames and pixels are those of a full
    decode. An open GOP (non-IDR keyframes) is decoded without skipping GOP tails or seeking:
    FFmpeg held back or dropped frames after its keyframes once packets before them were left
    out (8 of 10 frames at 1 fps, one of them wrong)."""
    info = probe_video(camera_video)
    full = _every_frame(camera_video, 32)
    targets = [k / fps for k in range(math.ceil(info.duration_s * fps - 1e-9))]
    expected = reference_choice(sorted(full), targets, 0.5 / info.fps)
    sampler = FrameSampler(camera_video, SamplingConfig(mode="fps", fps=fps, short_side=32))
    frames = list(sampler)
    assert [f.time_s for f in frames] == pytest.approx(expected, abs=1e-9)
    for f in frames:
        assert np.array_equal(f.rgb, full[f.time_s]), f.time_s
    if fps == 1.0 and "closed" in camera_video.name:
        # every target is a keyframe: the rest of each GOP is not decoded (before: ~16 per GOP)
        assert sampler.stats.frames_decoded <= len(frames) + 2
    assert sampler.stats.frames_decoded < 300


@pytest.mark.parametrize(("fmt", "suffix"), [("mpegts", ".ts"), ("matroska", ".mkv")])
def test_gops_in_other_containers(
    camera_video: Path, tmp_path: Path, fmt: str, suffix: str
) -> None:
    """Without an MP4 index the keyframe is read from the packets; same frames and pixels."""
    ts = tmp_path / f"camera{suffix}"
    with av.open(str(camera_video)) as src, av.open(str(ts), "w", format=fmt) as out:
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    config = SamplingConfig(mode="fps", fps=1.0, short_side=32)
    from_mp4 = list(FrameSampler(camera_video, config))
    from_ts = list(FrameSampler(ts, config))
    assert [f.time_s for f in from_ts] == pytest.approx([f.time_s for f in from_mp4], abs=1e-6)
    assert [f.time_s for f in from_ts] == pytest.approx(list(range(10)), abs=1e-6)
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(from_mp4, from_ts, strict=True))


def test_threads_do_not_change_the_result(bframe_video: Path) -> None:
    config = SamplingConfig(mode="fps", fps=2.0, short_side=32)
    one = list(FrameSampler(bframe_video, config, threads=1))
    auto = list(FrameSampler(bframe_video, config))
    assert [f.time_s for f in one] == [f.time_s for f in auto]
    assert all(np.array_equal(a.rgb, b.rgb) for a, b in zip(one, auto, strict=True))


@pytest.fixture(scope="module")
def cuda_decode() -> None:
    """Skip unless FFmpeg can decode on a CUDA device here (an NVIDIA GPU and driver)."""
    try:
        check_decode_device("cuda")
    except ConfigError as exc:
        pytest.skip(str(exc))


def _pixel_gap(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return float(diff.mean()), int(diff.max())


@pytest.mark.parametrize(
    "sampling",
    [
        SamplingConfig(mode="fps", fps=1.0, short_side=32),
        SamplingConfig(mode="fps", fps=7.0, short_side=108),
        SamplingConfig(mode="frames", frames=5, short_side=32),
        SamplingConfig(mode="keyframes", short_side=32),
        SamplingConfig(mode="shots", fps=0.5, short_side=32),
    ],
    ids=["1fps", "7fps-full-size", "frames5", "keyframes", "shots"],
)
def test_cuda_decoder_gives_the_cpu_frames(
    cuda_decode: None, bframe_video: Path, camera_video: Path, sampling: SamplingConfig
) -> None:
    """NVDEC gets the same packets: the same frames at the same times, the same pictures."""
    for path in (bframe_video, camera_video):
        cpu = list(FrameSampler(path, sampling))
        gpu_sampler = FrameSampler(path, sampling, device="cuda")
        gpu = list(gpu_sampler)
        assert gpu_sampler.stats.hw_decoded
        assert [f.time_s for f in gpu] == [f.time_s for f in cpu]
        assert [f.is_keyframe for f in gpu] == [f.is_keyframe for f in cpu]
        assert [f.shot_start for f in gpu] == [f.shot_start for f in cpu]
        for a, b in zip(cpu, gpu, strict=True):
            # H.264 decoding is exact; the GPU hands back NV12 (interleaved chroma) where the
            # CPU gives planar YUV, and swscale rounds the two to RGB slightly differently
            # (H200: mean 0.71, at most 2 levels of 255 at full size)
            mean, most = _pixel_gap(a.rgb, b.rgb)
            assert mean < 1.0 and most <= 4, (path.name, a.time_s, mean, most)


def test_cuda_decoder_in_a_time_range(cuda_decode: None, bframe_video: Path) -> None:
    config = SamplingConfig(mode="fps", fps=2.0, short_side=32)
    whole = [f.time_s for f in FrameSampler(bframe_video, config)]
    parts = [
        f.time_s
        for span in ((0.0, 4.5), (4.5, 9.0), (9.0, math.inf))
        for f in FrameSampler(bframe_video, config, span=span, device="cuda")
    ]
    assert parts == whole


def test_decode_device_is_checked(video_dir: Path) -> None:
    with pytest.raises(ConfigError, match="cpu, cuda or cuda:N"):
        FrameSampler(video_dir / "any.mp4", SamplingConfig(), device="gpu")
    with pytest.raises(ConfigError, match="cpu, cuda or cuda:N"):
        check_decode_device("cuda:first")
    check_decode_device("cpu")  # nothing to check
    try:
        check_decode_device("cuda")
    except ConfigError as exc:  # no GPU here: the reason, and what to do
        assert "decode device cuda" in str(exc)
        assert "on the CPU (the default)" in str(exc)


def test_vfr_times_come_from_timestamps(bad_inputs: dict[str, Path]) -> None:
    frames = sample(bad_inputs["vfr"], mode="fps", fps=60.0)  # every frame
    assert [f.time_s for f in frames] == pytest.approx(videogen.VFR_TIMES_S, abs=1e-9)
    for i, frame in enumerate(frames):
        assert_colour(frame, videogen.PALETTE[i])
    # 1 fps: target 1.0 falls in the gap 0.52 -> 1.3, target 3.0 on the frame at 3.0.
    ones = sample(bad_inputs["vfr"], mode="fps", fps=1.0)
    assert [f.time_s for f in ones] == pytest.approx([0.0, 1.3, 2.0, 3.0], abs=1e-9)


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_is_upright(video_dir: Path, rotation: int) -> None:
    path = videogen.write_rotated_video(video_dir / f"rot{rotation}.mp4", rotation)
    info = probe_video(path)
    assert (info.rotation, info.width, info.height) == (rotation, 48, 64)
    frame = sample(path, mode="frames", frames=1)[0]
    assert frame.rgb.shape == (64, 48, 3)
    quadrants = [frame.rgb[:32, :24], frame.rgb[:32, 24:], frame.rgb[32:, :24], frame.rgb[32:, 24:]]
    for quadrant, colour in zip(quadrants, videogen.QUADRANT_COLOURS, strict=True):
        inner = quadrant[4:-4, 4:-4].reshape(-1, 3).mean(axis=0)
        assert np.abs(inner - np.asarray(colour)).max() <= videogen.COLOUR_TOLERANCE


def test_offset_start_is_subtracted(bad_inputs: dict[str, Path]) -> None:
    info = probe_video(bad_inputs["offset_start"])
    assert info.start_s == pytest.approx(1.5)
    assert info.duration_s == pytest.approx(2.0)
    frames = sample(bad_inputs["offset_start"], mode="fps", fps=2.0)
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert_colour(frames[1], RED)
    assert_colour(frames[2], GREEN)


@pytest.mark.parametrize("fmt", ["matroska", "mpegts"])
def test_other_containers_with_start_offset(video_dir: Path, fmt: str) -> None:
    segments = [(2.0, RED), (2.0, GREEN)]
    path = videogen.write_colour_video(
        video_dir / f"offset.{fmt}", segments, container_format=fmt, start_s=3.0
    )
    info = probe_video(path)
    assert info.start_s == pytest.approx(3.0)
    frames = sample(path, mode="fps", fps=1.0)
    assert [f.time_s for f in frames] == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert_colour(frames[0], RED)
    assert_colour(frames[3], GREEN)


def test_long_mpegts_without_index_seeks_blind(video_dir: Path) -> None:
    segments = [(10.0, videogen.PALETTE[i]) for i in range(10)]
    path = videogen.write_colour_video(
        video_dir / "long.ts", segments, container_format="mpegts", gop=50
    )
    sampler = FrameSampler(path, SamplingConfig(mode="frames", frames=3, short_side=16))
    frames = list(sampler)
    assert [f.time_s for f in frames] == pytest.approx([16.7, 50.0, 83.3])
    assert sampler.stats.seeks >= 1
    for frame in frames:
        assert_colour(frame, videogen.colour_at(segments, frame.time_s))


def test_raw_stream_without_timestamps(video_dir: Path) -> None:
    # An elementary stream has no container: no timestamps, no duration, no index.
    segments = [(1.0, RED), (1.0, GREEN)]
    path = videogen.write_colour_video(
        video_dir / "raw.h264", segments, container_format="h264", gop=5
    )
    info = probe_video(path)
    assert info.frame_count == 20
    keyframes = sample(path, mode="keyframes")
    assert [f.time_s for f in keyframes] == pytest.approx([k * 5 / info.fps for k in range(4)])
    assert_colour(keyframes[0], RED)
    assert_colour(keyframes[3], GREEN)


def test_ntsc_times_are_exact(bad_inputs: dict[str, Path]) -> None:
    info = probe_video(bad_inputs["ntsc_29_97"])
    assert info.fps == float(NTSC)
    frames = sample(bad_inputs["ntsc_29_97"], mode="fps", fps=30.0)
    assert [f.time_s for f in frames] == [float(i / NTSC) for i in range(30)]


@pytest.mark.parametrize("name", ["one_frame", "short_0_3s"])
@pytest.mark.parametrize("mode", ["fps", "frames", "keyframes", "shots"])
def test_tiny_videos_give_a_frame(bad_inputs: dict[str, Path], name: str, mode: str) -> None:
    frames = sample(bad_inputs[name], mode=mode)
    assert len(frames) >= 1
    assert frames[0].time_s == 0.0


def test_4k_is_scaled_to_short_side(bad_inputs: dict[str, Path]) -> None:
    info = probe_video(bad_inputs["uhd_4k"])
    assert (info.width, info.height) == (3840, 2160)
    frames = sample(bad_inputs["uhd_4k"], mode="fps", fps=2.0)
    assert [f.rgb.shape for f in frames] == [(224, 398, 3)] * 2
    assert_colour(frames[0], videogen.PALETTE[4])
    assert_colour(frames[1], videogen.PALETTE[4])


def test_frames_mode_with_more_targets_than_frames(bad_inputs: dict[str, Path]) -> None:
    frames = sample(bad_inputs["short_0_3s"], mode="frames", frames=50)
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.1, 0.2])


# -- shots -----------------------------------------------------------------------------------------

CUT_SEGMENTS = [(1.2, RED), (0.7, GREEN), (2.0, BLUE), (0.6, YELLOW), (1.5, WHITE)]


def first_frames_of_segments(fps: int) -> list[float]:
    """Time of the first frame showing each segment (cuts between frames show on the next one)."""
    return [math.ceil(s * fps - 1e-9) / fps for s in videogen.segment_starts_s(CUT_SEGMENTS)]


@pytest.mark.parametrize("noise", [0, 20])
def test_detect_shots_finds_generated_cuts(video_dir: Path, noise: int) -> None:
    path = videogen.write_colour_video(
        video_dir / f"cuts{noise}.mp4", CUT_SEGMENTS, fps=25, noise=noise
    )
    shots = detect_shots(path)
    assert [s for s, _ in shots] == pytest.approx(first_frames_of_segments(25), abs=1e-9)
    assert shots[-1][1] == pytest.approx(6.0)


def test_shots_mode_yields_each_shot_start(video_dir: Path) -> None:
    path = videogen.write_colour_video(video_dir / "cuts_shots.mp4", CUT_SEGMENTS, fps=25)
    sampler = FrameSampler(path, SamplingConfig(mode="shots", fps=1.0))
    frames = list(sampler)
    starts = first_frames_of_segments(25)
    assert [f.time_s for f in frames if f.shot_start] == pytest.approx(starts, abs=1e-9)
    for frame in frames:
        assert_colour(frame, videogen.colour_at(CUT_SEGMENTS, frame.time_s))
    times = [f.time_s for f in frames]
    assert times == sorted(set(times))


def test_shot_detector_ignores_flashes_shorter_than_min_shot() -> None:
    detector = ShotDetector(0.35, min_shot_s=0.5)
    red = np.full((8, 8, 3), RED, dtype=np.uint8)
    blue = np.full((8, 8, 3), BLUE, dtype=np.uint8)
    pushes = [(0.0, red), (0.1, red), (0.2, blue), (0.3, red), (0.6, blue), (0.7, blue)]
    assert [detector.push(t, img) for t, img in pushes] == [True, False, False, False, True, False]
    assert detector.shots(1.0) == [(0.0, 0.6), (0.6, 1.0)]


# -- bad inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(videogen.UNREADABLE_INPUTS))
def test_unreadable_inputs_raise_media_error(bad_inputs: dict[str, Path], name: str) -> None:
    path = bad_inputs[name]
    with pytest.raises(MediaError) as excinfo:
        probe_video(path)
    message = str(excinfo.value)
    assert str(path) in message and videogen.UNREADABLE_INPUTS[name] in message
    assert "\n" not in message
    with pytest.raises(MediaError):
        FrameSampler(path, SamplingConfig())


@pytest.mark.parametrize(("suffix", "kind"), [(".png", "png"), (".jpg", "jpeg"), (".bmp", "bmp")])
def test_still_pictures_are_not_videos(tmp_path: Path, suffix: str, kind: str) -> None:
    """FFmpeg opens a picture as a one-frame stream; indexed, it was a 0.0 s "video"."""
    from PIL import Image

    path = tmp_path / f"photo{suffix}"
    Image.new("RGB", (64, 48), (200, 20, 20)).save(path)
    with pytest.raises(MediaError, match=rf"a still picture \({kind}\), not a video; .*--image"):
        probe_video(path)


def test_truncated_file_yields_what_decoded(
    bad_inputs: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    info = probe_video(bad_inputs["truncated_tail"])
    assert info.duration_s == pytest.approx(4.0)
    with caplog.at_level(logging.WARNING, logger="vidlens.media"):
        frames = sample(bad_inputs["truncated_tail"], mode="fps", fps=2.0)
    assert [f.time_s for f in frames] == pytest.approx([0.0, 0.5, 1.0, 1.5])
    assert "truncated" in caplog.text


def test_nothing_decodable_raises(video_dir: Path) -> None:
    # The header survives but every frame's bytes are zeroed.
    path = videogen.write_colour_video(
        video_dir / "zeroed.mp4", [(1.0, RED)], size=(96, 64), faststart=True, noise=24
    )
    with av.open(str(path)) as container:
        first = next(p for p in container.demux(container.streams.video[0]) if p.size)
        data_start = first.pos or 0
    info = probe_video(path)
    data = bytearray(path.read_bytes())
    data[data_start:] = bytes(len(data) - data_start)
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError, match="no frame could be decoded"):
        list(FrameSampler(path, SamplingConfig(), info=info))


def test_file_deleted_after_probe(video_dir: Path) -> None:
    path = videogen.write_colour_video(video_dir / "deleted.mp4", [(1.0, RED)])
    sampler = FrameSampler(path, SamplingConfig())
    path.unlink()
    with pytest.raises(MediaError, match="no such file"):
        list(sampler)
