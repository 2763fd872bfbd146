"""Rendering of :class:`~vidlens.synth.world.VideoSpec` scenes with numpy, and H.264 via PyAV.

Each object is drawn from vectorised masks over its bounding box only (no per-pixel Python):
pixel centres are mapped into the object's own rotated, unit-radius frame ``(u, v)``, where a
shape is an inequality, a texture a periodic pattern, a colour change a wipe along ``u`` and a
dissolve a threshold on a fixed noise field.

Whatever changes leaves a *comet trail*: each object whose events span the last
``max(WorldConfig.trail_s)`` seconds is also drawn as it was ``trail_s[k]`` seconds ago, as a ghost
of opacity ``trail_alpha[k]`` (oldest first, never reaching back across a cut), and every object
as it is now is drawn opaque on top. Like motion blur in real footage, but long enough to see at
64 px, the trail shows in a single frame that something moves and which way (behind a moving
object), shrinks (a halo), spins (a smear), fades or changes colour; the object itself keeps its
exact colour, so the annotations' masks stay true to the pixels.
"""

from __future__ import annotations

import logging
import math
import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MediaError
from .world import (
    BACKGROUND_COLOURS,
    COLOURS,
    ObjectState,
    Shot,
    VideoSpec,
    WorldConfig,
    object_state,
)

__all__ = [
    "background_image",
    "frame_times",
    "object_mask",
    "render_frame",
    "render_frames",
    "write_video",
]

logger = logging.getLogger(__name__)

_TEXTURE_SHADE = 0.45  # stripes and dots are the object's colour at this brightness
_NOISE_CELLS = 12  # dissolve noise field resolution across the object


def frame_times(video: VideoSpec) -> np.ndarray:
    """Presentation times (s) of the written frames, ``(N,)`` float64."""
    n = max(1, round(video.duration_s * video.config.fps))
    return np.arange(n, dtype=np.float64) / video.config.fps


def background_image(shot: Shot, cfg: WorldConfig) -> np.ndarray:
    """The background of a shot, float32 ``(H, W, 3)`` in 0..255."""
    h, w = cfg.height, cfg.width
    base = np.array(BACKGROUND_COLOURS[shot.background], dtype=np.float32)
    rng = np.random.default_rng(shot.pattern_seed)
    if shot.kind == "solid":
        return np.broadcast_to(base, (h, w, 3)).copy()
    if shot.kind == "gradient":
        theta = float(rng.uniform(0, 2 * math.pi))
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        proj = (xs / w - 0.5) * math.cos(theta) + (ys / h - 0.5) * math.sin(theta)
        ramp = (proj - proj.min()) / max(float(np.ptp(proj)), 1e-6)  # 0..1
        gain = 0.45 + 1.1 * ramp  # darker to lighter shades of the same colour
        return np.clip(base * gain[..., None] + 12.0 * ramp[..., None], 0, 255)
    # noisy: smooth blotches plus fine grain, around the base colour
    coarse = rng.uniform(-1, 1, size=(6, 6, 3)).astype(np.float32)
    yi = np.linspace(0, 5, h, dtype=np.float32)
    xi = np.linspace(0, 5, w, dtype=np.float32)
    y0 = np.minimum(yi.astype(int), 4)
    x0 = np.minimum(xi.astype(int), 4)
    fy = (yi - y0)[:, None, None]
    fx = (xi - x0)[None, :, None]
    top = coarse[y0][:, x0] * (1 - fx) + coarse[y0][:, x0 + 1] * fx
    bot = coarse[y0 + 1][:, x0] * (1 - fx) + coarse[y0 + 1][:, x0 + 1] * fx
    smooth = top * (1 - fy) + bot * fy
    grain = rng.uniform(-1, 1, size=(h, w, 1)).astype(np.float32)
    return np.clip(base + 38.0 * smooth.mean(axis=2, keepdims=True) + 14.0 * grain, 0, 255)


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    if shape == "circle":
        return u * u + v * v <= 1.0
    if shape == "square":
        return np.maximum(np.abs(u), np.abs(v)) <= 0.82
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1.05
    if shape == "triangle":
        u, v = u / 1.2, (v - 0.15) / 1.2
        m = v <= 0.5
        for phi in (math.radians(210), math.radians(330)):
            m &= u * math.cos(phi) + v * math.sin(phi) <= 0.5
        return m
    if shape == "hexagon":
        m = np.ones(u.shape, dtype=bool)
        for k in range(6):
            phi = k * math.pi / 3
            m &= u * math.cos(phi) + v * math.sin(phi) <= 0.9
        return m
    if shape == "star":
        rho = np.sqrt(u * u + v * v)
        k = np.mod(np.arctan2(v, u) + math.pi / 2, 2 * math.pi / 5) / (2 * math.pi / 5)
        return rho <= 0.42 + 0.7 * np.abs(2 * k - 1)
    if shape == "cross":
        au, av = np.abs(u), np.abs(v)
        return ((au <= 0.32) & (av <= 1.0)) | ((av <= 0.32) & (au <= 1.0))
    raise MediaError(f"unknown shape {shape!r}")


def _texture_dark(texture: str, u: np.ndarray, v: np.ndarray) -> np.ndarray | None:
    """Where the texture uses the darker shade (None: solid)."""
    if texture == "striped":
        return np.floor((u + 1.0) * 3.0).astype(np.int64) % 2 == 1
    if texture == "dotted":
        du = np.mod(u * 2.6, 1.0) - 0.5
        dv = np.mod(v * 2.6, 1.0) - 0.5
        return du * du + dv * dv < 0.07
    return None


def _noise_field(video: VideoSpec, obj: int) -> np.ndarray:
    rng = np.random.default_rng((video.seed + 7919 * (obj + 1)) % (2**63))
    return rng.random((_NOISE_CELLS, _NOISE_CELLS)).astype(np.float32)


def _object_layer(
    video: VideoSpec, obj: int, st: ObjectState
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """Bounding box ``(y0, y1, x0, x1)``, alpha ``(h, w)`` and colour ``(h, w, 3)`` of one object
    in one state (None when nothing of it is visible)."""
    if not st.visible:
        return None
    cfg = video.config
    spec = video.objects[obj]
    r = spec.radius_px(cfg) * st.scale
    cx, cy = st.x * cfg.width, st.y * cfg.height
    half = math.ceil(r * 1.25) + 1
    y0, y1 = max(0, int(cy) - half), min(cfg.height, int(cy) + half + 1)
    x0, x1 = max(0, int(cx) - half), min(cfg.width, int(cx) + half + 1)
    if y0 >= y1 or x0 >= x1:
        return None
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / r
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / r
    dx, dy = xs[None, :], ys[:, None]
    c, s = math.cos(st.angle), math.sin(st.angle)
    u = dx * c + dy * s
    v = -dx * s + dy * c
    mask = _shape_mask(spec.shape, u, v)
    if st.dissolve > 0.0:
        field = _noise_field(video, obj)
        iu = np.clip(((u + 1.3) / 2.6 * _NOISE_CELLS).astype(np.int64), 0, _NOISE_CELLS - 1)
        iv = np.clip(((v + 1.3) / 2.6 * _NOISE_CELLS).astype(np.int64), 0, _NOISE_CELLS - 1)
        mask &= field[iv, iu] >= st.dissolve
    if not mask.any():
        return None
    base = np.array(COLOURS[st.colour], dtype=np.float32)
    colour = np.broadcast_to(base, (*mask.shape, 3)).copy()
    if st.wipe_colour is not None and st.wipe > 0.0:
        new = (u + 1.0) * 0.5 < st.wipe
        colour[np.broadcast_to(new, mask.shape)] = np.array(COLOURS[st.wipe_colour], np.float32)
    dark = _texture_dark(spec.texture, u, v)
    if dark is not None:
        colour[np.broadcast_to(dark, mask.shape)] *= _TEXTURE_SHADE
    alpha = mask.astype(np.float32) * st.alpha
    return (y0, y1, x0, x1), alpha, colour


def object_mask(video: VideoSpec, obj: int, t: float) -> np.ndarray:
    """Pixels object ``obj`` covers at ``t`` (its current state, no trail): bool ``(H, W)``."""
    cfg = video.config
    out = np.zeros((cfg.height, cfg.width), dtype=bool)
    layer = _object_layer(video, obj, object_state(video, obj, t))
    if layer is not None:
        (y0, y1, x0, x1), alpha, _ = layer
        out[y0:y1, x0:x1] = alpha > 0
    return out


def _blend(img: np.ndarray, layer: tuple[tuple[int, int, int, int], np.ndarray, np.ndarray],
           opacity: float = 1.0) -> None:  # fmt: skip
    (y0, y1, x0, x1), alpha, colour = layer
    a = alpha[..., None] * opacity
    region = img[y0:y1, x0:x1]
    img[y0:y1, x0:x1] = region * (1.0 - a) + colour * a


def _moves(video: VideoSpec, obj: int, t0: float, t1: float) -> bool:
    """Whether an event of ``obj`` changes it at some time within ``(t0, t1]``."""
    return any(ev.obj == obj and ev.start_s < t1 and ev.end_s > t0 for ev in video.events)


def _scene(video: VideoSpec, t: float, background: np.ndarray, shot_start: float) -> np.ndarray:
    cfg = video.config
    img = background.copy()
    n = len(video.objects)
    ghosts = sorted(zip(cfg.trail_s, cfg.trail_alpha, strict=True), reverse=True)  # oldest first
    for dt, opacity in ghosts:
        past = t - dt
        if past < shot_start:
            continue
        for obj in range(n):
            if not _moves(video, obj, past, t):
                continue
            layer = _object_layer(video, obj, object_state(video, obj, past))
            if layer is not None:
                _blend(img, layer, opacity)
    for obj in range(n):
        layer = _object_layer(video, obj, object_state(video, obj, t))
        if layer is not None:
            _blend(img, layer)
    return img


class _Backgrounds:
    def __init__(self, video: VideoSpec) -> None:
        self.images = [background_image(s, video.config) for s in video.shots]
        self.video = video

    def at(self, t: float) -> tuple[np.ndarray, float]:
        for shot, img in zip(self.video.shots, self.images, strict=True):
            if t < shot.end_s:
                return img, shot.start_s
        return self.images[-1], self.video.shots[-1].start_s


def _render(video: VideoSpec, t: float, backgrounds: _Backgrounds) -> np.ndarray:
    background, shot_start = backgrounds.at(t)
    frame = _scene(video, t, background, shot_start)
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def render_frame(video: VideoSpec, t: float) -> np.ndarray:
    """The frame at ``t`` seconds: uint8 RGB ``(H, W, 3)``."""
    return _render(video, t, _Backgrounds(video))


def render_frames(video: VideoSpec, times: np.ndarray | None = None) -> np.ndarray:
    """Frames at ``times`` (default: every written frame): uint8 ``(N, H, W, 3)``."""
    times = frame_times(video) if times is None else np.asarray(times, dtype=np.float64)
    backgrounds = _Backgrounds(video)
    return np.stack([_render(video, float(t), backgrounds) for t in times])


def write_video(video: VideoSpec, path: str | os.PathLike[str]) -> Path:
    """Render ``video`` to an H.264 (yuv420p) MP4 at ``path``, atomically; return the path.

    The bytes are a function of the spec alone (single-threaded x264, fixed settings).
    """
    import av

    cfg = video.config
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")
    started = time.perf_counter()
    rate = Fraction(cfg.fps).limit_denominator(1000)
    time_base = 1 / rate
    backgrounds = _Backgrounds(video)
    container = av.open(os.fspath(tmp), "w", format="mp4")
    try:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height = cfg.width, cfg.height
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {
            "preset": "veryfast",
            "crf": str(cfg.crf),
            "x264-params": "threads=1:bframes=0:keyint=64",
        }
        for i, t in enumerate(frame_times(video)):
            frame = av.VideoFrame.from_ndarray(_render(video, float(t), backgrounds), "rgb24")
            frame.pts = i
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    except BaseException:
        container.close()
        tmp.unlink(missing_ok=True)
        raise
    container.close()
    os.replace(tmp, out)
    logger.debug("wrote %s in %.2fs", out, time.perf_counter() - started)
    return out
