"""``vidlens-tiny``: the small video-text model shipped inside the package, for offline use.

A custom open_clip architecture (a ModifiedResNet image tower, 96 px, width 16, one block per
stage; text transformer width 128 / 4 layers / context 32; embeddings 256) trained by
``vidlens train`` on the synthetic world (``scripts/train_tiny.sh``). It understands *that*
world — coloured, textured shapes on plain, gradient or noisy backgrounds that move, grow,
shrink, spin, bounce, appear, disappear and change colour — not real footage; it is the default
encoder only when no pretrained CLIP weights are on the machine, so that search, moments and the
demo are meaningful offline.

Files (package data ``vidlens/models/``): ``vidlens-tiny.safetensors`` (open_clip weights, fp16),
``vidlens-tiny.safetensors.json`` (its open_clip config, read by the open_clip backend) and
``vidlens-tiny.temporal.safetensors`` (the temporal head).

How the temporal head is used: the engine indexes and searches per-FRAME embeddings (frame
similarity curves give moments), so the encoder registered as ``vidlens-tiny`` is exactly the
open_clip frame and text towers. The temporal head pools a video's stored frame embeddings into
one video embedding that sees the order of states (left vs right, grow vs shrink), which a mean
of frames loses; it is a separate, video-level path (:func:`temporal_video_embeddings`, used
by classification — ``vidlens classify`` and ``vidlens eval classify`` with ``--pooling auto``
— and by ``scripts/eval_synth.py``'s motion-direction measurement), not part of search.
"""

from __future__ import annotations

import json
import logging
import shutil
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EncoderError
from ._registry import EncoderConfig

if TYPE_CHECKING:
    from .openclip import OpenClipEncoder

__all__ = [
    "TINY_ENCODER_ID",
    "create_tiny_encoder",
    "install_model",
    "load_temporal_head",
    "model_available",
    "model_path",
    "temporal_head_for",
    "temporal_video_embeddings",
    "temporal_video_scores",
]

logger = logging.getLogger(__name__)

TINY_ENCODER_ID = "vidlens-tiny"
MODEL_FILE = "vidlens-tiny.safetensors"
HEAD_FILE = "vidlens-tiny.temporal.safetensors"
_HEAD_KEY = "vidlens_temporal_head"


def _models_dir() -> Path:
    return Path(str(resources.files("vidlens"))) / "models"


def model_path() -> Path:
    """Where the shipped checkpoint lives (it may be absent in a source checkout)."""
    return _models_dir() / MODEL_FILE


def model_available() -> bool:
    """Whether the shipped checkpoint and its config are installed."""
    path = model_path()
    return path.is_file() and path.with_name(path.name + ".json").is_file()


def create_tiny_encoder(spec: str | None, config: EncoderConfig) -> OpenClipEncoder:
    """Entry-point factory for ``vidlens-tiny`` (no spec): the shipped checkpoint through the
    open_clip backend, reported under the id ``vidlens-tiny``."""
    from .openclip import OpenClipEncoder, OpenClipSpec

    if spec is not None:
        raise EncoderError(
            f"vidlens-tiny takes no spec (got 'vidlens-tiny:{spec}'); for another checkpoint "
            f"of the same architecture use openclip:vidlens-tiny//path/to/model.safetensors"
        )
    path = model_path()
    if not model_available():
        raise EncoderError(
            f"the vidlens-tiny model is not installed ({path} is missing); build it with "
            f"`make tiny-model` (scripts/train_tiny.sh) or reinstall vidlens"
        )
    encoder = OpenClipEncoder(OpenClipSpec(TINY_ENCODER_ID, str(path), "path", path), config)
    encoder.id = TINY_ENCODER_ID
    return encoder


def load_temporal_head(path: str | Path | None = None, device: str = "cpu") -> Any | None:
    """The temporal head of a checkpoint (default: the shipped one), or None if it has none.

    Returns a :class:`vidlens.train.model.TemporalHead` in eval mode, float32.
    """
    import torch
    from safetensors.torch import load_file

    from ..train.model import TemporalHead, TemporalHeadConfig

    ckpt = Path(path) if path is not None else model_path()
    side = ckpt.with_name(ckpt.name + ".json")
    if not side.is_file():
        raise EncoderError(f"{side} not found: no config beside checkpoint {ckpt}")
    data = json.loads(side.read_text(encoding="utf-8"))
    head_info = data.get(_HEAD_KEY)
    if not head_info:
        return None
    fields = {k: v for k, v in head_info.items() if k != "file"}
    if "clip_frames" not in fields:  # exported before the field existed: the recipe says
        recipe = (data.get("vidlens_training") or {}).get("config") or {}
        fields["clip_frames"] = int(recipe.get("frames_per_clip", 0))
    head = TemporalHead(int(data["model_cfg"]["embed_dim"]), TemporalHeadConfig(**fields))
    state = load_file(str(ckpt.with_name(head_info["file"])))
    head.load_state_dict({k: v.to(torch.float32) for k, v in state.items()})
    return head.to(device).eval()


def temporal_head_for(encoder_id: str) -> Any | None:
    """The temporal head that comes with an encoder, or None: vidlens-tiny's, or the one beside
    a ``vidlens train`` export loaded as ``openclip:ARCH//path/model.safetensors``."""
    if encoder_id == TINY_ENCODER_ID:
        return load_temporal_head() if model_available() else None
    from ._openclip_weights import parse_openclip_spec

    name, _, spec = encoder_id.partition(":")
    if name != "openclip":
        return None
    try:
        parsed = parse_openclip_spec(spec)
    except EncoderError:
        return None
    path = parsed.path
    if parsed.kind != "path" or path is None or not path.is_file():
        return None  # an open_clip tag, random weights, a checkpoint folder
    if not path.with_name(path.name + ".json").is_file():
        return None  # a plain open_clip checkpoint: no sidecar, no head
    return load_temporal_head(path)


def temporal_video_embeddings(head: Any, frame_vectors_per_video: list[np.ndarray]) -> np.ndarray:
    """``(n_videos, D)`` L2-normalised video embeddings through the temporal head.

    A video (or stretch) with more frames than the head was trained on (``clip_frames``: the
    trainer's ``frames_per_clip``, 4 for vidlens-tiny; only those positions ever learned) is
    first cut into that many consecutive, near-equal runs of frames, each averaged and
    re-normalised, so the head sees what it was trained on — a few states of the clip in time
    order — at any frame rate and length (vidlens-tiny's action top-1 on the synthetic test
    stretches: 0.844 at 1 fps and 0.876 at 2 fps with 4 runs; 0.792 and 0.684 when every frame
    took its own position), and costs the same for a 2-hour video as for a minute.

    Args:
        frame_vectors_per_video: each video's (or stretch's) frame embeddings ``(T_i, D)``,
            ``T_i >= 1``, in time order (e.g. :meth:`vidlens.Library.frame_vectors`);
            L2-normalised here.
    """
    import torch
    import torch.nn.functional as F

    limit = int(head.cfg.input_frames)
    inputs = []
    by_length: dict[int, list[int]] = {}
    with torch.inference_mode():
        for i, vec in enumerate(frame_vectors_per_video):
            x = F.normalize(torch.from_numpy(np.asarray(vec, dtype=np.float32)), dim=-1)
            if x.shape[0] > limit:
                runs = torch.tensor_split(x, limit)
                x = F.normalize(torch.stack([r.mean(dim=0) for r in runs]), dim=-1)
            inputs.append(x)
            by_length.setdefault(int(x.shape[0]), []).append(i)
        out = np.zeros((len(inputs), int(head.proj.out_features)), dtype=np.float32)
        for idx in by_length.values():  # inputs of one length go through the head together
            batch = torch.stack([inputs[i] for i in idx])
            out[idx] = F.normalize(head(batch), dim=-1).numpy()
    return out


def temporal_video_scores(
    head: Any, frame_vectors_per_video: list[np.ndarray], text_vectors: np.ndarray
) -> np.ndarray:
    """Video-level cosine scores ``(n_texts, n_videos)`` through the temporal head.

    Args:
        frame_vectors_per_video: each video's stored frame embeddings ``(T_i, D)`` in time order
            (e.g. :meth:`vidlens.Library.frame_vectors`); L2-normalised here.
        text_vectors: ``(n_texts, D)`` text embeddings.
    """
    v = temporal_video_embeddings(head, frame_vectors_per_video)
    t = np.asarray(text_vectors, dtype=np.float32)
    t = t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12)
    return t @ v.T


def install_model(train_out: str | Path, target_dir: str | Path | None = None) -> Path:
    """Copy a ``vidlens train`` export (``model.safetensors`` + ``.json`` + temporal head) into
    the package's ``models/`` folder under the ``vidlens-tiny`` names; return the checkpoint."""
    src = Path(train_out)
    dst = Path(target_dir) if target_dir is not None else _models_dir()
    dst.mkdir(parents=True, exist_ok=True)
    side = json.loads((src / "model.safetensors.json").read_text(encoding="utf-8"))
    shutil.copyfile(src / "model.safetensors", dst / MODEL_FILE)
    head = side.get(_HEAD_KEY)
    if head:
        shutil.copyfile(src / head["file"], dst / HEAD_FILE)
        side[_HEAD_KEY] = {**head, "file": HEAD_FILE}
    training = side.get("vidlens_training")
    if training:  # keep the recipe, drop machine-specific paths' noise
        side["vidlens_training"] = {k: training[k] for k in ("config", "steps", "history")
                                    if k in training}  # fmt: skip
    (dst / (MODEL_FILE + ".json")).write_text(json.dumps(side, indent=2) + "\n", "utf-8")
    return dst / MODEL_FILE
