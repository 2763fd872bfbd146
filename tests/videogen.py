"""Small test videos with known content, written with PyAV (libx264 ships in PyAV's wheel).

Every writer produces H.264 ``yuv420p`` in MP4 unless its name says otherwise, and returns the
path it wrote. Content is chosen so that tests can check *what* was decoded *when*:

- :func:`write_colour_video` — solid-colour segments, so the colour at any time is known
  (:func:`colour_at`);
- :func:`write_vfr_video` — irregular timestamps, one distinct colour per frame (:data:`PALETTE`);
- :func:`write_rotated_video` — a phone-style display matrix over an upright quadrant pattern
  (:data:`QUADRANT_COLOURS`);
- :func:`write_offset_start_video` — a stream whose first timestamp is not zero;
- :func:`make_bad_input_corpus` — every odd or broken input the media layer must handle;
- :func:`write_benchmark_video` — a longer 720p30 clip with motion, normal P/B frames and GOP 250.

Colours survive the RGB -> YUV 4:2:0 -> RGB round trip to within a few levels on flat areas
(:data:`COLOUR_TOLERANCE`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

__all__ = [
    "COLOUR_TOLERANCE",
    "PALETTE",
    "QUADRANT_COLOURS",
    "UNREADABLE_INPUTS",
    "VFR_TIMES_S",
    "Rgb",
    "colour_at",
    "make_bad_input_corpus",
    "quadrant_image",
    "segment_starts_s",
    "write_audio_only",
    "write_benchmark_video",
    "write_colour_video",
    "write_offset_start_video",
    "write_rotated_video",
    "write_text_as_video",
    "write_truncated_video",
    "write_vfr_video",
    "write_zero_byte",
]

Rgb = tuple[int, int, int]
PathLike = str | os.PathLike[str]

# Max per-channel difference expected between a written flat colour and its decoded value.
COLOUR_TOLERANCE = 12

# Colours far apart in RGB (and in hue), so that no two are confused after compression.
PALETTE: tuple[Rgb, ...] = (
    (220, 30, 30),
    (30, 200, 40),
    (30, 50, 220),
    (230, 220, 40),
    (200, 40, 200),
    (40, 210, 210),
    (240, 240, 240),
    (20, 20, 20),
    (240, 140, 30),
    (120, 60, 20),
    (130, 130, 130),
    (90, 20, 140),
)

# The upright picture of write_rotated_video: top-left, top-right, bottom-left, bottom-right.
QUADRANT_COLOURS: tuple[Rgb, Rgb, Rgb, Rgb] = (PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[6])

# Default frame times of write_vfr_video: gaps from 20 ms to 0.8 s.
VFR_TIMES_S: tuple[float, ...] = (0.0, 0.04, 0.1, 0.5, 0.52, 1.3, 1.34, 2.0, 2.8, 2.82, 3.0, 3.5)

# Entries of make_bad_input_corpus that probe_video must reject, with a word its message contains.
UNREADABLE_INPUTS: dict[str, str] = {
    "missing": "no such file",
    "zero_byte": "empty",
    "text_as_mp4": "not a video",
    "audio_only": "no video stream",
    "truncated_header": "not a video",
}

_TIME_BASE_MS = Fraction(1, 1000)


@contextmanager
def _h264_writer(
    path: PathLike,
    *,
    size: tuple[int, int],
    fps: float | Fraction,
    time_base: Fraction,
    gop: int | None = None,
    preset: str = "ultrafast",
    crf: int = 18,
    rotation_ccw: int | None = None,
    faststart: bool = False,
    bframes: bool = False,
    open_gop: bool = False,
    scenecut: bool = True,
    container_format: str = "mp4",
) -> Iterator[tuple[av.container.OutputContainer, av.video.stream.VideoStream]]:
    """Open a file with one libx264 stream; yields (container, stream); flushes on exit."""
    width, height = size
    if width % 2 or height % 2:
        raise ValueError(f"yuv420p needs even width and height, got {size}")
    options = {"movflags": "faststart"} if faststart else {}
    container = av.open(os.fspath(path), "w", format=container_format, options=options)
    try:
        rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)
        stream = container.add_stream("libx264", rate=rate)
        stream.width = width
        stream.height = height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        x264_params = [f"keyint={gop}", f"min-keyint={min(gop, 25)}"] if gop else []
        if not bframes:
            x264_params.append("bframes=0")
        if open_gop:
            x264_params.append("open-gop=1")
        if not scenecut:
            x264_params.append("scenecut=0")
        opts: dict[str, object] = {"preset": preset, "crf": str(crf)}
        if x264_params:
            opts["x264-params"] = ":".join(x264_params)
        stream.options = opts
        if rotation_ccw is not None:
            stream.set_display_rotation(rotation_ccw)
        yield container, stream
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()


def _encode(
    container: av.container.OutputContainer,
    stream: av.video.stream.VideoStream,
    frame: av.VideoFrame,
    pts: int,
    time_base: Fraction,
) -> None:
    frame.pts = pts
    frame.time_base = time_base
    for packet in stream.encode(frame):
        container.mux(packet)


def _solid(size: tuple[int, int], rgb: Sequence[int]) -> av.VideoFrame:
    width, height = size
    array = np.empty((height, width, 3), dtype=np.uint8)
    array[...] = np.asarray(rgb, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(array, format="rgb24")


def colour_at(segments: Sequence[tuple[float, Rgb]], time_s: float) -> Rgb:
    """The colour :func:`write_colour_video` shows at ``time_s`` (seconds from the start)."""
    end_s = 0.0
    for duration_s, rgb in segments:
        end_s += duration_s
        if time_s < end_s - 1e-9:
            return rgb
    return segments[-1][1]


def segment_starts_s(segments: Sequence[tuple[float, Rgb]]) -> list[float]:
    """Start times of the segments (the cuts of a colour video, plus 0.0)."""
    starts, t = [], 0.0
    for duration_s, _ in segments:
        starts.append(t)
        t += duration_s
    return starts


def write_colour_video(
    path: PathLike,
    segments: Sequence[tuple[float, Rgb]],
    *,
    fps: float | Fraction = 10.0,
    size: tuple[int, int] = (64, 48),
    gop: int | None = None,
    start_s: float = 0.0,
    faststart: bool = False,
    noise: int = 0,
    container_format: str = "mp4",
) -> Path:
    """Solid colours: each segment is ``(duration_s, (r, g, b))``; frame ``i`` is at ``i / fps``.

    The number of frames is ``round(total_duration * fps)`` (at least one); frame ``i`` shows
    ``colour_at(segments, i / fps)``. ``start_s`` shifts every timestamp (a non-zero stream start).
    ``noise`` > 0 adds per-frame random grain of that amplitude (the mean colour stays), which makes
    frames large and different from each other; ``faststart`` writes the index first;
    ``container_format`` is an FFmpeg muxer name ("mp4", "matroska", "mpegts").
    """
    rate = fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(100000)
    time_base = 1 / rate
    total_s = sum(d for d, _ in segments)
    n_frames = max(1, round(total_s * rate))
    offset = round(start_s * rate)
    with _h264_writer(
        path,
        size=size,
        fps=rate,
        time_base=time_base,
        gop=gop,
        faststart=faststart,
        container_format=container_format,
    ) as (container, stream):
        rng = np.random.default_rng(0)
        last: Rgb | None = None
        frame: av.VideoFrame | None = None
        for i in range(n_frames):
            rgb = colour_at(segments, float(i / rate))
            if noise:
                grain = rng.integers(-noise, noise + 1, size=(size[1], size[0], 3))
                array = np.clip(grain + np.asarray(rgb), 0, 255).astype(np.uint8)
                frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            elif rgb != last or frame is None:
                frame = _solid(size, rgb)
                last = rgb
            _encode(container, stream, frame, offset + i, time_base)
    return Path(path)


def write_vfr_video(
    path: PathLike,
    times_s: Sequence[float] = VFR_TIMES_S,
    *,
    size: tuple[int, int] = (64, 48),
) -> Path:
    """Variable frame rate: frame ``i`` is shown at ``times_s[i]`` in colour ``PALETTE[i % 12]``."""
    if list(times_s) != sorted(set(times_s)):
        raise ValueError("times_s must be strictly increasing")
    with _h264_writer(path, size=size, fps=30, time_base=_TIME_BASE_MS) as (container, stream):
        for i, t in enumerate(times_s):
            frame = _solid(size, PALETTE[i % len(PALETTE)])
            _encode(container, stream, frame, round(t * 1000), _TIME_BASE_MS)
    return Path(path)


def quadrant_image(size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 picture with :data:`QUADRANT_COLOURS` in its four quadrants."""
    width, height = size
    image = np.empty((height, width, 3), dtype=np.uint8)
    h2, w2 = height // 2, width // 2
    image[:h2, :w2] = QUADRANT_COLOURS[0]
    image[:h2, w2:] = QUADRANT_COLOURS[1]
    image[h2:, :w2] = QUADRANT_COLOURS[2]
    image[h2:, w2:] = QUADRANT_COLOURS[3]
    return image


def write_rotated_video(
    path: PathLike,
    rotation: int = 90,
    *,
    display_size: tuple[int, int] = (48, 64),
    fps: float = 10.0,
    seconds: float = 1.0,
) -> Path:
    """A phone-style rotated video whose *displayed* picture is :func:`quadrant_image`.

    ``rotation`` is the clockwise turn a player applies to show the picture upright (the legacy
    ``rotate`` tag; a portrait phone video has 90). Frames are stored turned the other way and a
    display matrix is written, as phones do; ``display_size`` is (width, height) once upright.
    """
    if rotation % 90:
        raise ValueError(f"rotation must be a multiple of 90, got {rotation}")
    upright = quadrant_image(display_size)
    stored = np.ascontiguousarray(np.rot90(upright, k=(rotation // 90) % 4))
    stored_size = (stored.shape[1], stored.shape[0])
    rate = Fraction(fps).limit_denominator(1000)
    time_base = 1 / rate
    with _h264_writer(
        path, size=stored_size, fps=rate, time_base=time_base, rotation_ccw=-rotation
    ) as (container, stream):
        for i in range(max(1, round(seconds * rate))):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            _encode(container, stream, frame, i, time_base)
    return Path(path)


def write_offset_start_video(
    path: PathLike,
    start_s: float = 1.5,
    segments: Sequence[tuple[float, Rgb]] = ((1.0, PALETTE[0]), (1.0, PALETTE[1])),
    *,
    fps: float = 10.0,
) -> Path:
    """Like :func:`write_colour_video` but the stream's first timestamp is ``start_s``."""
    return write_colour_video(path, segments, fps=fps, start_s=start_s)


def write_audio_only(path: PathLike, seconds: float = 1.0, *, sample_rate: int = 22050) -> Path:
    """An MP4 holding one AAC audio stream (a 440 Hz tone) and no video."""
    container = av.open(os.fspath(path), "w", format="mp4")
    try:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        n = round(seconds * sample_rate)
        t = np.arange(n, dtype=np.float32) / sample_rate
        tone = (0.2 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
        for start in range(0, n, frame_size):
            chunk = tone[start : start + frame_size]
            if len(chunk) < frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    finally:
        container.close()
    return Path(path)


def write_truncated_video(path: PathLike, *, keep_header: bool, seconds: float = 4.0) -> Path:
    """A colour video cut to half its bytes.

    With ``keep_header`` the index (``moov``) is written first, so the file opens and its first
    part decodes while the rest is missing; without it the index, written last, is cut away and the
    file cannot be opened at all.
    """
    segments = [(seconds / 4, PALETTE[i]) for i in range(4)]
    write_colour_video(path, segments, size=(96, 64), gop=5, faststart=keep_header, noise=24)
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    return Path(path)


def write_zero_byte(path: PathLike) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def write_text_as_video(path: PathLike) -> Path:
    """A text file with a video file name."""
    Path(path).write_text("this is not a video, just a text file with an .mp4 name\n" * 20)
    return Path(path)


def make_bad_input_corpus(directory: PathLike) -> dict[str, Path]:
    """Write every odd or broken input into ``directory``; returns ``{name: path}``.

    The names in :data:`UNREADABLE_INPUTS` cannot be probed (``missing`` is a path that is not
    written). The others are valid but unusual and must decode with correct times and shapes:

    ``ntsc_29_97`` 1 s at 30000/1001 fps, colours change at 0.5 s; ``one_frame`` a single frame;
    ``short_0_3s`` three frames at 10 fps; ``uhd_4k`` 3840x2160, 1 s at 5 fps; ``vfr``
    (:data:`VFR_TIMES_S`); ``rotated_90`` a portrait phone-style video; ``offset_start`` the first
    frame at 1.5 s; ``truncated_tail`` the first half of a 4 s video whose index survived.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    two = [(0.5, PALETTE[0]), (0.5, PALETTE[1])]
    corpus: dict[str, Path] = {
        "ntsc_29_97": write_colour_video(d / "ntsc_29_97.mp4", two, fps=Fraction(30000, 1001)),
        "one_frame": write_colour_video(d / "one_frame.mp4", [(0.1, PALETTE[2])]),
        "short_0_3s": write_colour_video(d / "short_0_3s.mp4", [(0.3, PALETTE[3])]),
        "uhd_4k": write_colour_video(
            d / "uhd_4k.mp4", [(0.6, PALETTE[4]), (0.4, PALETTE[5])], fps=5, size=(3840, 2160)
        ),
        "vfr": write_vfr_video(d / "vfr.mp4"),
        "rotated_90": write_rotated_video(d / "rotated_90.mp4", 90),
        "offset_start": write_offset_start_video(d / "offset_start.mp4"),
        "truncated_tail": write_truncated_video(d / "truncated_tail.mp4", keep_header=True),
        "truncated_header": write_truncated_video(d / "truncated_header.mp4", keep_header=False),
        "audio_only": write_audio_only(d / "audio_only.mp4"),
        "zero_byte": write_zero_byte(d / "zero_byte.mp4"),
        "text_as_mp4": write_text_as_video(d / "text_as_mp4.mp4"),
        "missing": d / "missing.mp4",
    }
    return corpus


def _benchmark_texture(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A (2H, 2W) uint8 luma texture: smooth blobs plus fine grain, to pan across."""
    h2, w2 = 2 * height, 2 * width
    coarse = rng.random((h2 // 32 + 2, w2 // 32 + 2), dtype=np.float32)
    smooth = np.kron(coarse, np.ones((32, 32), dtype=np.float32))[:h2, :w2]
    # A cheap blur of the blocky upsampling so the encoder sees gradients, not block edges.
    for axis in (0, 1):
        smooth = (smooth + np.roll(smooth, 8, axis) + np.roll(smooth, 16, axis)) / 3
    yy, xx = np.mgrid[0:h2, 0:w2].astype(np.float32)
    ramp = 0.5 + 0.5 * np.sin(xx / 97.0) * np.cos(yy / 61.0)
    grain = rng.random((h2, w2), dtype=np.float32)
    luma = 150 * smooth + 60 * ramp + 25 * grain + 16
    return np.clip(luma, 16, 235).astype(np.uint8)


_PAN_SPEEDS = 10  # scenes (2 minutes) before the pan speed repeats


def write_benchmark_video(
    path: PathLike,
    seconds: float,
    size: tuple[int, int] = (1280, 720),
    fps: int = 30,
    *,
    gop: int = 250,
    preset: str = "veryfast",
    scene_s: float = 12.0,
    seed: int = 0,
    open_gop: bool = False,
    scenecut: bool = True,
) -> Path:
    """A "realistic" H.264 clip for decode benchmarks: panning textured scenes with a moving box.

    Uses x264's ``preset`` (``veryfast``: CABAC, B-frames, deblocking — what cameras and web video
    have) with ``keyint=gop``; a new scene (a different texture) starts every ``scene_s`` seconds.
    Frames are built directly in YUV 4:2:0 with numpy slicing, so writing is encoder-bound.
    """
    width, height = size
    rng = np.random.default_rng(seed)
    n_frames = max(1, round(seconds * fps))
    rate = Fraction(fps)
    time_base = 1 / rate
    textures = [_benchmark_texture(width, height, rng) for _ in range(2)]
    yy, xx = np.mgrid[0 : height // 2, 0 : width // 2].astype(np.float32)
    chroma_u = (128 + 40 * np.sin(xx / 80.0)).astype(np.uint8)
    chroma_v = (128 + 40 * np.cos(yy / 50.0)).astype(np.uint8)
    box = max(16, height // 8)
    buffer = np.empty((height * 3 // 2, width), dtype=np.uint8)
    with _h264_writer(
        path,
        size=size,
        fps=rate,
        time_base=time_base,
        gop=gop,
        preset=preset,
        crf=23,
        bframes=True,
        open_gop=open_gop,
        scenecut=scenecut,
    ) as (container, stream):
        for i in range(n_frames):
            scene = int(i / fps // scene_s)
            texture = textures[scene % len(textures)]
            # Pan at 3-12 pixels per frame, the speed changing with the scene and repeating every
            # 2 minutes. (Until 2026-11-27 it kept growing: 52 px per frame by the tenth minute,
            # a whip-pan with a keyframe every second, 4x the bitrate of the first minute.)
            dx = (3 + scene % _PAN_SPEEDS) * i % width
            dy = (1 + scene % 3) * i % height
            luma = buffer[:height]
            luma[...] = texture[dy : dy + height, dx : dx + width]
            bx = int((width - box) * (0.5 + 0.45 * np.sin(i / (fps * 1.7))))
            by = int((height - box) * (0.5 + 0.45 * np.cos(i / (fps * 2.3))))
            luma[by : by + box, bx : bx + box] = 235 - luma[by : by + box, bx : bx + box] // 4
            u = buffer[height : height + height // 4].reshape(height // 2, width // 2)
            v = buffer[height + height // 4 :].reshape(height // 2, width // 2)
            shift = (i * 2) % (width // 2)
            u[...] = np.roll(chroma_u, shift, axis=1) if scene % 2 else chroma_u
            v[...] = chroma_v
            frame = av.VideoFrame.from_ndarray(buffer, format="yuv420p")
            _encode(container, stream, frame, i, time_base)
    return Path(path)


def _frame_colours(path: PathLike) -> list[tuple[float, Any]]:
    """(time_s, mean rgb) of every frame, for debugging generated files."""
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        return [
            (float(f.time), f.to_ndarray(format="rgb24").reshape(-1, 3).mean(0))
            for f in container.decode(stream)
        ]
