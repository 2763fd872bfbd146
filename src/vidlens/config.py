"""Configuration dataclasses shared by ingest, the library manifest and the faces."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

__all__ = ["SAMPLING_MODES", "SamplingConfig"]

SAMPLING_MODES = ("fps", "frames", "keyframes", "shots")


@dataclass(frozen=True)
class SamplingConfig:
    """Which frames of a video are decoded and embedded (the "recipe", recorded in the manifest).

    Modes:
        fps: one frame every ``1 / fps`` seconds of presentation time.
        frames: ``frames`` frames spread uniformly over the video, whatever its length.
        keyframes: the stream's keyframes (I-frames) only.
        shots: like ``fps``, plus the first frame of every detected shot, so each shot has at
            least one frame; shot boundaries are stored.
    """

    mode: str = "fps"  # one of SAMPLING_MODES
    fps: float = 1.0  # sampled frames per second of video ("fps" and "shots" modes)
    frames: int = 16  # frames per video ("frames" mode)
    short_side: int = 224  # decoded frames are scaled so their short side has this many pixels
    shot_threshold: float = 0.35  # "shots" mode: colour-histogram distance that counts as a cut

    def __post_init__(self) -> None:
        if self.mode not in SAMPLING_MODES:
            raise ConfigError(
                f"unknown sampling mode {self.mode!r}; choose one of {', '.join(SAMPLING_MODES)}"
            )
        if not (0 < self.fps <= 120):
            raise ConfigError(f"fps must be in (0, 120], got {self.fps}")
        if self.frames < 1:
            raise ConfigError(f"frames must be at least 1, got {self.frames}")
        if not (16 <= self.short_side <= 2160):
            raise ConfigError(f"short_side must be within 16..2160 pixels, got {self.short_side}")
        if not (0 < self.shot_threshold < 1):
            raise ConfigError(f"shot_threshold must be in (0, 1), got {self.shot_threshold}")

    def to_dict(self) -> dict[str, Any]:
        """The fields that matter for this mode (what the manifest records and compares)."""
        d: dict[str, Any] = {"mode": self.mode, "short_side": self.short_side}
        if self.mode in ("fps", "shots"):
            d["fps"] = self.fps
        if self.mode == "frames":
            d["frames"] = self.frames
        if self.mode == "shots":
            d["shot_threshold"] = self.shot_threshold
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SamplingConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ConfigError(f"unknown sampling fields {sorted(unknown)}; known: {sorted(names)}")
        return cls(**d)

    def describe(self) -> str:
        """A short human description, e.g. ``1 fps`` or ``16 frames per video``."""
        if self.mode == "fps":
            return f"{self.fps:g} fps"
        if self.mode == "frames":
            return f"{self.frames} frames per video"
        if self.mode == "keyframes":
            return "keyframes"
        return f"{self.fps:g} fps + one frame per shot"
