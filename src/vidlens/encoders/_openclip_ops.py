"""Batch image preprocessing and text-padding trimming for the open_clip backend."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)


def _target_hw(size: Any) -> tuple[int, int]:
    if isinstance(size, (tuple, list)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def _resized_hw(h: int, w: int, th: int, tw: int, mode: str) -> tuple[int, int]:
    """Output size of open_clip's eval resize (torchvision's rounding, so results match)."""
    if mode == "squash":
        return th, tw
    if mode == "shortest" and th == tw:  # torchvision Resize(int): short side -> size
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(th * long / short)
        return (new_long, th) if w <= h else (th, new_long)
    # ResizeKeepRatio: shortest edge (non-square target) or longest edge ('longest')
    ratio = max(h / th, w / tw) if mode == "longest" else min(h / th, w / tw)
    return round(h / ratio), round(w / ratio)


def _resize(x: torch.Tensor, hw: tuple[int, int], interpolation: str) -> torch.Tensor:
    import torch
    import torch.nn.functional as F

    mode = interpolation if interpolation in ("bilinear", "bicubic", "nearest") else "bicubic"
    antialias = mode != "nearest"
    if x.device.type == "cpu":
        # torch's uint8 antialiased kernels match PIL to within one level and are ~20x faster
        # than resizing floats; the NHWC-strided input is the layout they are fastest on.
        return F.interpolate(x, size=hw, mode=mode, antialias=antialias)
    y = F.interpolate(x.to(torch.float32), size=hw, mode=mode, antialias=antialias)
    return y.clamp_(0, 255).round_()  # as if resized in uint8, like PIL


def _crop_or_pad(x: torch.Tensor, th: int, tw: int, fill: int) -> torch.Tensor:
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    if h < th or w < tw:  # torchvision CenterCrop pads small images before cropping
        ph, pw = max(th - h, 0), max(tw - w, 0)
        x = F.pad(x, (pw // 2, (pw + 1) // 2, ph // 2, (ph + 1) // 2), value=fill)
        h, w = x.shape[-2:]
    top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
    return x[..., top : top + th, left : left + tw]


# --------------------------------------------------------------------------- text trimming


@dataclass(frozen=True)
class _TrimmableText:
    """A causal text transformer with EOT pooling, whose padding can be cut off exactly."""

    owner: Any  # the CLIP model itself, or CustomTextCLIP's TextTransformer (an nn.Module)
    pool_type: str  # "argmax" or "eos"
    eos_id: int | None

    def pooled_positions(self, tokens: torch.Tensor) -> torch.Tensor:
        """(N,) index of the token each text's embedding is read from."""
        if self.pool_type == "argmax":
            return tokens.argmax(dim=-1)
        return tokens.eq(-1 if self.eos_id is None else self.eos_id).int().argmax(dim=-1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """open_clip's text forward with the positional embedding and causal mask sliced to the
        given length; positions after the pooled token cannot influence it under a causal mask."""
        import torch
        from open_clip.transformer import text_global_pool

        m = self.owner
        n = tokens.shape[1]
        cast_dtype = m.transformer.get_cast_dtype()
        x = m.token_embedding(tokens).to(cast_dtype)
        x = x + m.positional_embedding[:n].to(cast_dtype)
        x = m.transformer(x, attn_mask=m.attn_mask[:n, :n])
        x = m.ln_final(x)
        x = text_global_pool(x, tokens, self.pool_type, eos_token_id=self.eos_id)
        proj = m.text_projection
        if proj is not None:
            x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
        return x


def _trimmable_text(model: torch.nn.Module) -> _TrimmableText | None:
    import open_clip
    from open_clip.transformer import TextTransformer

    if isinstance(model, open_clip.CLIP):
        owner: Any = model
        pool_type, eos_id = model.text_pool_type, getattr(model, "text_eos_id", None)
    elif isinstance(getattr(model, "text", None), TextTransformer):
        text: Any = model.text
        if text.cls_emb is not None or text.use_pad_mask:
            return None
        owner, pool_type, eos_id = text, text.pool_type, text.eos_id
    else:
        return None
    if getattr(owner, "attn_mask", None) is None or pool_type not in ("argmax", "eos"):
        return None  # bidirectional or last-token pooling: padding changes the result
    return _TrimmableText(owner, pool_type, eos_id)


# --------------------------------------------------------------------------- the encoder


def _probe_frames(size: int, n: int = 4) -> np.ndarray:
    """Deterministic smooth test images, uint8 ``(n, size, size, 3)``."""
    import torch
    import torch.nn.functional as F

    low = np.random.default_rng(0).integers(0, 256, (n, 3, 4, 4)).astype(np.float32)
    up = F.interpolate(torch.from_numpy(low), size=(size, size), mode="bilinear")
    return up.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
