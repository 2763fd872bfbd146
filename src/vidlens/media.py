"""Probe videos and decode the frames a sampling recipe asks for, with PyAV.

Decoding is the expensive part of ingest, so :class:`FrameSampler` decodes as little as the recipe
allows while reporting exact presentation times:

- Every packet is looked at before it reaches the decoder. A packet whose frame is the one chosen
  for some target time is decoded in full; any other packet is sent with
  ``skip_frame = "NONREF"``, so frames that nothing references are never reconstructed.
- Once every target inside the current GOP has its frame, the rest of the GOP is not decoded at
  all (known from the next keyframe's time in the index, or from the times of the packets read
  ahead: with 1-s GOPs at 1 fps only the keyframes are decoded); when the next target lies
  several seconds (and at least one whole GOP) ahead, the sampler seeks to the keyframe before
  it. Keyframe positions come from the container's index, so they cost nothing to know. An H.264
  stream with open GOPs (non-IDR keyframes) is decoded without either shortcut: FFmpeg does not
  restart cleanly at such a keyframe once packets before it were left out.
- Only the chosen frames are converted to RGB, scaled straight to the output size by swscale.

The frame chosen for a target time ``T`` is the first frame of the stream whose presentation time
is at or after ``T`` minus half a source frame interval, which is what decoding every frame and
picking would give; the time reported is that frame's own time, never ``T``.

A sampler can be limited to one time range (``span``), so that several processes decode one long
video at once: each range gives exactly the frames a whole pass gives within it. Whether a frame
is chosen depends only on its own time and that of the frame before it (is some target's time, less
half a frame interval, in between?), so a range starts decoding at the last keyframe *before* its
start, where the packets tell the time of the frame before its first one (see
:mod:`vidlens.spans` for choosing the ranges).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import logging
import math
import os
import time
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from .config import SamplingConfig
from .errors import ConfigError, MediaError
from .shots import DEFAULT_MIN_SHOT_S, SMALL_SIDE_PX, ShotDetector

__all__ = [
    "SPAN_MODES",
    "DecodeStats",
    "FrameSampler",
    "SampledFrame",
    "VideoInfo",
    "check_decode_device",
    "parse_decode_device",
    "probe_video",
]

logger = logging.getLogger(__name__)

# Packets held back before decoding, so the frame that precedes each packet in presentation order
# is known (H.264/HEVC reorder by at most 16 frames), and so that the last frame time of a short
# GOP (1-2 s, as cameras write) is known before its first frames are decoded.
_LOOKAHEAD_PACKETS = 64
# Seek (instead of reading and dropping packets) when the next keyframe needed is this far ahead.
_SEEK_MIN_S = 4.0
# Without a keyframe index (MPEG-TS) a seek may land seconds away from its target, even after it:
# only for big gaps, aiming well before the target.
_BLIND_SEEK_MIN_S = 30.0
_BLIND_SEEK_BACKOFF_S = 10.0
# A time range starts at the last keyframe before its start; when a seek lands at or after the
# start anyway (an index whose timestamps are off), try this many keyframes further back, then
# read from the beginning.
_SPAN_SEEK_TRIES = 3
# Sampling modes that can be limited to a time range (shot detection needs the whole stream, and
# keyframes are cheap enough to read in one pass).
SPAN_MODES = ("fps", "frames")
# Give up on a stream after this many packets in a row fail to decode.
_MAX_CONSECUTIVE_ERRORS = 16
# probe_video decodes the first frame (rotation side data, and a check that the stream decodes).
_PROBE_MAX_PACKETS = 256
# Decoder threading: frame and slice threads, FFmpeg picks the count when threads=0.
_THREAD_TYPE = "AUTO"
# Downscaling by large factors: area averaging keeps detail without aliasing.
_INTERPOLATION = "AREA"
# The shot detector's tiny frames only feed a colour histogram: plain subsampling is 2x cheaper
# than area averaging and moves the cut / no-cut scores of bikes.mp4 by < 0.05.
_SMALL_INTERPOLATION = "FAST_BILINEAR"
_EPS_S = 1e-6


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe_video` learns about a file without decoding it (beyond one frame)."""

    path: str
    duration_s: float  # playable duration of the video stream in seconds
    fps: float  # average frame rate (29.97 stays 30000/1001 = 29.97002997...)
    frame_count: int  # exact when the container says so, else round(duration_s * fps)
    width: int  # picture width in pixels once rotation is applied (as ffprobe reports it)
    height: int  # picture height in pixels once rotation is applied
    rotation: int  # clockwise degrees a player turns the picture (0, 90, 180, 270)
    start_s: float  # the stream's first presentation time in seconds (non-zero for some files)
    codec: str  # FFmpeg codec name, e.g. "h264", "hevc", "vp9", "av1" (not the decoder's)
    size_bytes: int
    has_audio: bool


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame, upright and scaled."""

    time_s: float  # presentation time minus the stream's start time; the first frame is ~0.0
    rgb: np.ndarray  # (H, W, 3) uint8, upright, short side == min(short_side, source short side)
    is_keyframe: bool
    shot_start: bool  # "shots" mode: the first sampled frame of a detected shot


@dataclass
class DecodeStats:
    """Counters of one :class:`FrameSampler` iteration (for logs and benchmarks)."""

    strategy: str = ""  # how packets were chosen: "targets", "keyframes" or "every-frame"
    packets_read: int = 0
    packets_dropped: int = 0  # demuxed but never sent to the decoder
    bytes_read: int = 0  # compressed bytes of the packets demuxed
    frames_decoded: int = 0  # frames the decoder returned (skipped non-reference ones excluded)
    frames_converted: int = 0  # frames converted to full-size RGB
    frames_yielded: int = 0
    seeks: int = 0
    decode_errors: int = 0
    hw_decoded: bool = False  # the GPU decoded the frames (NV12/P010 came back, not planar YUV)
    wall_s: float = 0.0  # seconds spent inside the iterator (demux, decode, convert, detect)
    convert_s: float = 0.0  # part of wall_s spent converting to RGB


def _path_str(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def _check_file(path: str) -> int:
    """Size of the file at ``path``; MediaError when it is missing, a folder or empty."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise MediaError(
            f"{path}: no such file; check the path (was it moved or deleted?)"
        ) from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if p.is_dir():
        raise MediaError(f"{path}: is a folder, not a video file; pass the files inside it")
    if st.st_size == 0:
        raise MediaError(
            f"{path}: file is empty (0 bytes); it was not fully written or copied — copy it again"
        )
    return st.st_size


def parse_decode_device(device: str) -> int | None:
    """The GPU index of a decode device (``cuda``, ``cuda:N``); None for ``cpu``."""
    name = device.strip().lower()
    if name == "cpu":
        return None
    if name == "cuda":
        return 0
    head, _, index = name.partition(":")
    if head == "cuda" and index.isdigit():
        return int(index)
    raise ConfigError(f"decode device must be cpu, cuda or cuda:N (a GPU index), got {device!r}")


def _hwaccel(device: str) -> Any:
    from av.codec.hwaccel import HWAccel

    index = parse_decode_device(device)
    if index is None:
        return None
    # A codec or profile the GPU's decoder lacks (10-bit H.264, MPEG-4 Part 2 on some cards)
    # is decoded on the CPU instead (DecodeStats.hw_decoded tells which).
    return HWAccel("cuda", device=str(index), allow_software_fallback=True)


def _tiny_h264() -> bytes:
    """Two 128x64 frames of H.264 in MP4 (encoded here, ~1.6 kB): a stream any decoder takes."""
    import io

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 64, "yuv420p"
        for value in (40, 200):
            picture = np.full((64, 128, 3), value, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(stream.encode())
    return buf.getvalue()


def check_decode_device(device: str) -> None:
    """Raise ConfigError, saying what to do, when FFmpeg cannot decode on ``device`` here.

    For a GPU this decodes a tiny H.264 stream there: opening the CUDA device is not enough, the
    driver's video decoder library (NVDEC) must be present too. A device that passed once is
    not checked again in this process (the CLI checks before it creates a library, then
    ``Library.index`` does).
    """
    index = parse_decode_device(device)
    if index is not None:
        _check_gpu_decoder(device.strip().lower(), index)


@functools.cache
def _check_gpu_decoder(device: str, index: int) -> None:
    import io

    from av.codec.hwaccel import hwdevices_available

    otherwise = "or leave decoding on the CPU (the default)"
    if "cuda" not in hwdevices_available():
        raise ConfigError(
            f"decode device {device}: this FFmpeg (PyAV {av.__version__}) was built without "
            f"CUDA; install PyAV's binary wheel, {otherwise}"
        )
    try:
        if "libx264" not in av.codecs_available:  # an FFmpeg without x264: open the device only
            _hwaccel(device).create(av.Codec("h264", "r"))
            return
        with av.open(io.BytesIO(_tiny_h264()), "r", hwaccel=_hwaccel(device)) as container:
            stream = container.streams.video[0]
            formats = [frame.format.name for frame in container.decode(stream)]
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(
            f"decode device {device}: FFmpeg cannot open CUDA device {index} ({reason}); check "
            f"the NVIDIA driver with nvidia-smi, {otherwise}"
        ) from exc
    if not formats or any(f.startswith("yuv") for f in formats):
        # The software decoder took over: the device opened, its video decoder did not.
        raise ConfigError(
            f"decode device {device}: CUDA device {index} opened, but its video decoder (NVDEC, "
            "the driver's libnvcuvid) did not decode a test stream; in a container, "
            f"NVIDIA_DRIVER_CAPABILITIES must include 'video' — {otherwise}"
        )


def _open_input(path: str, device: str = "cpu") -> av.container.InputContainer:
    hwaccel = _hwaccel(device)
    if hwaccel is not None:
        try:
            return av.open(path, mode="r", hwaccel=hwaccel)
        except (av.error.FFmpegError, OSError) as exc:
            # The GPU decoder could not start for this file (out of GPU memory, a driver
            # error); the CPU can still decode it (or says why not, below).
            logger.warning(
                "%s: the %s decoder did not start (%s); decoding on the CPU", path, device, exc
            )
    try:
        return av.open(path, mode="r")
    except FileNotFoundError:
        raise MediaError(
            f"{path}: no such file; check the path (was it moved or deleted?)"
        ) from None
    except (av.error.FFmpegError, OSError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise MediaError(
            f"{path}: not a video FFmpeg can read ({reason}); the file may be truncated, "
            "corrupt or another kind of file — check it plays, or re-export it as MP4/H.264"
        ) from exc


def _video_stream(container: av.container.InputContainer, path: str) -> av.video.VideoStream:
    if not container.streams.video:
        kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["none"]
        raise MediaError(
            f"{path}: no video stream (streams found: {', '.join(kinds)}); "
            "audio-only files cannot be indexed"
        )
    return container.streams.video[0]


def _frame_rate(stream: av.video.VideoStream, duration_s: float) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate and 0 < rate < 1000:
            return float(rate)
    if stream.frames and duration_s > 0:
        return stream.frames / duration_s
    return 25.0  # nothing to go on: the most common rate, only used for estimates


def _first_frame(
    container: av.container.InputContainer, stream: av.video.VideoStream, path: str
) -> av.VideoFrame:
    last_error: Exception | None = None
    try:
        for i, packet in enumerate(container.demux(stream)):
            if i >= _PROBE_MAX_PACKETS:
                break
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                last_error = exc
                continue
            for frame in frames:
                if isinstance(frame, av.VideoFrame):
                    return frame
    except (av.error.FFmpegError, OSError) as exc:
        last_error = exc
    detail = f" ({last_error})" if last_error else ""
    raise MediaError(
        f"{path}: the video stream has no decodable frame{detail}; the file is corrupt or "
        "truncated — copy it again or re-encode it"
    )


def _display_size(width: int, height: int, sar: Fraction | None) -> tuple[float, float]:
    if sar and sar > 0 and sar != 1:
        return width * float(sar), float(height)
    return float(width), float(height)


def _count_packets(path: str) -> int:
    """Video packets in the file (demuxing only), for containers without a duration."""
    count = 0
    try:
        with av.open(path) as container:
            for packet in container.demux(container.streams.video[0]):
                count += packet.size > 0
    except (av.error.FFmpegError, OSError) as exc:
        logger.debug("%s: counting packets stopped: %s", path, exc)
    return count


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read the container header of a video and decode its first frame.

    Raises :class:`MediaError` with a one-line reason for a missing or empty file, a file that is
    not a video, an audio-only file, and a video stream whose first frame cannot be decoded.
    """
    spath = _path_str(path)
    size_bytes = _check_file(spath)
    container = _open_input(spath)
    try:
        fmt = container.format.name
        if fmt.endswith("_pipe") or fmt == "image2":  # FFmpeg's demuxers of still pictures
            kind = fmt.removesuffix("_pipe") if fmt != "image2" else "image"
            raise MediaError(
                f"{spath}: a still picture ({kind}), not a video; to search by it, use "
                "vidlens search --image"
            )
        stream = _video_stream(container, spath)
        time_base = stream.time_base or Fraction(1, 90000)
        first = _first_frame(container, stream, spath)
        if stream.start_time is not None:
            start_s = float(stream.start_time * time_base)
        else:
            start_s = float(first.pts * time_base) if first.pts is not None else 0.0
        if stream.duration:
            duration_s = float(stream.duration * time_base)
        elif container.duration:
            container_start_s = (container.start_time or 0) / av.time_base
            duration_s = max(0.0, container.duration / av.time_base - (start_s - container_start_s))
        else:
            duration_s = 0.0
        fps = _frame_rate(stream, duration_s)
        frames = stream.frames
        if duration_s <= 0 and not frames:
            frames = _count_packets(spath)  # a raw stream: no header says how long it is
        if duration_s <= 0 and frames:
            duration_s = frames / fps
        frame_count = frames or max(1, round(duration_s * fps))
        rotation = _rotation(first, stream)
        codec_ctx = stream.codec_context
        width, height = codec_ctx.width or first.width, codec_ctx.height or first.height
        if rotation in (90, 270):
            width, height = height, width
        return VideoInfo(
            path=spath,
            duration_s=duration_s,
            fps=fps,
            frame_count=int(frame_count),
            width=width,
            height=height,
            rotation=rotation,
            start_s=start_s,
            # the format's name (av1), not the decoder's (libdav1d), so it does not depend on
            # which decoder this FFmpeg build picked
            codec=codec_ctx.codec.canonical_name,
            size_bytes=size_bytes,
            has_audio=bool(container.streams.audio),
        )
    finally:
        container.close()


def _rotation(frame: av.VideoFrame, stream: av.video.VideoStream) -> int:
    """Clockwise display rotation, from the display matrix (or a legacy ``rotate`` tag)."""
    ccw = frame.rotation  # FFmpeg copies the stream's display matrix onto decoded frames
    if not ccw:
        try:
            return round(float(stream.metadata.get("rotate", "0")) / 90) % 4 * 90
        except ValueError:
            return 0
    return round(-ccw / 90) % 4 * 90


def _nal_types(data: bytes, length_size: int) -> list[int]:
    """H.264 NAL unit types in one packet (``length_size``: avcC length prefix; 0: Annex B)."""
    types = []
    if length_size:
        i = 0
        while i + length_size < len(data):
            n = int.from_bytes(data[i : i + length_size], "big")
            i += length_size
            if n <= 0 or i + n > len(data):
                break
            types.append(data[i] & 0x1F)
            i += n
    else:
        i = data.find(b"\x00\x00\x01")
        while 0 <= i < len(data) - 3:
            types.append(data[i + 3] & 0x1F)
            i = data.find(b"\x00\x00\x01", i + 3)
    return types


def _h264_open_gop(path: str, stream: av.video.VideoStream, index: Any) -> bool:
    """True when an H.264 stream's second keyframe is not an IDR picture (an open GOP).

    After a non-IDR keyframe whose earlier references were left out, FFmpeg's decoder holds
    back or drops frames, so such a stream is decoded without skipping GOP tails or seeking.
    The keyframe's bytes come from an MP4/MOV index (file offset and size), else from reading the
    packets up to it in a second handle.
    """
    if stream.codec_context.name != "h264":
        return False
    extradata = stream.codec_context.extradata or b""
    length_size = (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 else 0
    data: bytes | None = None
    # MP4/MOV index every sample at its file offset; other indexes (Matroska cues) point at
    # clusters, not packets.
    mp4 = "mp4" in stream.container.format.name.split(",")
    try:
        if index is not None and mp4:
            keys = (e for e in itertools.islice(index, 1, 100_000) if e.is_keyframe)
            entry = next(keys, None)
            if entry is None or entry.pos < 0 or entry.size <= 0:
                return False
            with open(path, "rb") as f:
                f.seek(entry.pos)
                data = f.read(entry.size)
        else:
            with av.open(path) as container:
                packets = container.demux(container.streams.video[0])
                keys = (p for p in itertools.islice(packets, 1, 600) if p.size and p.is_keyframe)
                packet = next(keys, None)
                data = bytes(packet) if packet is not None else None
    except (OSError, av.FFmpegError):
        return False
    return data is not None and 5 not in _nal_types(data, length_size)


class _Targets:
    """Target times ``first_s + k * step_s`` for ``k < count``; frames are chosen at
    ``target - half_s`` (half a source frame interval) or later."""

    def __init__(self, first_s: float, step_s: float, count: int, half_s: float) -> None:
        self.first_s, self.step_s, self.count, self.half_s = first_s, step_s, count, half_s

    def threshold(self, k: int) -> float:
        return self.first_s + k * self.step_s - self.half_s

    def first_above(self, time_s: float) -> int:
        """Smallest k whose threshold is > time_s (may be == count)."""
        k = math.floor((time_s + self.half_s - self.first_s) / self.step_s) + 1
        k = max(0, min(k, self.count))
        while k > 0 and self.threshold(k - 1) > time_s + _EPS_S:
            k -= 1
        while k < self.count and self.threshold(k) <= time_s + _EPS_S:
            k += 1
        return k


class FrameSampler:
    """The sampled frames of one video in time order, decoding as little as the recipe allows.

    ``sampling.mode``:
        fps: targets at ``0, 1/fps, 2/fps, ... < duration``; each gets the first frame at or after
            it (less half a frame interval); a frame is never given twice, and a video shorter than
            one interval still gives its first frame.
        frames: ``sampling.frames`` targets at the centres of equal bins of the duration (every
            frame once when there are fewer frames than that).
        keyframes: the keyframes, decoded with ``skip_frame = "NONKEY"``.
        shots: fps targets plus the first frame of every shot; every frame is decoded and looked
            at (small) by :class:`~vidlens.shots.ShotDetector`. :attr:`shots` holds the shots.

    Frames are upright (rotation metadata applied), shown with the stream's pixel aspect ratio
    (a 176x144 picture with 12:11 pixels comes out 192 wide), and scaled so their short side is
    ``sampling.short_side``, or the source's short side when that is smaller (never upscaled).
    A decode error in mid-stream (a truncated file) ends the iteration after the frames that did
    decode; :class:`MediaError` is raised when none did, and when the file cannot be opened.

    ``threads``: decoder threads; 0 lets FFmpeg choose from the CPU count.

    ``device``: ``cpu``, or ``cuda`` / ``cuda:N`` to decode on an NVIDIA GPU's video decoder
    (NVDEC, through FFmpeg's hwaccel; the CPU parses the stream, the GPU reconstructs the
    pictures, and only the decoded frames come back to memory). The same packets are sent, so the
    same frames are chosen at the same times; a codec or profile the GPU cannot decode falls back
    to the CPU. Call :func:`check_decode_device` first for a clear error when there is no GPU.

    ``span=(start_s, end_s)`` (fps and frames modes): only the frames a whole pass would give
    whose times lie in ``[start_s, end_s)`` (``start_s <= 0``: from the first frame;
    ``end_s`` may be ``math.inf``). Spans that tile the time line give, one after another,
    exactly the frames, times and pixels of one pass, wherever they start. Decoding starts at the
    last keyframe before ``start_s``, found in the container's index; without an index the span
    reads from the beginning (right, but no faster). A span other than the first may give no
    frame without an error (a gap in a variable-frame-rate video, the part of a truncated file
    that is missing).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sampling: SamplingConfig,
        *,
        info: VideoInfo | None = None,
        threads: int = 0,
        min_shot_s: float = DEFAULT_MIN_SHOT_S,
        span: tuple[float, float] | None = None,
        device: str = "cpu",
    ) -> None:
        parse_decode_device(device)
        if span is not None:
            if sampling.mode not in SPAN_MODES:
                raise ConfigError(
                    f"a time range (span) works with sampling modes {', '.join(SPAN_MODES)}, not "
                    f"{sampling.mode!r}; decode the whole video instead"
                )
            if not span[0] < span[1]:
                raise ConfigError(f"span must be (start_s, end_s) with start_s < end_s, got {span}")
        self.path = _path_str(path)
        self.sampling = sampling
        self.info = info if info is not None else probe_video(self.path)
        self.threads = threads
        self.device = device
        self.min_shot_s = min_shot_s
        self.span = span
        self.shots: list[tuple[float, float]] = [(0.0, self.info.duration_s)]
        self.stats = DecodeStats()
        self._sizes: dict[tuple[int, int], tuple[int, int]] = {}

    # -- public ---------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[SampledFrame]:
        self.stats = DecodeStats()
        inner = self._generate()
        started = time.perf_counter()
        try:
            for item in inner:
                self.stats.wall_s += time.perf_counter() - started
                self.stats.frames_yielded += 1
                yield item
                started = time.perf_counter()
            self.stats.wall_s += time.perf_counter() - started
        finally:
            inner.close()
        logger.debug("%s: %s", self.path, self.stats)

    # -- plumbing -------------------------------------------------------------------------------

    def _generate(self) -> Generator[SampledFrame, None, None]:
        _check_file(self.path)
        container = _open_input(self.path, self.device)
        try:
            stream = _video_stream(container, self.path)
            ctx = stream.codec_context
            if ctx.is_hwaccel:
                # The GPU does the heavy work; CPU threads would only add frames of latency.
                ctx.thread_count = 1
            else:
                ctx.thread_type = _THREAD_TYPE
                ctx.thread_count = self.threads
            mode = self.sampling.mode
            if mode == "keyframes":
                self.stats.strategy = "keyframes"
                run = _Run(self, container, stream, None, None)
                yield from run.keyframes()
            else:
                detector = None
                if mode == "shots":
                    detector = ShotDetector(
                        self.sampling.shot_threshold, min_shot_s=self.min_shot_s
                    )
                self.stats.strategy = "every-frame" if detector else "targets"
                run = _Run(self, container, stream, self._targets(), detector, span=self.span)
                yield from run.sample()
                if detector is not None:
                    end_s = max(self.info.duration_s, run.last_time_s)
                    self.shots = detector.shots(end_s)
                if run.ended_early():
                    logger.warning(
                        "%s: frames end at %.2f s although the file says %.2f s; it looks "
                        "truncated — the frames up to there were used",
                        self.path,
                        run.last_time_s,
                        self.info.duration_s,
                    )
            # A span may rightly hold no frame (between two targets, a truncated tail): only
            # the first fails, and only when nothing decoded, as a whole pass would.
            if run.yielded == 0 and (
                self.span is None or (self.span[0] <= 0 and not run.decoded_any())
            ):
                detail = f" ({run.last_error})" if run.last_error else ""
                raise MediaError(
                    f"{self.path}: no frame could be decoded{detail}; the file is corrupt or "
                    "truncated — copy it again or re-encode it"
                )
        finally:
            container.close()

    def _targets(self) -> _Targets:
        info, sampling = self.info, self.sampling
        half_s = 0.5 / info.fps
        duration_s = info.duration_s if info.duration_s > 0 else info.frame_count / info.fps
        if sampling.mode == "frames":
            n = sampling.frames
            step_s = duration_s / n if duration_s > 0 else 0.0
            if step_s <= 0:
                return _Targets(0.0, 1.0, 1, half_s)
            return _Targets(step_s / 2, step_s, n, half_s)
        step_s = 1.0 / sampling.fps
        count = max(1, math.ceil(duration_s * sampling.fps - 1e-9))
        return _Targets(0.0, step_s, count, half_s)

    def _output_size(self, frame: av.VideoFrame, sar: Fraction | None) -> tuple[int, int]:
        key = (frame.width, frame.height)
        size = self._sizes.get(key)
        if size is None:
            disp_w, disp_h = _display_size(frame.width, frame.height, sar)
            short = min(disp_w, disp_h)
            scale = min(1.0, self.sampling.short_side / short)
            size = (max(1, round(disp_w * scale)), max(1, round(disp_h * scale)))
            self._sizes[key] = size
        return size

    def _to_rgb(self, frame: av.VideoFrame, sar: Fraction | None) -> np.ndarray:
        started = time.perf_counter()
        width, height = self._output_size(frame, sar)
        rgb: np.ndarray = frame.to_ndarray(
            width=width, height=height, format="rgb24", interpolation=_INTERPOLATION
        )
        turns = self.info.rotation // 90
        if turns:
            rgb = np.rot90(rgb, k=-turns)  # negative k turns clockwise
        rgb = np.ascontiguousarray(rgb)
        self.stats.frames_converted += 1
        self.stats.convert_s += time.perf_counter() - started
        return rgb


class _Run:
    """One pass over a container: packet selection, decoding and frame choice."""

    def __init__(
        self,
        sampler: FrameSampler,
        container: av.container.InputContainer,
        stream: av.video.VideoStream,
        targets: _Targets | None,
        detector: ShotDetector | None,
        *,
        span: tuple[float, float] | None = None,
    ) -> None:
        self.sampler = sampler
        self.stats = sampler.stats
        self.container = container
        self.stream = stream
        self.ctx = stream.codec_context
        self.targets = targets
        self.detector = detector
        self.time_base = stream.time_base or Fraction(1, 90000)
        if stream.start_time is not None:
            self.start_pts = stream.start_time
        else:
            self.start_pts = round(Fraction(sampler.info.start_s) / self.time_base)
        self.sar = stream.sample_aspect_ratio
        index = stream.index_entries
        # Some containers index only their first keyframe (Matroska cues read lazily).
        self.index = index if len(index) >= 2 else None
        # Whether decoding may restart at any keyframe after packets were left out (skipping the
        # rest of a GOP, seeking); not after an H.264 open GOP's non-IDR keyframes.
        self.clean_keys = targets is None or not _h264_open_gop(sampler.path, stream, self.index)
        self.yielded = 0
        self.last_time_s = 0.0
        self.last_error: Exception | None = None
        self._errors_in_row = 0
        self._skip_mode = ""
        # Packet side: targets whose frame has been sent to the decoder.
        self._covered: set[int] = set()
        self._next_uncovered = 0
        self._seen_s: list[float] = []  # presentation times of recent packets, sorted
        self._gop_end_s: float | None = None  # next keyframe after the current GOP (from index)
        self._gop_key: int | None = None  # pts of the keyframe of the GOP being decoded
        # Latest presentation time of each GOP read (keyed by its keyframe's pts): its own
        # packets and the next keyframe's leading ones (an open GOP's frames shown before it).
        self._gop_last_s: dict[int, float] = {}
        self._rd_key: int | None = None  # reading side: the GOP being read, its latest time
        self._rd_last: float | None = None
        self._rd_closing: tuple[int, float | None, float] | None = None  # (key, last, next key's t)
        self._key_offset = 0  # pts - dts of keyframes (B-frame delay)
        # Frame side: index of the next target to give a frame to.
        self._next_target = 0
        self._small_size: tuple[int, int] | None = None
        self._last_yield_s = -math.inf
        self._seen_keyframe = False  # the container flags keyframes
        self._await_keyframe = False  # drop packets until a keyframe (after a seek)
        self.gave_up = False  # too many decode errors in a row
        self._any_frame = False
        self._last_seek_pts: int | None = None
        # Time range: frames at [_from_s, _until_s) are given; the rest only steer decoding.
        self._from_s = span[0] if span is not None and span[0] > 0 else -math.inf
        self._until_s = span[1] if span is not None else math.inf
        # Targets whose frame may lie before _until_s: once all are covered, the range is done.
        self._end_k = 0 if targets is None else targets.count
        if targets is not None and self._until_s < math.inf:
            self._end_k = targets.first_above(self._until_s)
        self._last_packet_s = -math.inf
        self._before_from_s: float | None = None  # time of the last packet before _from_s
        self._in_span = self._from_s == -math.inf  # a frame at/after _from_s was seen

    def decoded_any(self) -> bool:
        """True when the decoder gave a frame, or nothing was asked of it without an error."""
        return self._any_frame or self.last_error is None

    def ended_early(self) -> bool:
        """True when targets remain but the stream stopped a second or more before its end."""
        # A range stops once every target before its end has a packet, and the frames it gives
        # may end well before that: the packets tell how far the stream went.
        if self._from_s == -math.inf and self._until_s == math.inf:
            pending, last_s = self._next_target, self.last_time_s
        else:
            pending, last_s = self._next_uncovered, max(self.last_time_s, self._last_packet_s)
        return (
            self.targets is not None
            and pending < self._end_k
            and last_s + 1.0 < min(self.sampler.info.duration_s, self._until_s)
        )

    # -- time helpers ---------------------------------------------------------------------------

    def _seconds(self, pts: int) -> float:
        return float((pts - self.start_pts) * self.time_base)

    def _pts(self, seconds: float) -> int:
        return self.start_pts + math.floor(seconds / self.time_base)

    # -- keyframes mode -------------------------------------------------------------------------

    def keyframes(self) -> Iterator[SampledFrame]:
        self._set_skip("NONKEY")
        for packet in self._packets():
            if packet.is_keyframe:
                self._seen_keyframe = True
            elif self._seen_keyframe:
                # The container flags keyframes: the others need not reach the decoder at all.
                self.stats.packets_dropped += 1
                continue
            for frame in self._decode(packet):
                yield from self._keyframe(frame)
        for frame in self._decode(None):
            yield from self._keyframe(frame)

    def _keyframe(self, frame: av.VideoFrame) -> Iterator[SampledFrame]:
        t = self._frame_time(frame)
        if t > self._last_yield_s:
            yield self._emit(frame, t, shot_start=False)

    # -- target modes (fps, frames, shots) ------------------------------------------------------

    def sample(self) -> Iterator[SampledFrame]:
        assert self.targets is not None
        every_frame = self.detector is not None
        self._set_skip("DEFAULT")
        packets = self._packets() if self._in_span else self._span_start()
        while True:
            lookahead: deque[tuple[av.Packet, float | None]] = deque()
            jump: int | None = None
            for packet in packets:
                t = self._seconds(packet.pts) if packet.pts is not None else None
                if t is not None:
                    bisect.insort(self._seen_s, t)
                    self._last_packet_s = max(self._last_packet_s, t)
                    if t < self._from_s - _EPS_S and (
                        self._before_from_s is None or t > self._before_from_s
                    ):
                        self._before_from_s = t
                self._read_gop(packet, t)
                lookahead.append((packet, t))
                if len(lookahead) <= _LOOKAHEAD_PACKETS:
                    continue
                pkt, pt = lookahead.popleft()
                yield from self._send(pkt, pt, every_frame)
                if every_frame:
                    continue
                if self._next_uncovered >= self._end_k:
                    lookahead.clear()
                    break
                if pt is not None and pt < self._from_s - _EPS_S:
                    # No seeking before the range starts: every packet between the keyframe and
                    # the start is needed to know the time of the frame before the first one.
                    continue
                jump = self._jump_target(pt)
                if jump is not None:
                    lookahead.clear()
                    break
            for pkt, pt in lookahead:
                yield from self._send(pkt, pt, every_frame)
            yield from self._handle_frames(self._decode(None), every_frame)
            if jump is None:
                return
            packets = self._packets(jump)
            self._seen_s.clear()
            self._gop_end_s = None
            self._rd_key, self._rd_closing = None, None
            self._await_keyframe = self._seen_keyframe

    def _send(
        self, packet: av.Packet, t: float | None, every_frame: bool
    ) -> Iterator[SampledFrame]:
        """Decide how ``packet`` is decoded (fully, skipped if non-reference, or not at all)."""
        assert self.targets is not None
        if packet.is_keyframe:
            self._seen_keyframe = True
            self._await_keyframe = False
            self._gop_key = packet.pts
            if packet.pts is not None:  # GOPs already decoded are not looked up again
                for key in [k for k in self._gop_last_s if k < packet.pts]:
                    del self._gop_last_s[key]
            if t is not None:
                self._new_gop(packet)
        elif self._await_keyframe:
            # After a seek that did not land on a keyframe: nothing decodes before the next one.
            self.stats.packets_dropped += 1
            return
        needed = every_frame or t is None or self._cover(t)
        if needed and t is not None and (t < self._from_s - _EPS_S or t >= self._until_s - _EPS_S):
            needed = False  # chosen, but another range gives it (the same tests as the frames')
        if not needed:
            if (
                not packet.is_keyframe
                and self._next_uncovered < self._end_k
                and self._gop_has_no_target()
            ):
                # Every target of this GOP has its frame: nothing later in it is needed.
                self.stats.packets_dropped += 1
                return
            if self._next_uncovered >= self._end_k:
                self.stats.packets_dropped += 1
                return
        self._set_skip("DEFAULT" if needed else "NONREF")
        yield from self._handle_frames(self._decode(packet), every_frame)

    def _cover(self, t: float) -> bool:
        """Mark the targets whose chosen frame is the one at ``t``; True if there are any."""
        assert self.targets is not None
        i = bisect.bisect_left(self._seen_s, t - _EPS_S)
        previous = self._seen_s[i - 1] if i > 0 else -math.inf
        if len(self._seen_s) > 4 * _LOOKAHEAD_PACKETS + 64:
            del self._seen_s[: 2 * _LOOKAHEAD_PACKETS]
        lo = self.targets.first_above(previous) if previous > -math.inf else 0
        hi = self.targets.first_above(t)
        new = [k for k in range(max(lo, self._next_uncovered), hi) if k not in self._covered]
        if not new:
            return False
        self._covered.update(new)
        while self._next_uncovered in self._covered:
            self._covered.discard(self._next_uncovered)
            self._next_uncovered += 1
        return True

    def _gop_has_no_target(self) -> bool:
        """True when no frame of the current GOP can be chosen for a target still uncovered."""
        assert self.targets is not None
        if not self.clean_keys:
            return False
        threshold = self.targets.threshold(self._next_uncovered)
        if self._gop_end_s is not None and threshold >= self._gop_end_s - _EPS_S:
            return True  # the next target lies at or after the next keyframe
        # A GOP that ends right before a target (a 1-s GOP at 1 fps) ends before that target's
        # threshold (half a frame before it): its latest frame time, from the packets read, says so.
        last = self._gop_last_s.get(self._gop_key) if self._gop_key is not None else None
        return last is not None and threshold > last + _EPS_S

    def _read_gop(self, packet: av.Packet, t: float | None) -> None:
        """Reading side: note the latest presentation time of each GOP (see ``_gop_last_s``).

        A GOP's time is final once a packet after the next keyframe shows a later time than that
        keyframe: the packets between (an open GOP's leading frames) count as the GOP's own.
        """
        if self._rd_closing is not None and not packet.is_keyframe:
            key, last, next_s = self._rd_closing
            if t is None:
                self._rd_closing = None  # unknown: that GOP is decoded in full
            elif t < next_s:
                self._rd_closing = (key, None if last is None else max(last, t), next_s)
            else:
                if last is not None:
                    self._gop_last_s[key] = last
                self._rd_closing = None
        if packet.is_keyframe:
            if self._rd_closing is not None and self._rd_closing[1] is not None:
                self._gop_last_s[self._rd_closing[0]] = self._rd_closing[1]
            self._rd_closing = None
            if self._rd_key is not None and t is not None:
                self._rd_closing = (self._rd_key, self._rd_last, t)
            self._rd_key, self._rd_last = packet.pts, t
        elif self._rd_key is not None:
            self._rd_last = None if t is None or self._rd_last is None else max(self._rd_last, t)

    def _new_gop(self, packet: av.Packet) -> None:
        if packet.dts is not None and packet.pts is not None:
            self._key_offset = packet.pts - packet.dts
        self._gop_end_s = None
        if self.index is None or packet.dts is None:
            return
        i = self.index.search_timestamp(packet.dts + 1, backward=False)
        if 0 <= i < len(self.index):
            self._gop_end_s = self._seconds(self.index[i].timestamp + self._key_offset)

    def _jump_target(self, t: float | None) -> int | None:
        """Where to seek (stream pts) so that the next target is reached sooner, or None."""
        assert self.targets is not None
        if t is None or self._next_uncovered >= self._end_k or not self.clean_keys:
            return None
        next_s = self.targets.threshold(self._next_uncovered)
        if self.index is None:
            if next_s - t <= _BLIND_SEEK_MIN_S:
                return None
            seek_pts = self._pts(next_s - _BLIND_SEEK_BACKOFF_S)
        else:
            if self._gop_end_s is None or next_s < self._gop_end_s:
                return None
            i = self.index.search_timestamp(self._pts(next_s) - self._key_offset, backward=True)
            if i < 0 or i >= len(self.index):
                return None
            seek_pts = self.index[i].timestamp
            key_s = self._seconds(seek_pts + self._key_offset)
            if key_s <= self._gop_end_s + _EPS_S or key_s - t < _SEEK_MIN_S:
                return None
        # Seeks only go forward: an imprecise seek must not send us back to the same place.
        if self._last_seek_pts is not None and seek_pts <= self._last_seek_pts:
            return None
        self._last_seek_pts = seek_pts
        if self.index is not None:
            # Index timestamps are decode times, seeks compare show times: seeking to a
            # keyframe's decode time would land on the keyframe before it.
            return seek_pts + self._key_offset
        return seek_pts

    def _handle_frames(
        self, frames: list[av.VideoFrame], every_frame: bool
    ) -> Iterator[SampledFrame]:
        assert self.targets is not None
        for frame in frames:
            t = self._frame_time(frame)
            cut = False
            if self.detector is not None:
                cut = self.detector.push(t, self._small(frame))
            if not self._in_span:
                if t < self._from_s - _EPS_S:
                    continue  # an earlier range gives it, if it is chosen at all
                # The first frame of the range: it is chosen when some target lies after the
                # frame before it, which is what a whole pass would have found.
                self._in_span = True
                if self._before_from_s is not None:
                    self._next_target = self.targets.first_above(self._before_from_s)
                    self._last_yield_s = self._before_from_s
            if t >= self._until_s - _EPS_S:
                continue  # a later range gives it
            k = self._next_target
            due = k < self.targets.count and t >= self.targets.threshold(k) - _EPS_S
            if not (due or cut) or t <= self._last_yield_s:
                continue
            self._next_target = max(k, self.targets.first_above(t))
            yield self._emit(frame, t, shot_start=cut)

    def _small(self, frame: av.VideoFrame) -> np.ndarray:
        if self._small_size is None:
            scale = SMALL_SIDE_PX / max(frame.width, frame.height)
            self._small_size = (
                max(1, round(frame.width * scale)),
                max(1, round(frame.height * scale)),
            )
        w, h = self._small_size
        small: np.ndarray = frame.to_ndarray(
            width=w, height=h, format="rgb24", interpolation=_SMALL_INTERPOLATION
        )
        return small

    # -- decoding -------------------------------------------------------------------------------

    def _frame_time(self, frame: av.VideoFrame) -> float:
        """Seconds from the start: from the frame's timestamp, or counted when it has none."""
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is not None:
            t = self._seconds(pts)
        else:
            # Raw elementary streams carry no timestamps: assume the nominal frame rate.
            t = self.last_time_s + 1.0 / self.sampler.info.fps if self._any_frame else 0.0
        self._any_frame = True
        self.last_time_s = max(self.last_time_s, t)
        return t

    def _emit(self, frame: av.VideoFrame, t: float, *, shot_start: bool) -> SampledFrame:
        self.yielded += 1
        self._last_yield_s = t
        return SampledFrame(
            time_s=t,
            rgb=self.sampler._to_rgb(frame, self.sar),
            is_keyframe=bool(frame.key_frame),
            shot_start=shot_start,
        )

    def _set_skip(self, mode: Any) -> None:
        if mode != self._skip_mode:
            self.ctx.skip_frame = mode
            self._skip_mode = mode

    def _span_start(self) -> Iterator[av.Packet]:
        """Packets from the last keyframe whose time is before the range's start.

        The keyframe comes from the index, whose timestamps are decode times: the first packet
        tells how much later keyframes are shown (B-frames). Should a seek land at or after the
        start anyway, the keyframe before is tried. Without an index, or when no keyframe before
        the start is found, packets are read from the beginning.
        """
        index = self.index
        if index is None:
            yield from self._packets()
            return
        self._learn_key_offset()
        i = index.search_timestamp(self._pts(self._from_s) - self._key_offset, backward=True)
        for _ in range(_SPAN_SEEK_TRIES):
            if not 0 <= i < len(index):
                break
            seek_pts = index[i].timestamp
            packets = self._packets(seek_pts + self._key_offset)
            for packet in packets:
                if not packet.is_keyframe:
                    self.stats.packets_dropped += 1  # cannot be decoded without the keyframe
                    continue
                pts = packet.pts  # never None here: _packets numbers packets without one
                if pts is not None and self._seconds(pts) < self._from_s - _EPS_S:
                    self._last_seek_pts = seek_pts
                    yield packet
                    yield from packets
                    return
                break
            else:
                return  # nothing after the seek: the stream ends (or cannot be read) here
            i = index.search_timestamp(seek_pts - 1, backward=True)
        logger.debug("%s: no keyframe before %.3f s found", self.sampler.path, self._from_s)
        yield from self._packets(self.start_pts)  # back to the start (a packet was read)

    def _learn_key_offset(self) -> None:
        """Read the first packet for the delay between a keyframe's decode and show times."""
        try:
            for packet in self.container.demux(self.stream):
                if packet.is_keyframe and packet.pts is not None and packet.dts is not None:
                    self._key_offset = packet.pts - packet.dts
                break
        except (av.error.FFmpegError, OSError) as exc:
            logger.debug("%s: reading the first packet failed: %s", self.sampler.path, exc)

    def _packets(self, seek_to: int | None = None) -> Iterator[av.Packet]:
        """Demux the video stream (after seeking to ``seek_to``); stop on a read error."""
        if seek_to is not None:
            try:
                self.container.seek(seek_to, stream=self.stream, backward=True)
                self.stats.seeks += 1
            except av.error.FFmpegError as exc:
                logger.warning("%s: seek failed (%s); stopping here", self.sampler.path, exc)
                self.last_error = exc
                return
        demuxer = self.container.demux(self.stream)
        while not self.gave_up:
            try:
                packet = next(demuxer)
            except StopIteration:
                return
            except (av.error.FFmpegError, OSError) as exc:
                logger.warning(
                    "%s: cannot read past %.2f s (%s); the file looks truncated",
                    self.sampler.path,
                    self.last_time_s,
                    exc,
                )
                self.last_error = exc
                return
            if packet.size == 0:  # the flush packet demux() yields at the end
                continue
            if packet.pts is None:
                # Raw elementary streams carry no timestamps: number the packets at the nominal
                # rate (decode order is display order without B-frames), so frames inherit them.
                packet.pts = packet.dts if packet.dts is not None else self._nominal_pts()
            self.stats.packets_read += 1
            self.stats.bytes_read += packet.size
            yield packet

    def _nominal_pts(self) -> int:
        frame_s = 1.0 / self.sampler.info.fps
        return self.start_pts + round(self.stats.packets_read * frame_s / self.time_base)

    def _decode(self, packet: av.Packet | None) -> list[av.VideoFrame]:
        try:
            frames = self.ctx.decode(packet)
        except (av.error.FFmpegError, OSError) as exc:
            self.stats.decode_errors += 1
            self._errors_in_row += 1
            self.last_error = exc
            if self._errors_in_row >= _MAX_CONSECUTIVE_ERRORS and not self.gave_up:
                logger.warning(
                    "%s: %d packets in a row failed to decode after %.2f s (%s); stopping",
                    self.sampler.path,
                    self._errors_in_row,
                    self.last_time_s,
                    exc,
                )
                self.gave_up = True
            return []
        self._errors_in_row = 0
        self.stats.frames_decoded += len(frames)
        if frames and not self.stats.frames_decoded - len(frames) and self.ctx.is_hwaccel:
            # Frames a GPU decoded come back in its semi-planar formats; planar YUV means
            # FFmpeg fell back to its software decoder (a profile the GPU lacks).
            self.stats.hw_decoded = not frames[0].format.name.startswith(("yuv", "gray"))
        return [f for f in frames if isinstance(f, av.VideoFrame)]
