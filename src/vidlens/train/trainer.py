"""Contrastive video-text training (ViFi-CLIP style) on synthetic sets with exact labels.

One step encodes ``B`` clips of ``T`` frames with the image tower and their ``B`` captions with
the text tower, and minimises three symmetric InfoNCE losses with learnable temperatures:

- **clip / mean** — mean-pooled frame embeddings vs captions (ViFi-CLIP);
- **clip / temporal** — the :class:`~vidlens.train.model.TemporalHead` embedding vs captions;
- **frame** — every frame vs every caption, positives from the exact per-frame truth
  (:class:`~vidlens.train.data.Batch`). This is what makes the *frame* embeddings, which the
  engine indexes and turns into similarity curves, rise exactly while an event happens.

and, with ``action_loss_weight``, an **action** loss (ActionCLIP / ViFi-CLIP's training on label
text): every frame, mean-pooled clip and temporal-head clip is classified among one class
sentence per action (``"something moves left"``, ...), positives from the exact truth. Captions
name an object's colour and shape, which alone tell most clips of a batch apart, so without this
loss neither tower needs the verb (its text embeddings of "moves left" and "moves right" end up
the same).

Losses with several positives average ``-log softmax`` over the positives (SupCon); pairs that
are partly true are left out of the denominators. Everything is seeded: the initial weights by
``seed``, the order and content of the batches by ``(seed, epoch)``, so a run resumed from its
epoch checkpoint continues exactly as an uninterrupted one.

Outputs in ``out_dir``: ``config.json`` (everything needed to reproduce), ``state.safetensors``
(+ ``state.json``; weights and optimiser after the last finished epoch, for ``--resume``),
``log.jsonl`` (per-epoch metrics) and, at the end, the exported model:
``model.safetensors`` (open_clip state dict, fp16) + ``model.safetensors.json`` (open_clip
config, loadable by ``openclip:ARCH//path/model.safetensors``) + ``temporal_head.safetensors``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = [
    "ModelSetup",
    "TrainConfig",
    "TrainResult",
    "batch_loss",
    "build_model",
    "encode_cache_frames",
    "export_model",
    "load_train_config",
    "train",
]

logger = logging.getLogger(__name__)

MODEL_FILE = "model.safetensors"
HEAD_FILE = "temporal_head.safetensors"
STATE_FILE = "state.safetensors"
MAX_LOGIT_SCALE = 100.0
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (written to ``out_dir/config.json``)."""

    data: str  # synthetic training set (vidlens synth --out DIR)
    out_dir: str  # checkpoints, logs, exported model
    val_data: str | None = None  # synthetic validation set (R@1 per epoch)
    model: str = "vidlens-tiny"  # "vidlens-tiny", an open_clip architecture, or a model_cfg JSON
    init: str | None = None  # open_clip checkpoint to start from (default: seeded random init)
    head_layers: int = 2  # temporal transformer layers (0: mean pooling only)
    head_heads: int = 4
    epochs: int = 6
    max_steps: int | None = None  # stop after this many steps (a short run)
    batch_size: int = 32  # clips per step
    frames_per_clip: int = 8
    hard_negatives: int = 0  # per event clip: captions of its object doing other actions
    generic_captions: float = 0.0  # share of event clips captioned without their object
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_steps: int = 100
    init_temperature: float = 0.07  # starting softmax temperature of every loss (learned)
    frame_loss_weight: float = 1.0
    temporal_loss_weight: float = 1.0
    mean_loss_weight: float = 1.0
    action_loss_weight: float = 0.0  # frames and clips vs one class sentence per action
    action_classifier_weight: float = 0.0  # action_frames through a linear action classifier
    action_frames: int = 0  # per step: augmented single frames of one action each (action losses)
    cache_dir: str | None = None  # decoded-frame cache (default: <out_dir>/cache)
    cache_fps: float = 2.0  # frames per second kept in the cache
    limit_videos: int | None = None  # use only the first N training videos
    limit_val_videos: int | None = 200
    seed: int = 0
    device: str = "cpu"
    # "bf16": the towers run under bfloat16 autocast (weights, losses and similarities stay
    # float32); on this AMX CPU a step of the shipped recipe is 1.45x faster than with "fp32"
    precision: str = "fp32"
    threads: int | None = None  # torch intra-op threads (default: torch's choice)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 2 or self.frames_per_clip < 1:
            raise ConfigError("epochs >= 1, batch_size >= 2 and frames_per_clip >= 1 are needed")
        if not (1 / MAX_LOGIT_SCALE <= self.init_temperature <= 1.0):
            raise ConfigError(
                f"init_temperature must be within {1 / MAX_LOGIT_SCALE}..1, "
                f"got {self.init_temperature}"
            )
        if not (0.0 <= self.generic_captions <= 1.0):
            raise ConfigError(f"generic_captions must be within 0..1, got {self.generic_captions}")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.lr <= 0 or self.warmup_steps < 0:
            raise ConfigError(
                f"lr must be > 0 and warmup_steps >= 0, got {self.lr}, {self.warmup_steps}"
            )


@dataclass
class TrainResult:
    out_dir: str
    steps: int
    seconds: float
    final_loss: float
    history: list[dict[str, Any]] = field(default_factory=list)  # one record per epoch
    model_path: str | None = None


def load_train_config(path: str | os.PathLike[str] | None, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a JSON or TOML file, with non-None ``overrides`` on top."""
    values: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            if p.suffix == ".toml":
                import tomllib

                values = tomllib.loads(p.read_text(encoding="utf-8"))
            else:
                values = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read training config {p}: {exc}") from exc
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(f"unknown keys in {path}: {', '.join(unknown)}; valid: {sorted(names)}")
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data" not in values or "out_dir" not in values:
        raise ConfigError("training needs data (a synthetic set) and out_dir")
    return TrainConfig(**values)


# ------------------------------------------------------------------------------ model setup


def _model_cfg(cfg: TrainConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model_cfg, preprocess_cfg) of the architecture to train."""
    from .model import TINY_MODEL_CFG, TINY_PREPROCESS_CFG

    if cfg.init is not None:
        side = Path(cfg.init + ".json")
        if side.is_file():
            data = json.loads(side.read_text(encoding="utf-8"))
            return dict(data["model_cfg"]), dict(data.get("preprocess_cfg") or TINY_PREPROCESS_CFG)
    if cfg.model == "vidlens-tiny":
        return dict(TINY_MODEL_CFG), dict(TINY_PREPROCESS_CFG)
    if cfg.model.endswith(".json"):
        data = json.loads(Path(cfg.model).read_text(encoding="utf-8"))
        model_cfg = dict(data.get("model_cfg", data))
        pp = dict(data.get("preprocess_cfg") or TINY_PREPROCESS_CFG)
        pp["size"] = model_cfg["vision_cfg"]["image_size"]
        return model_cfg, pp
    import open_clip

    builtin = open_clip.get_model_config(cfg.model)
    if builtin is None:
        raise ConfigError(
            f"unknown model {cfg.model!r}: use vidlens-tiny, an open_clip architecture "
            f"(open_clip.list_models()) or a JSON file with a model_cfg"
        )
    pp = dict(TINY_PREPROCESS_CFG)
    pp["size"] = builtin["vision_cfg"]["image_size"]
    return dict(builtin), pp


def _param_groups(model: Any, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "embedding" in name or "logit_scale" in name or name.endswith(".pos"):
            no_decay.append(p)
        else:
            decay.append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _supcon(logits: Any, pos: Any, ignore: Any | None = None) -> Any:
    """Mean over rows with a positive of the mean ``-log softmax`` of their positives."""
    import torch

    if ignore is not None:
        logits = logits.masked_fill(ignore & ~pos, float("-inf"))
    logp = torch.log_softmax(logits, dim=1)
    n_pos = pos.sum(dim=1)
    rows = n_pos > 0
    if not bool(rows.any()):
        return logits.sum() * 0.0
    per_row = -(logp.masked_fill(~pos, 0.0)).sum(dim=1)[rows] / n_pos[rows]
    return per_row.mean()


def _symmetric(logits: Any, pos: Any, ignore: Any | None = None) -> Any:
    ign_t = ignore.T if ignore is not None else None
    return 0.5 * (_supcon(logits, pos, ignore) + _supcon(logits.T, pos.T, ign_t))


# ------------------------------------------------------------------------------ checkpoints


def _save_state(out: Path, model: Any, opt: Any, epoch: int, step: int) -> None:
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    meta_state: dict[str, Any] = {}
    for idx, st in opt_state["state"].items():
        for name, value in st.items():
            if hasattr(value, "shape") and value.ndim > 0:
                tensors[f"opt.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                meta_state.setdefault(str(idx), {})[name] = float(value)
    tmp = out / (STATE_FILE + ".tmp")
    save_file(tensors, str(tmp))
    os.replace(tmp, out / STATE_FILE)
    meta = {"epoch": epoch, "step": step, "opt_scalars": meta_state,
            "param_groups": opt_state["param_groups"]}  # fmt: skip
    tmp_json = out / "state.json.tmp"
    tmp_json.write_text(json.dumps(meta) + "\n", encoding="utf-8")
    os.replace(tmp_json, out / "state.json")


def _load_state(out: Path, model: Any, opt: Any) -> tuple[int, int]:
    import torch
    from safetensors.torch import load_file

    tensors = load_file(str(out / STATE_FILE))
    meta = json.loads((out / "state.json").read_text(encoding="utf-8"))
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    for idx, scalars in meta["opt_scalars"].items():
        for name, value in scalars.items():
            state.setdefault(int(idx), {})[name] = torch.tensor(value)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["epoch"]), int(meta["step"])


def export_model(
    out_dir: str | os.PathLike[str],
    model: Any,
    model_cfg: dict[str, Any],
    preprocess_cfg: dict[str, Any],
    head_cfg: dict[str, Any] | None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``model.safetensors`` (fp16 open_clip weights) + sidecar config + temporal head."""
    import torch
    from safetensors.torch import save_file

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clip_state = {
        k: v.detach().cpu().to(torch.float16).contiguous()
        for k, v in model.clip.state_dict().items()
    }
    save_file(clip_state, str(out / MODEL_FILE), metadata={"format": "pt", "written_by": "vidlens"})
    sidecar: dict[str, Any] = {"model_cfg": model_cfg, "preprocess_cfg": preprocess_cfg}
    if model.head is not None and head_cfg is not None:
        head_state = {
            k: v.detach().cpu().to(torch.float16).contiguous()
            for k, v in model.head.state_dict().items()
        }
        save_file(head_state, str(out / HEAD_FILE))
        sidecar["vidlens_temporal_head"] = {"file": HEAD_FILE, **head_cfg}
    if extra:
        sidecar["vidlens_training"] = extra
    (out / (MODEL_FILE + ".json")).write_text(json.dumps(sidecar, indent=2) + "\n", "utf-8")
    return out / MODEL_FILE


# ------------------------------------------------------------------------------ evaluation


def encode_cache_frames(
    model: Any, frames: np.ndarray, mean: Any, std: Any, device: Any, batch: int = 256
) -> np.ndarray:
    """uint8 ``(N, S, S, 3)`` -> L2-normalised frame embeddings ``(N, D)`` float32."""
    import torch
    import torch.nn.functional as F

    out = []
    with torch.inference_mode():
        for s in range(0, len(frames), batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[s : s + batch])).to(device)
            x = (x.permute(0, 3, 1, 2).float().div(255.0) - mean) / std
            x = x.contiguous(memory_format=torch.channels_last)
            out.append(F.normalize(model.clip.encode_image(x), dim=-1).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 1), np.float32)


def _validate(model: Any, cache: Any, tokenizer: Any, mean: Any, std: Any, device: Any) -> dict:
    """Text->video R@1 on the validation set: engine-style (top-3 frame mean, frames at 1 fps)
    and mean pooling, with each video's first caption; zero-shot action top-1 (mean pooling and
    temporal head)."""
    import torch

    from ..synth.annotations import class_prompts, retrieval_captions
    from ..synth.world import ACTION_LABELS, ACTIONS

    model.eval()
    step = max(1, round(cache.fps))  # 1-fps frames, like the engine's default sampling
    keep = np.concatenate(
        [cache.offsets[i] + np.arange(0, cache.counts[i], step) for i in range(len(cache.videos))]
    )
    owner = np.concatenate(
        [np.full(len(range(0, int(cache.counts[i]), step)), i) for i in range(len(cache.videos))]
    )
    emb = encode_cache_frames(model, cache.frames[keep], mean, std, device)
    texts = [retrieval_captions(v)[0].text for v in cache.videos]
    with torch.inference_mode():
        temb = model.encode_text(tokenizer(texts).to(device)).float().cpu().numpy()
    sims = temb @ emb.T  # (V texts, frames)
    n = len(cache.videos)
    topk = np.zeros((n, n))
    pooled = np.zeros((n, emb.shape[1]), dtype=np.float32)
    for i in range(n):
        s = np.sort(sims[:, owner == i], axis=1)[:, ::-1][:, :3]
        topk[:, i] = s.mean(axis=1)
        m = emb[owner == i].mean(axis=0)
        pooled[i] = m / max(np.linalg.norm(m), 1e-12)
    mean_sims = temb @ pooled.T
    # zero-shot action of each video's primary event (class prompt ensembles, as the benchmark)
    prompts = [class_prompts(ACTION_LABELS[a]) for a in ACTIONS]
    with torch.inference_mode():
        cls = [model.encode_text(tokenizer(p).to(device)).float().mean(0) for p in prompts]
        cemb = torch.nn.functional.normalize(torch.stack(cls), dim=-1)
        temporal = torch.cat([
            model.pool_temporal(torch.from_numpy(emb[owner == i]).to(device)[None])
            for i in range(n)
        ]).float().cpu().numpy()  # fmt: skip
    cemb_np = cemb.cpu().numpy()
    label = np.array([ACTIONS.index(v.events[v.primary_event].action) for v in cache.videos])
    model.train()

    def r1(s: np.ndarray) -> float:
        correct = s[np.arange(n), np.arange(n)]
        return float(np.mean((s >= correct[:, None]).sum(axis=1) == 1))

    return {
        "val_R@1_topk": round(r1(topk), 4),
        "val_R@1_mean": round(r1(mean_sims), 4),
        "val_action_mean": round(float(np.mean((pooled @ cemb_np.T).argmax(1) == label)), 4),
        "val_action_temporal": round(float(np.mean((temporal @ cemb_np.T).argmax(1) == label)), 4),
    }


# ------------------------------------------------------------------------------ training


def _progress_printer(total: int) -> Callable[[int, float, float], None]:
    started = time.perf_counter()
    tty = sys.stderr.isatty()

    def show(step: int, loss: float, lr: float) -> None:
        if not tty and step % 10 and step != total:
            return
        done = step / max(total, 1)
        width = 30
        bar = "#" * int(width * done) + "-" * (width - int(width * done))
        elapsed = time.perf_counter() - started
        eta = elapsed / max(step, 1) * (total - step)
        line = (f"[{bar}] {step}/{total} loss {loss:.4f} lr {lr:.2e} "
                f"{elapsed / 60:.1f} min, eta {eta / 60:.1f} min")  # fmt: skip
        print(("\r" if tty else "") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

    return show


@dataclass
class ModelSetup:
    """What :func:`build_model` decided besides the model: configs, tokenizer, normalisation."""

    model_cfg: dict[str, Any]
    preprocess_cfg: dict[str, Any]
    head_cfg: Any  # TemporalHeadConfig
    tokenizer: Any
    mean: Any  # (1, 3, 1, 1) tensors on the device
    std: Any


def build_model(cfg: TrainConfig, device: Any) -> tuple[Any, ModelSetup]:
    """The seeded :class:`~vidlens.train.model.VideoClip` that ``cfg`` trains, on ``device``."""
    import open_clip
    import torch

    from ..synth.world import ACTIONS
    from .model import TemporalHeadConfig, VideoClip, build_clip

    model_cfg, pp = _model_cfg(cfg)
    head_cfg = TemporalHeadConfig(
        layers=cfg.head_layers, heads=cfg.head_heads, clip_frames=cfg.frames_per_clip
    )
    clip = build_clip(model_cfg, seed=cfg.seed)
    if cfg.init is not None:
        open_clip.load_checkpoint(clip, cfg.init, strict=True, weights_only=True)
    torch.manual_seed(cfg.seed)
    n_actions = len(ACTIONS) if cfg.action_classifier_weight > 0 and cfg.action_frames else 0
    model: Any = VideoClip(clip, head_cfg, int(model_cfg["embed_dim"]), n_actions).to(device)
    # Channels-last convolution weights (frames are made channels-last in encode_frames): the
    # same arithmetic, and oneDNN's convolutions and batch norms run much faster in that layout.
    model = model.to(memory_format=torch.channels_last)
    with torch.no_grad():
        if cfg.init is None:
            model.clip.logit_scale.fill_(math.log(1 / cfg.init_temperature))
        model.frame_logit_scale.fill_(math.log(1 / cfg.init_temperature))
    tokenizer = open_clip.SimpleTokenizer(context_length=model_cfg["text_cfg"]["context_length"])
    mean = torch.tensor(pp["mean"], device=device).view(1, 3, 1, 1)
    std = torch.tensor(pp["std"], device=device).view(1, 3, 1, 1)
    return model, ModelSetup(model_cfg, pp, head_cfg, tokenizer, mean, std)


def batch_loss(
    model: Any, batch: Any, cfg: TrainConfig, tokenizer: Any, mean: Any, std: Any, device: Any
) -> Any:
    """The training loss of one :class:`~vidlens.train.data.Batch` (a scalar tensor with grad).

    Both towers run under ``cfg.precision``; similarities and losses are float32.
    """
    import torch
    import torch.nn.functional as F

    towers = functools.partial(
        torch.autocast, device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"
    )
    b, t, h, w = batch.frames.shape[:4]
    x = torch.from_numpy(np.ascontiguousarray(batch.frames)).to(device)
    x = x.flatten(0, 1).permute(0, 3, 1, 2).float().div(255.0)
    x = ((x - mean) / std).view(b, t, 3, h, w)
    use_actions = cfg.action_loss_weight > 0
    texts = batch.texts + batch.action_texts if use_actions else batch.texts
    tokens = tokenizer(texts).to(device)
    with towers():  # embeddings come out float32 and L2-normalised in float32
        frame_emb = model.encode_frames(x)  # (B, T, D)
        all_text = model.encode_text(tokens)
    text_emb = all_text[: len(batch.texts)]  # (N, D)
    scale = model.clip.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
    fscale = model.frame_logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
    pos = torch.from_numpy(batch.clip_pos).to(device)
    ign = torch.from_numpy(batch.clip_ignore).to(device)
    loss = cfg.mean_loss_weight * _symmetric(
        scale * model.pool_mean(frame_emb) @ text_emb.T, pos, ign
    )
    if model.head is not None and cfg.temporal_loss_weight > 0:
        loss = loss + cfg.temporal_loss_weight * _symmetric(
            scale * model.pool_temporal(frame_emb) @ text_emb.T, pos, ign
        )
    if cfg.frame_loss_weight > 0:
        fpos = torch.from_numpy(batch.frame_pos).to(device)
        flog = fscale * F.normalize(frame_emb.flatten(0, 1), dim=-1) @ text_emb.T
        loss = loss + cfg.frame_loss_weight * _symmetric(flog, fpos)
    if use_actions:
        action_emb = all_text[len(batch.texts) :]  # (A, D)
        fa = torch.from_numpy(batch.frame_action).to(device)
        ca = torch.from_numpy(batch.clip_action).to(device)
        ci = torch.from_numpy(batch.clip_action_ignore).to(device)
        frames_flat = F.normalize(frame_emb.flatten(0, 1), dim=-1)
        action = _supcon(fscale * frames_flat @ action_emb.T, fa)
        action = action + _supcon(scale * model.pool_mean(frame_emb) @ action_emb.T, ca, ci)
        if model.head is not None:
            action = action + _supcon(scale * model.pool_temporal(frame_emb) @ action_emb.T, ca, ci)
        loss = loss + cfg.action_loss_weight * action
    if batch.action_frames is not None:
        ax = torch.from_numpy(batch.action_frames).to(device)
        ax = ax.permute(0, 3, 1, 2).float().div(255.0)
        with towers():
            aemb = model.encode_frames(((ax - mean) / std)[:, None])[:, 0]  # (M, D)
        labels = torch.from_numpy(batch.action_labels).to(device)
        if use_actions:
            act_logits = fscale * aemb @ all_text[len(batch.texts) :].T
            loss = loss + cfg.action_loss_weight * F.cross_entropy(act_logits, labels)
        if model.action_classifier is not None:
            loss = loss + cfg.action_classifier_weight * F.cross_entropy(
                model.classify_actions(aemb), labels
            )
    return loss


def train(cfg: TrainConfig, *, resume: bool = False, show_progress: bool = True) -> TrainResult:
    """Run (or, with ``resume``, continue) the training described by ``cfg``."""
    import open_clip
    import torch

    from ..encoders.openclip import _resolve_device
    from .data import ClipSampler, build_cache

    started = time.perf_counter()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = _resolve_device(cfg.device)
    model, setup = build_model(cfg, device)
    model_cfg, pp, head_cfg = setup.model_cfg, setup.preprocess_cfg, setup.head_cfg
    tokenizer, mean, std = setup.tokenizer, setup.mean, setup.std
    image_size = int(model_cfg["vision_cfg"]["image_size"])

    cache_dir = cfg.cache_dir or str(out / "cache")
    cache = build_cache(cfg.data, cache_dir, image_size=image_size, fps=cfg.cache_fps,
                        limit=cfg.limit_videos)  # fmt: skip
    val_cache = None
    if cfg.val_data:
        val_cache = build_cache(cfg.val_data, cache_dir, image_size=image_size, fps=cfg.cache_fps,
                                limit=cfg.limit_val_videos)  # fmt: skip
    sampler = ClipSampler(cache, batch_size=cfg.batch_size, frames_per_clip=cfg.frames_per_clip,
                          seed=cfg.seed, hard_negatives=cfg.hard_negatives,
                          generic_captions=cfg.generic_captions,
                          action_frames=cfg.action_frames)  # fmt: skip
    per_epoch = sampler.steps_per_epoch()
    if per_epoch < 1:
        raise ConfigError(
            f"{len(sampler.items)} training clips is less than one batch of {cfg.batch_size}"
        )
    total = per_epoch * cfg.epochs
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    opt = torch.optim.AdamW(_param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.98),
                            eps=1e-6)  # fmt: skip
    (out / "config.json").write_text(
        json.dumps({"train": asdict(cfg), "model_cfg": model_cfg, "preprocess_cfg": pp,
                    "temporal_head": head_cfg.to_dict(), "steps": total,
                    "torch": torch.__version__, "open_clip": open_clip.__version__}, indent=2)
        + "\n", encoding="utf-8")  # fmt: skip
    first_epoch, step = 0, 0
    if resume and (out / STATE_FILE).is_file():
        first_epoch, step = _load_state(out, model, opt)
        logger.info("resumed from %s: epoch %d, step %d", out / STATE_FILE, first_epoch, step)
    history: list[dict[str, Any]] = []
    log_path = out / "log.jsonl"
    show = _progress_printer(total) if show_progress else None
    loss_value = float("nan")
    model.train()
    for epoch in range(first_epoch, cfg.epochs):
        if step >= total:
            break
        epoch_losses: list[float] = []
        t_epoch = time.perf_counter()
        for batch in sampler.epoch(epoch):
            if step >= total:
                break
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, total, cfg)
            loss = batch_loss(model, batch, cfg, tokenizer, mean, std, device)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            loss_value = float(loss.detach())
            epoch_losses.append(loss_value)
            if show:
                show(step, loss_value, opt.param_groups[0]["lr"])
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "step": step,
            "loss": round(float(np.mean(epoch_losses)), 5) if epoch_losses else None,
            "epoch_s": round(time.perf_counter() - t_epoch, 1),
            "logit_scale": round(model.clip.logit_scale.exp().item(), 3),
            "frame_logit_scale": round(model.frame_logit_scale.exp().item(), 3),
        }
        if val_cache is not None:
            record.update(_validate(model, val_cache, tokenizer, mean, std, device))
        history.append(record)
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        logger.info("epoch %d: %s", epoch + 1, record)
        if show:
            print(f"epoch {epoch + 1}: {json.dumps(record)}", file=sys.stderr, flush=True)
        _save_state(out, model, opt, epoch + 1, step)
    extra = {"config": asdict(cfg), "steps": step, "history": history}
    model_path = export_model(out, model, model_cfg, pp, head_cfg.to_dict() if model.head else None,
                              extra)  # fmt: skip
    return TrainResult(
        out_dir=str(out),
        steps=step,
        seconds=round(time.perf_counter() - started, 1),
        final_loss=loss_value,
        history=history,
        model_path=str(model_path),
    )
