"""open_clip encoders: every CLIP-family model open_clip knows, from a tag, a local file or random.

The spec (the part of the encoder id after ``openclip:``) is ``ARCH/PRETRAINED``, split on the
FIRST ``/``::

    openclip:ViT-B-32/openai                          a pretrained tag of ARCH
    openclip:ViT-B-32//abs/path/open_clip_model.safetensors   an absolute checkpoint path
    openclip:ViT-B-32/ckpts/model.pt                   a relative path (from the working directory)
    openclip:ViT-B-32/random                          seeded random weights (not meaningful)

- ``ARCH`` is an open_clip architecture (``open_clip.list_models()``, including names registered
  with ``open_clip.add_model_config``). With a local checkpoint it may be any label when the
  checkpoint brings its own architecture: a sidecar ``<checkpoint>.json`` (or ``<stem>.json``), or
  ``open_clip_config.json`` in its folder, holding ``{"model_cfg": {...}, "preprocess_cfg": {...}}``
  -- the format open_clip writes to the model hub. :func:`save_random_checkpoint` writes one.
- ``PRETRAINED`` is a tag of ARCH (``open_clip.list_pretrained_tags_by_model``), a checkpoint
  (``.safetensors``, ``.pt``, ``.pth``, ``.bin``, or a folder holding one such as
  ``open_clip_model.safetensors``; anything containing ``/``, ``.`` or ``~`` is a path), or
  ``random``.

Weights are looked for in this order: the local path; open_clip's caches for the tag (the Hugging
Face hub cache, then ``~/.cache/clip`` for URL downloads), checked without any network access;
then the hub, unless ``HF_HUB_OFFLINE`` is set. When they cannot be had the one error says so and
how to pass a local file. Checkpoints are read with safetensors or ``torch.load(weights_only=True)``
only.

The encoder ``id`` keeps the spec as given (a tag in open_clip's spelling, a path exactly as typed,
not resolved). ``fingerprint`` hashes the weights (every state-dict tensor, in sorted key order)
together with the architecture and preprocessing config, so a moved or re-saved checkpoint of the
same weights has the same fingerprint and a library can recognise it under a new path.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EncoderError
from ._openclip_ops import (
    _crop_or_pad,
    _probe_frames,
    _resize,
    _resized_hw,
    _target_hw,
    _trimmable_text,
    _TrimmableText,  # noqa: F401 - re-exported for tests and callers
)
from ._openclip_weights import (
    CHECKPOINT_SUFFIXES,
    CONFIG_FILENAME,
    RANDOM_SEED,
    RANDOM_WEIGHTS,
    OpenClipSpec,
    _checkpoint_file,
    _local_file_hint,
    _read_model_config,
    _tag_weights,
    _unknown_arch_error,
    parse_openclip_spec,
    weights_available,
)
from ._registry import EncoderConfig

if TYPE_CHECKING:  # torch and open_clip are imported lazily: loading the registry stays cheap
    import torch

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "CONFIG_FILENAME",
    "RANDOM_SEED",
    "RANDOM_WEIGHTS",
    "OpenClipEncoder",
    "OpenClipSpec",
    "create_openclip_encoder",
    "parse_openclip_spec",
    "save_random_checkpoint",
    "weights_available",
]

logger = logging.getLogger(__name__)

_DTYPE_NAMES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}
# Trimmed text padding must reproduce the full-context embeddings to this (max abs difference of
# L2-normalised vectors), else trimming stays off for the model.
TEXT_TRIM_TOLERANCE = 1e-5
# dtype="auto" keeps low-precision weights only when every probe embedding stays this close
# (cosine) to float32.
MIN_LOW_PRECISION_COSINE = 0.99
_PROBE_TEXTS = (
    "a photo of a dog",
    "",
    "two people riding bicycles along a river at sunset while a small dog runs beside them",
    "red",
)
_PREPROCESS_KEYS = ("size", "mode", "mean", "std", "interpolation", "resize_mode", "fill_color")
_OFFLINE_VALUES = {"1", "on", "yes", "true"}


# --------------------------------------------------------------------------- model building


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch's CPU generator for a block without disturbing the caller's random state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _instantiate(model_cfg: Mapping[str, Any]) -> torch.nn.Module:
    """Build an open_clip model from a config dict, choosing the class as open_clip.create_model
    does (pretrained tower downloads switched off)."""
    import open_clip

    cfg = copy.deepcopy(dict(model_cfg))
    vision_cfg, text_cfg = cfg["vision_cfg"], cfg["text_cfg"]
    if "timm_model_name" in vision_cfg:
        vision_cfg["timm_model_pretrained"] = False
    is_hf_text = "hf_model_name" in text_cfg
    if is_hf_text:
        text_cfg["hf_model_pretrained"] = False
    custom_text = cfg.pop("custom_text", False) or is_hf_text
    if custom_text:
        cls = open_clip.CoCa if "multimodal_cfg" in cfg else open_clip.CustomTextCLIP
    else:
        cls = open_clip.CLIP
    model: torch.nn.Module = cls(**cfg)
    return model


def _set_preprocess(model: torch.nn.Module, overrides: Mapping[str, Any]) -> None:
    import open_clip
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    pp = merge_preprocess_dict(PreprocessCfg(), dict(overrides))
    visual = getattr(model, "visual", None)
    if visual is not None and hasattr(visual, "image_size"):
        pp["size"] = visual.image_size
    open_clip.set_model_preprocess_cfg(model, pp)


def _shared_tag_preprocess(arch: str) -> dict[str, Any]:
    """Preprocessing for a bare checkpoint of a built-in arch: what all its tags agree on."""
    import open_clip

    variants: dict[str, dict[str, Any]] = {}
    for tag in open_clip.list_pretrained_tags_by_model(arch):
        cfg = open_clip.get_pretrained_cfg(arch, tag)
        pp = {k: cfg[k] for k in _PREPROCESS_KEYS if k in cfg}
        variants[json.dumps(pp, sort_keys=True)] = pp
    if len(variants) == 1:
        return next(iter(variants.values()))
    if variants:
        logger.warning(
            "the tags of %s use %d different preprocessing settings and the checkpoint has no "
            "%s beside it: using open_clip's defaults (OpenAI mean/std, bicubic, shortest side)",
            arch,
            len(variants),
            CONFIG_FILENAME,
        )
    return {}


@dataclass
class _LoadedModel:
    model: torch.nn.Module  # float32, on the CPU, eval mode
    model_cfg: dict[str, Any]  # the effective architecture config (fingerprinted)
    tokenizer: Callable[..., Any] | None
    tokenizer_error: str | None  # why there is no tokenizer (e.g. an HF tokenizer offline)


@functools.lru_cache(maxsize=8)
def _tokenizer(arch: str, config_file: str | None, text_cfg_json: str) -> Callable[..., Any]:
    """The tokenizer open_clip would use, cached: building the CLIP BPE tables takes ~0.5 s."""
    import open_clip

    if config_file is None:
        return open_clip.get_tokenizer(arch)
    if Path(config_file).name == CONFIG_FILENAME:
        return open_clip.get_tokenizer(f"local-dir:{Path(config_file).parent}")
    text_cfg = json.loads(text_cfg_json)
    context_length = text_cfg.get("context_length", 77)
    kwargs = dict(text_cfg.get("tokenizer_kwargs", {}))
    if text_cfg.get("hf_tokenizer_name"):
        from open_clip.tokenizer import HFTokenizer

        return HFTokenizer(
            text_cfg["hf_tokenizer_name"],
            context_length=context_length,
            tokenizer_mode=text_cfg.get("tokenizer_mode"),
            **kwargs,
        )
    return open_clip.SimpleTokenizer(context_length=context_length, **kwargs)


def _make_tokenizer(
    spec: OpenClipSpec, model_cfg: Mapping[str, Any], config_file: Path | None
) -> tuple[Callable[..., Any] | None, str | None]:
    text_cfg_json = json.dumps(model_cfg.get("text_cfg", {}), sort_keys=True, default=list)
    try:
        file = None if config_file is None else str(config_file)
        return _tokenizer(spec.arch, file, text_cfg_json), None
    except Exception as exc:  # HF tokenizers may need the hub or the transformers package
        return None, (
            f"the tokenizer of {spec.encoder_id} could not be loaded ({type(exc).__name__}: "
            f"{exc}); it may need files from the model hub or `pip install transformers`. "
            f"Image encoding still works"
        )


def _load_error(spec: OpenClipSpec, checkpoint: Path | None, exc: Exception) -> EncoderError:
    import pickle

    text = str(exc)
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    where = f"checkpoint {str(checkpoint)!r} of {spec.encoder_id!r}"
    if "weights_only" in text or "Unsupported global" in text:
        return EncoderError(
            f"{where} is not a plain state dict (vidlens never unpickles arbitrary objects: "
            f"{first}); re-save it as safetensors: safetensors.torch.save_file(state_dict, "
            f"'model.safetensors')"
        )
    if (
        type(exc).__name__ == "SafetensorError"
        or isinstance(exc, (pickle.UnpicklingError, EOFError))
        or "PytorchStreamReader" in text
    ):
        return EncoderError(f"{where} cannot be read ({first}); is it complete? fetch it again")
    if isinstance(exc, AssertionError) or "state_dict" in text or "size mismatch" in text:
        return EncoderError(
            f"{where} does not fit architecture {spec.arch!r} ({first}); name the architecture "
            f"it was trained with, or put its open_clip config beside it as "
            f"{checkpoint.name if checkpoint else 'checkpoint'}.json"
        )
    return EncoderError(f"could not create {spec.encoder_id!r}: {type(exc).__name__}: {first}")


def _check_loadable(spec: OpenClipSpec, checkpoint: Path) -> None:
    """Read a checkpoint's structure cheaply, before a large model is built for it.

    For pickle-based files this is also the guarantee that open_clip's loader, which retries
    ``torch.load`` without ``weights_only`` if the first call raises TypeError, never gets there:
    the same ``weights_only=True`` load has already succeeded here."""
    import torch

    try:
        if checkpoint.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(checkpoint), framework="pt"):
                return
        try:  # mmap: the tensors are not read, only the pickled structure is checked
            torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            torch.load(checkpoint, map_location="cpu", weights_only=True)  # legacy format
    except Exception as exc:
        raise _load_error(spec, checkpoint, exc) from exc


def _load_fp32(spec: OpenClipSpec) -> _LoadedModel:
    """Build the model described by ``spec`` in float32 on the CPU and load its weights."""
    import open_clip

    builtin_cfg = open_clip.get_model_config(spec.arch)
    checkpoint: Path | None = None
    custom: tuple[dict[str, Any], Path] | None = None
    quick_gelu = False
    pp_overrides: dict[str, Any] = {}
    if spec.kind == "tag":
        checkpoint = _tag_weights(spec)
        tag_cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained)
        # open_clip only warns when a tag trained with QuickGELU meets a GELU config (e.g.
        # ViT-B-32/openai); building it with the activation it was trained with is the fix.
        quick_gelu = bool(tag_cfg.get("quick_gelu")) and not builtin_cfg.get("quick_gelu")
        pp_overrides = {k: tag_cfg[k] for k in _PREPROCESS_KEYS if k in tag_cfg}
    elif spec.kind == "path":
        checkpoint = _checkpoint_file(spec)
        custom = _read_model_config(checkpoint)
        if custom is None and builtin_cfg is None:
            raise _unknown_arch_error(
                spec.arch, f"{spec.arch}/{spec.pretrained}", for_checkpoint=True
            )
        if custom is None:
            pp_overrides = _shared_tag_preprocess(spec.arch)

    if checkpoint is not None:
        _check_loadable(spec, checkpoint)
    try:
        if custom is not None:
            data, config_file = custom
            model_cfg = dict(data["model_cfg"])
            if builtin_cfg is not None and builtin_cfg != model_cfg:
                logger.warning(
                    "%s: the config beside the checkpoint (%s) differs from open_clip's %s; "
                    "using the checkpoint's",
                    spec.encoder_id,
                    config_file,
                    spec.arch,
                )
            model = _instantiate(model_cfg)
            _set_preprocess(model, data.get("preprocess_cfg") or {})
            open_clip.load_checkpoint(model, str(checkpoint), strict=True, weights_only=True)
        else:
            model_cfg = dict(builtin_cfg)
            if quick_gelu:
                model_cfg["quick_gelu"] = True
            with _seeded(RANDOM_SEED) if spec.kind == "random" else contextlib.nullcontext():
                model = open_clip.create_model(
                    spec.arch,
                    pretrained=str(checkpoint) if checkpoint else None,
                    pretrained_image=False,
                    pretrained_text=False,
                    force_quick_gelu=quick_gelu,
                    force_preprocess_cfg=pp_overrides,
                    weights_only=True,
                )
    except EncoderError:
        raise
    except Exception as exc:
        raise _load_error(spec, checkpoint, exc) from exc
    model.eval()
    tokenizer, tokenizer_error = _make_tokenizer(
        spec, model_cfg, custom[1] if custom is not None else None
    )
    return _LoadedModel(model, model_cfg, tokenizer, tokenizer_error)


def _fingerprint(model: torch.nn.Module, model_cfg: Mapping[str, Any]) -> str:
    """sha256 over the architecture + preprocessing config and every state-dict tensor (name,
    dtype, shape, bytes) in sorted key order: independent of file format and location."""
    import torch

    digest = hashlib.sha256()
    pp = getattr(getattr(model, "visual", model), "preprocess_cfg", {})
    recipe = {"model_cfg": model_cfg, "preprocess_cfg": pp}
    digest.update(json.dumps(recipe, sort_keys=True, default=list).encode())
    for key, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"\n{key}|{t.dtype}|{tuple(tensor.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy().data)
    return "sha256:" + digest.hexdigest()


def save_random_checkpoint(
    arch_or_cfg: str | Mapping[str, Any], path: str | os.PathLike[str], seed: int = RANDOM_SEED
) -> Path:
    """Write seeded random weights as a safetensors checkpoint; return its path.

    Args:
        arch_or_cfg: an open_clip architecture name, or a custom architecture as a
            ``model_cfg`` dict (or ``{"model_cfg": ..., "preprocess_cfg": ...}``), which is also
            written beside the checkpoint as ``<path>.json`` so that the checkpoint loads alone.
        path: where to write; must end in ``.safetensors``.
        seed: torch seed; ``RANDOM_SEED`` gives the same weights as ``ARCH/random``.
    """
    import open_clip
    from safetensors.torch import save_file

    out = Path(path)
    if out.suffix != ".safetensors":
        raise EncoderError(f"save_random_checkpoint writes safetensors: {str(out)!r} must end so")
    sidecar: dict[str, Any] | None = None
    if isinstance(arch_or_cfg, str):
        if arch_or_cfg not in open_clip.list_models():
            raise _unknown_arch_error(arch_or_cfg, f"{arch_or_cfg}/{RANDOM_WEIGHTS}")
        with _seeded(seed):  # the same call as ARCH/random, so seed 0 gives the same weights
            model = open_clip.create_model(
                arch_or_cfg, pretrained_image=False, pretrained_text=False, weights_only=True
            )
    else:
        data = dict(arch_or_cfg)
        model_cfg = dict(data.get("model_cfg", data))
        if not all(k in model_cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
            raise EncoderError(
                "a custom open_clip architecture needs embed_dim, vision_cfg and text_cfg; got "
                f"keys {sorted(model_cfg)}"
            )
        sidecar = {"model_cfg": model_cfg, "preprocess_cfg": dict(data.get("preprocess_cfg", {}))}
        with _seeded(seed):
            model = _instantiate(model_cfg)
    state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "written_by": "vidlens"})
    os.replace(tmp, out)
    if sidecar is not None:
        side = out.with_name(out.name + ".json")
        side_tmp = side.with_name(side.name + ".tmp")
        side_tmp.write_text(json.dumps(sidecar, indent=2, default=list) + "\n", encoding="utf-8")
        os.replace(side_tmp, side)
    return out


# --------------------------------------------------------------------------- preprocessing
def _min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    return float((a * b).sum(axis=1).min())


def _resolve_device(device: str) -> torch.device:
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise EncoderError(f"unknown device {device!r}: use 'cpu', 'cuda' or 'cuda:N'") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EncoderError(
                f"device {device!r} was asked for but CUDA is not available to this torch "
                f"({torch.__version__}: no GPU visible or a CPU-only build); use --device cpu"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise EncoderError(
                f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) visible; "
                f"use cuda:0 .. cuda:{torch.cuda.device_count() - 1}"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise EncoderError(f"device {device!r} was asked for but MPS is not available; use cpu")
    return dev


def _auto_low_precision(device: torch.device) -> str | None:
    """The low-precision dtype measured faster on this device, if any (see bench/encode.py)."""
    import torch

    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    if device.type == "cpu":
        # bf16 weights are ~3-4x faster than fp32 on CPUs with AVX512-BF16/AMX and slower
        # elsewhere (emulated); autocast is avoided: it is pathologically slow on CPU.
        for probe in ("_is_amx_tile_supported", "_is_avx512_bf16_supported"):
            check = getattr(torch.cpu, probe, None)
            if check is not None and check():
                return "bfloat16"
    return None


class OpenClipEncoder:
    """An open_clip model as a vidlens encoder.

    Attributes:
        id: ``openclip:ARCH/PRETRAINED`` as given (see the module docstring).
        dim: embedding dimension.
        fingerprint: ``sha256:...`` of the weights and architecture/preprocessing config.
        image_size: side frames are resized to (the larger one for non-square inputs).
        device: torch device string the model runs on.
        dtype: the weights' dtype name ("float32", "bfloat16", "float16").
        precision_cosine: with ``dtype="auto"`` and low precision picked, the worst cosine of the
            probe embeddings against float32; else None.
        trim_text_padding: whether texts run with the padding trimmed (only when verified exact;
            set False to always run the full context, e.g. to benchmark).
        text_trim_error: the max deviation trimming showed in the check at load (None: no check).
    """

    def __init__(self, spec: OpenClipSpec | str, config: EncoderConfig | None = None) -> None:
        import torch

        started = time.perf_counter()
        self.spec = parse_openclip_spec(spec) if isinstance(spec, str) else spec
        config = config or EncoderConfig()
        if config.batch_size < 1:
            raise EncoderError(f"batch_size must be at least 1, got {config.batch_size}")
        requested = _DTYPE_NAMES.get(config.dtype.lower()) if config.dtype != "auto" else "auto"
        if requested is None:
            raise EncoderError(
                f"unknown dtype {config.dtype!r}; use auto, float32, bfloat16 or float16"
            )
        self._device = _resolve_device(config.device)
        self.id = self.spec.encoder_id
        self.device = str(self._device)
        self.batch_size = config.batch_size
        if self.spec.kind == "random":
            logger.warning(
                "%s has RANDOM weights (seed %d): embeddings are reproducible but carry no "
                "meaning, so search results will NOT be meaningful. Use a pretrained tag or %s.",
                self.id,
                RANDOM_SEED,
                _local_file_hint(self.spec.arch),
            )

        loaded = _load_fp32(self.spec)
        hash_started = time.perf_counter()
        self.fingerprint = _fingerprint(loaded.model, loaded.model_cfg)  # float32, on the CPU
        logger.debug("fingerprint of %s: %.2f s", self.id, time.perf_counter() - hash_started)
        self._model: Any = loaded.model.to(self._device)  # an open_clip CLIP-like nn.Module
        self._tokenizer = loaded.tokenizer
        self._tokenizer_error = loaded.tokenizer_error
        self.dim = int(loaded.model_cfg["embed_dim"])
        self._preprocess_cfg: dict[str, Any] = dict(self._visual.preprocess_cfg)
        th, tw = _target_hw(self._preprocess_cfg["size"])
        self.image_size = max(th, tw)
        mean = torch.tensor(self._preprocess_cfg["mean"], dtype=torch.float32)
        std = torch.tensor(self._preprocess_cfg["std"], dtype=torch.float32)
        self._mean = mean.view(1, 3, 1, 1).to(self._device)
        self._std = std.view(1, 3, 1, 1).to(self._device)

        self._trimmable = _trimmable_text(self._model) if self._tokenizer else None
        self.text_trim_error: float | None = None
        self.trim_text_padding = False
        if self._trimmable is not None:
            self.text_trim_error = self._check_text_trimming()
            self.trim_text_padding = self.text_trim_error <= TEXT_TRIM_TOLERANCE
            if not self.trim_text_padding:
                logger.info(
                    "%s: trimmed text padding deviates by %.2g; running the full context",
                    self.id,
                    self.text_trim_error,
                )

        self.dtype = "float32"
        self.precision_cosine: float | None = None
        target = _auto_low_precision(self._device) if requested == "auto" else requested
        if target is not None and target != "float32":
            self._set_dtype(target, check=requested == "auto", spec=self.spec)
        logger.info(
            "loaded %s: dim %d, image %d, %s on %s, text trimming %s (%.1f s)",
            self.id,
            self.dim,
            self.image_size,
            self.dtype,
            self.device,
            "on" if self.trim_text_padding else "off",
            time.perf_counter() - started,
        )

    @property
    def _visual(self) -> Any:
        return getattr(self._model, "visual", self._model)

    def _set_dtype(self, target: str, *, check: bool, spec: OpenClipSpec) -> None:
        import torch

        if check:
            probe = _probe_frames(self.image_size)
            ref_images = self.encode_images(probe)
            ref_texts = self.encode_texts(list(_PROBE_TEXTS)) if self._tokenizer else None
        if target == "float16" and self._device.type == "cpu":
            logger.warning("%s: float16 on the CPU is usually slow; consider bfloat16", self.id)
        self._model.to(getattr(torch, target))
        self.dtype = target
        if not check:
            return
        cosine = _min_cosine(ref_images, self.encode_images(probe))
        if ref_texts is not None:
            cosine = min(cosine, _min_cosine(ref_texts, self.encode_texts(list(_PROBE_TEXTS))))
        self.precision_cosine = cosine
        if cosine < MIN_LOW_PRECISION_COSINE:
            logger.warning(
                "%s: %s weights moved embeddings too far from float32 (cosine %.4f < %.2f); "
                "using float32",
                self.id,
                target,
                cosine,
                MIN_LOW_PRECISION_COSINE,
            )
            self._model = _load_fp32(spec).model.to(self._device)  # casting back loses bits
            self.dtype = "float32"
            self._trimmable = _trimmable_text(self._model) if self._trimmable else None

    def _check_text_trimming(self) -> float:
        """Max abs difference (L2-normalised) between trimmed and full-context text embeddings."""
        tokens = self._tokenize(list(_PROBE_TEXTS))
        full = self._encode_tokens(tokens, trim=False)
        trimmed = self._encode_tokens(tokens, trim=True)
        full /= np.maximum(np.linalg.norm(full, axis=1, keepdims=True), 1e-12)
        trimmed /= np.maximum(np.linalg.norm(trimmed, axis=1, keepdims=True), 1e-12)
        return float(np.abs(full - trimmed).max())

    # -- images

    def _to_model_input(self, frames: np.ndarray) -> torch.Tensor:
        import torch

        pp = self._preprocess_cfg
        th, tw = _target_hw(pp["size"])
        frames = np.ascontiguousarray(frames)
        if not frames.flags.writeable:  # torch.from_numpy warns on read-only arrays
            frames = frames.copy()
        x = torch.from_numpy(frames).to(self._device, non_blocking=True)
        x = x.permute(0, 3, 1, 2)  # (B, 3, H, W) view, channels-last strides
        h, w = x.shape[-2:]
        hw = _resized_hw(h, w, th, tw, pp.get("resize_mode", "shortest"))
        if hw != (h, w):
            x = _resize(x, hw, pp.get("interpolation", "bicubic"))
        x = _crop_or_pad(x, th, tw, int(pp.get("fill_color", 0)))
        x = x.to(torch.float32).div_(255.0).sub_(self._mean).div_(self._std)
        return x.to(getattr(torch, self.dtype)).contiguous()

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        """Encode frames: uint8 RGB ``(N, H, W, 3)`` of any size -> float32 ``(N, dim)``.

        Frames are resized (short side to ``image_size``, antialiased), centre-cropped and
        normalised as the model's open_clip preprocessing does, in batches of ``batch_size``.
        """
        import torch

        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise EncoderError(
                f"{self.id}: encode_images takes uint8 RGB frames of shape (N, H, W, 3), got "
                f"{frames.dtype} {frames.shape}; convert frames to 0-255 uint8 RGB first"
            )
        out = np.empty((frames.shape[0], self.dim), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, frames.shape[0], self.batch_size):
                x = self._to_model_input(frames[start : start + self.batch_size])
                emb = self._model.encode_image(x)
                out[start : start + len(x)] = emb.to(torch.float32).cpu().numpy()
        return out

    # -- texts

    def _tokenize(self, texts: list[str]) -> torch.Tensor:
        if self._tokenizer is None:
            raise EncoderError(self._tokenizer_error or f"{self.id} has no tokenizer")
        from open_clip.tokenizer import SimpleTokenizer

        tokens: torch.Tensor = self._tokenizer(texts)
        if isinstance(self._tokenizer, SimpleTokenizer):  # CLIP's BPE: padding is token 0
            full = [t for t, row in zip(texts, tokens, strict=True) if int(row[-1]) != 0]
            if full:
                logger.warning(
                    "%s: %d text(s) longer than the text encoder's %d tokens: the words after "
                    "that are ignored (first: %.60r...)",
                    self.id,
                    len(full),
                    tokens.shape[1],
                    full[0],
                )
        return tokens

    def _encode_tokens(self, tokens: torch.Tensor, *, trim: bool) -> np.ndarray:
        import torch

        n = tokens.shape[0]
        out = np.empty((n, self.dim), dtype=np.float32)
        trimmable = self._trimmable if trim else None
        if trimmable is not None:
            lengths = trimmable.pooled_positions(tokens) + 1
            order = torch.argsort(lengths, descending=True, stable=True)  # similar lengths batch
        else:
            order = torch.arange(n)
        with torch.inference_mode():
            for start in range(0, n, self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = tokens[idx]
                if trimmable is not None:
                    batch = batch[:, : int(lengths[idx].max())].to(self._device)
                    emb = trimmable.forward(batch)
                else:
                    emb = self._model.encode_text(batch.to(self._device))
                out[idx.numpy()] = emb.to(torch.float32).cpu().numpy()
        return out

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        """Encode texts with the model's tokenizer: ``N`` strings -> float32 ``(N, dim)``."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise EncoderError(
                f"{self.id}: encode_texts takes a list of strings, got {type(texts).__name__}"
                + ("" if isinstance(texts, str) else " with non-string items")
                + "; wrap a single query as [query]"
            )
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return self._encode_tokens(self._tokenize(list(texts)), trim=self.trim_text_padding)


def create_openclip_encoder(spec: str | None, config: EncoderConfig) -> OpenClipEncoder:
    """Entry-point factory for ``openclip:ARCH/PRETRAINED`` (see the module docstring)."""
    return OpenClipEncoder(parse_openclip_spec(spec), config)
