"""A deterministic encoder that understands colour words: the test and example encoder.

Frames become the fraction of their pixels nearest to each named colour; texts become the sum of
the colour words they contain. It is exact and fast, so tests can state which video and which
seconds must match "a red scene", and it shows how small a third-party encoder can be.
"""

from __future__ import annotations

import re

import numpy as np

from ._registry import EncoderConfig

__all__ = ["COLOURS", "ColourEncoder", "create_colour_encoder"]

# name -> RGB; the order fixes the embedding dimensions.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (220, 30, 30),
    "green": (30, 200, 30),
    "blue": (30, 30, 220),
    "yellow": (240, 230, 40),
    "cyan": (40, 220, 230),
    "magenta": (220, 40, 220),
    "orange": (250, 140, 20),
    "gray": (128, 128, 128),
}
_ALIASES = {"grey": "gray", "purple": "magenta", "pink": "magenta"}
_WORD_RE = re.compile(r"[a-z]+")
# Texts with no colour word get a faint uniform vector, so they still normalise.
_NO_COLOUR_WEIGHT = 1e-3


class ColourEncoder:
    """Colour-histogram image embeddings and colour-word text embeddings (dim = 10)."""

    id = "colour-test"
    fingerprint = "colour-test-v1"
    image_size = 32  # colour fractions do not need detail; decoding may scale frames down

    def __init__(self) -> None:
        self.dim = len(COLOURS)
        self._palette = np.array(list(COLOURS.values()), dtype=np.float32)  # (C, 3)

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(N, H, W, 3)`` -> float32 ``(N, C)`` fractions of pixels per named colour."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (N, H, W, 3), got {frames.shape}")
        n = frames.shape[0]
        px = frames.reshape(n, -1, 3).astype(np.float32)  # (N, P, 3)
        # squared distance of every pixel to every palette colour: (N, P, C)
        d = ((px[:, :, None, :] - self._palette[None, None, :, :]) ** 2).sum(-1)
        nearest = d.argmin(-1)  # (N, P)
        out = np.zeros((n, self.dim), dtype=np.float32)
        for i in range(n):
            out[i] = np.bincount(nearest[i], minlength=self.dim)[: self.dim]
        return out / max(px.shape[1], 1)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """``N`` texts -> float32 ``(N, C)`` counts of the colour words in each."""
        names = list(COLOURS)
        out = np.full((len(texts), self.dim), _NO_COLOUR_WEIGHT, dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD_RE.findall(text.lower()):
                word = _ALIASES.get(word, word)
                if word in COLOURS:
                    out[i, names.index(word)] += 1.0
        return out


def create_colour_encoder(spec: str | None, config: EncoderConfig) -> ColourEncoder:
    """Entry-point factory for ``colour-test`` (takes no spec; runs on the CPU)."""
    if spec:
        from ..errors import EncoderError

        raise EncoderError(
            f"the colour-test encoder takes no spec, got {spec!r}; use 'colour-test'"
        )
    return ColourEncoder()
