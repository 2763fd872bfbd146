"""Video-text models for training: an open_clip CLIP as the frame/text towers + temporal pooling.

Frames are encoded one by one by the image tower (what the engine indexes). A clip's embedding is
either the mean of its frame embeddings (ViFi-CLIP) or the output of :class:`TemporalHead`, a small
transformer over the sequence of frame embeddings that can learn what a single frame cannot show
(the order of states: left vs right, grow vs shrink). The head starts as exact mean pooling (its
output projection is zero-initialised) and learns a residual on top of it.
"""

from __future__ import annotations

import copy
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TINY_MODEL_CFG",
    "TINY_PREPROCESS_CFG",
    "TemporalHead",
    "TemporalHeadConfig",
    "VideoClip",
    "build_clip",
]

logger = logging.getLogger(__name__)

# The open_clip architecture of vidlens-tiny (a custom config: open_clip builds it from data):
# a small ModifiedResNet image tower (CLIP's RN design; on 64-px frames it trains ~2x faster per
# frame than a ViT of the same size and picks up small local cues, like motion trails, sooner),
# fed 96-px frames (at 64 px a small shape is 5 px across its radius and shapes get confused),
# and a 4-layer text transformer.
TINY_MODEL_CFG: dict[str, Any] = {
    "embed_dim": 256,
    "vision_cfg": {"image_size": 96, "layers": [1, 1, 1, 1], "width": 16, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 4},
}
# OpenAI CLIP's normalisation; 96-px frames, bicubic, short side (the engine's preprocessing).
TINY_PREPROCESS_CFG: dict[str, Any] = {
    "size": 96,
    "mode": "RGB",
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711],
    "interpolation": "bicubic",
    "resize_mode": "shortest",
}


@dataclass(frozen=True)
class TemporalHeadConfig:
    """A small transformer over frame embeddings (``layers=0``: plain mean pooling)."""

    layers: int = 2  # transformer encoder layers
    heads: int = 4  # attention heads
    max_frames: int = 64  # learned position embeddings (frames beyond are pooled by position)
    mlp_ratio: float = 2.0
    # Frames per clip it was trained on (the trainer's frames_per_clip): only that many positions
    # ever learn, so a longer input is pooled into that many runs first (0: unknown, max_frames).
    clip_frames: int = 0

    @property
    def input_frames(self) -> int:
        """How many frames (or runs of frames) the head is given at most."""
        return min(self.clip_frames, self.max_frames) if self.clip_frames > 0 else self.max_frames

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TemporalHead(nn.Module):
    """``(B, T, D)`` frame embeddings -> ``(B, D)`` clip embedding; mean pooling + a learned
    residual that sees frame order."""

    def __init__(self, dim: int, cfg: TemporalHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.pos = nn.Parameter(torch.zeros(cfg.max_frames, dim))
        nn.init.normal_(self.pos, std=0.02)
        layer = nn.TransformerEncoderLayer(
            d_model=dim,
            nhead=cfg.heads,
            dim_feedforward=int(dim * cfg.mlp_ratio),
            dropout=0.0,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)
        nn.init.zeros_(self.proj.weight)  # starts as mean pooling
        nn.init.zeros_(self.proj.bias)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        t = frames.shape[1]
        idx = torch.linspace(0, self.cfg.max_frames - 1, t, device=frames.device)
        idx = (
            idx.round().long() if t > self.cfg.max_frames else torch.arange(t, device=frames.device)
        )
        x = self.encoder(frames + self.pos[idx])
        return frames.mean(dim=1) + self.proj(self.norm(x).mean(dim=1))


def build_clip(model_cfg: dict[str, Any], seed: int = 0) -> nn.Module:
    """An open_clip ``CLIP`` from a ``model_cfg`` dict, with seeded initialisation."""
    import open_clip

    cfg = copy.deepcopy(model_cfg)
    cfg.pop("name", None)
    cfg.pop("custom_text", None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: nn.Module = open_clip.CLIP(**cfg)
    return model


class VideoClip(nn.Module):
    """A CLIP + temporal head trained together on clips and captions."""

    def __init__(
        self,
        clip: Any,
        head_cfg: TemporalHeadConfig | None,
        embed_dim: int,
        n_actions: int = 0,
    ) -> None:
        super().__init__()
        self.clip: Any = clip  # an open_clip CLIP
        self.head = TemporalHead(embed_dim, head_cfg) if head_cfg and head_cfg.layers else None
        # Training only (never exported): a linear action classifier on the embeddings. Its
        # random rows give the image tower a gradient towards what tells actions apart from the
        # first step, where class sentences start out (and stay) all alike.
        self.action_classifier = nn.Linear(embed_dim, n_actions) if n_actions else None
        # A separate temperature for frame-level matching (its positives are many and noisy).
        self.frame_logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def classify_actions(self, emb: torch.Tensor) -> torch.Tensor:
        """Action logits of L2-normalised embeddings (``action_classifier`` only)."""
        assert self.action_classifier is not None
        return self.action_classifier(emb * 10.0)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, H, W)`` normalised pixels -> ``(B, T, D)`` L2-normalised embeddings."""
        b, t = frames.shape[:2]
        x = frames.flatten(0, 1).contiguous(memory_format=torch.channels_last)
        emb = self.clip.encode_image(x)
        return F.normalize(emb.float(), dim=-1).view(b, t, -1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> L2-normalised float32 embeddings (also under autocast)."""
        return F.normalize(self.clip.encode_text(tokens).float(), dim=-1)

    def pool_mean(self, frame_emb: torch.Tensor) -> torch.Tensor:
        return F.normalize(frame_emb.mean(dim=1), dim=-1)

    def pool_temporal(self, frame_emb: torch.Tensor) -> torch.Tensor:
        if self.head is None:
            return self.pool_mean(frame_emb)
        return F.normalize(self.head(frame_emb), dim=-1)
