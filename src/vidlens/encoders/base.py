"""The encoder protocol: what the engine needs from a CLIP-family model."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

__all__ = ["Encoder"]


@runtime_checkable
class Encoder(Protocol):
    """A model that maps video frames and texts into one embedding space.

    Attributes:
        id: the encoder id the library records in its manifest, e.g. ``openclip:ViT-B-32/openai``.
        dim: the embedding dimension.

    The engine L2-normalises whatever the encoder returns, so implementations need not.
    An encoder may also expose ``fingerprint: str`` (a hash of its weights, recorded in the
    manifest so that two different checkpoints behind one id are told apart) and
    ``image_size: int`` (the side it resizes frames to, so decoding can scale frames down early).
    """

    id: str
    dim: int

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """Encode frames: uint8 RGB ``(N, H, W, 3)`` -> float32 ``(N, dim)``."""
        ...

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Encode texts: ``N`` strings -> float32 ``(N, dim)``."""
        ...
