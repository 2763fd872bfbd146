"""Spec parsing and weights resolution for the open_clip backend (no torch at import)."""

from __future__ import annotations

import difflib
import importlib.util
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..errors import EncoderError

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

CHECKPOINT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
CONFIG_FILENAME = "open_clip_config.json"  # open_clip's per-folder config (what the hub holds)
RANDOM_WEIGHTS = "random"  # the PRETRAINED value for seeded random initialisation
RANDOM_SEED = 0  # fixed, so that indexing and querying processes build identical weights
# In a checkpoint folder, the file open_clip itself would pick first.
_PREFERRED_CHECKPOINTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
_OFFLINE_VALUES = {"1", "on", "yes", "true"}


def _local_file_hint(arch: str) -> str:
    return f"--encoder openclip:{arch}//path/to/open_clip_model.safetensors"


# --------------------------------------------------------------------------- spec parsing


@dataclass(frozen=True)
class OpenClipSpec:
    """A parsed ``ARCH/PRETRAINED`` spec."""

    arch: str  # open_clip architecture, or a label when the checkpoint carries its own config
    pretrained: str  # as given; a tag in open_clip's spelling (lower case, '_')
    kind: Literal["tag", "path", "random"]
    path: Path | None = None  # the checkpoint file or folder (kind "path"), '~' expanded

    @property
    def encoder_id(self) -> str:
        """``openclip:ARCH/PRETRAINED``, what a library's manifest records."""
        return f"openclip:{self.arch}/{self.pretrained}"


def _close(word: str, choices: list[str], n: int = 5) -> list[str]:
    lowered = {c.lower(): c for c in choices}
    matches = difflib.get_close_matches(word.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[m] for m in matches]


def _unknown_arch_error(arch: str, spec: str, *, for_checkpoint: bool = False) -> EncoderError:
    import open_clip

    models = open_clip.list_models()
    close = _close(arch, models)
    did_you_mean = f"close matches: {', '.join(close)}" if close else "no close match"
    msg = (
        f"unknown open_clip architecture {arch!r} in 'openclip:{spec}'; {did_you_mean} "
        f"(all {len(models)}: python -c 'import open_clip; print(open_clip.list_models())')"
    )
    if for_checkpoint:
        msg += (
            f"; a checkpoint of a custom architecture needs its open_clip config beside it "
            f"(<checkpoint>.json or {CONFIG_FILENAME} with a 'model_cfg')"
        )
    return EncoderError(msg)


def _looks_like_path(pretrained: str) -> bool:
    # open_clip's tags are [a-z0-9_] only, so any of these characters means a file system path.
    return any(ch in pretrained for ch in ("/", "\\", ".", "~"))


def parse_openclip_spec(spec: str | None) -> OpenClipSpec:
    """Parse ``ARCH/PRETRAINED`` (see the module docstring), rejecting unknown or ambiguous specs.

    Architectures and tags are checked against open_clip's lists (errors name close choices);
    paths are only checked when the encoder is created.
    """
    import open_clip

    form = (
        "write openclip:ARCH/PRETRAINED, e.g. openclip:ViT-B-32/openai, "
        "openclip:ViT-B-32//path/to/open_clip_model.safetensors or openclip:ViT-B-32/random"
    )
    if spec is None or not spec.strip():
        raise EncoderError(f"the openclip encoder needs a model: {form}")
    spec = spec.strip()
    arch, sep, pretrained = spec.partition("/")
    if ":" in arch:
        raise EncoderError(
            f"'openclip:{spec}': open_clip schemas such as hf-hub: or local-dir: are not "
            f"accepted; download the model and pass its checkpoint: openclip:ARCH//path/to/"
            f"open_clip_model.safetensors"
        )
    if not sep:
        tags = open_clip.list_pretrained_tags_by_model(arch)
        example = f"openclip:{arch}/{tags[0]}" if tags else f"openclip:{arch}/{RANDOM_WEIGHTS}"
        known = f" (tags of {arch}: {', '.join(tags)})" if tags else ""
        raise EncoderError(
            f"'openclip:{spec}' names no weights; {form}. For {arch}: {example}{known}, a local "
            f"checkpoint, or {RANDOM_WEIGHTS}"
        )
    if not arch:
        raise EncoderError(
            f"'openclip:{spec}' starts with '/': the architecture comes first, so an absolute "
            f"path reads openclip:ARCH//abs/path/checkpoint.safetensors"
        )
    if not pretrained:
        raise EncoderError(f"'openclip:{spec}' ends with '/': {form}")

    if pretrained == RANDOM_WEIGHTS:
        if arch not in open_clip.list_models():
            raise _unknown_arch_error(arch, spec)
        return OpenClipSpec(arch, pretrained, "random")
    if _looks_like_path(pretrained):
        return OpenClipSpec(arch, pretrained, "path", Path(pretrained).expanduser())
    if arch not in open_clip.list_models():
        raise _unknown_arch_error(arch, spec)
    tags = open_clip.list_pretrained_tags_by_model(arch)
    tag = pretrained.lower().replace("-", "_")  # open_clip's own tag normalisation
    if tag in tags:
        return OpenClipSpec(arch, tag, "tag")
    if Path(pretrained).exists():  # a bare file name in the working directory
        return OpenClipSpec(arch, pretrained, "path", Path(pretrained))
    close = _close(tag, tags)
    did_you_mean = f"close matches: {', '.join(close)}; " if close else ""
    raise EncoderError(
        f"{pretrained!r} is not a pretrained tag of {arch} in 'openclip:{spec}'; {did_you_mean}"
        f"tags of {arch}: {', '.join(tags) or '(none)'}; or pass a local checkpoint "
        f"(openclip:{arch}//path/to/open_clip_model.safetensors) or {RANDOM_WEIGHTS}"
    )


# --------------------------------------------------------------------------- weights resolution


def _hub_offline() -> bool:
    flags = (os.environ.get(v, "") for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in _OFFLINE_VALUES for f in flags)


def _unreachable(url: str, timeout_s: float = 3.0) -> str | None:
    """Why ``url``'s host cannot be reached now; None if it can (or a proxy decides).

    huggingface_hub retries an unreachable hub for about a minute; this fails in seconds."""
    import socket
    import urllib.parse
    import urllib.request

    if urllib.request.getproxies():
        return None
    parts = urllib.parse.urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc}"


def _hf_hub_cache() -> Path:
    """The Hugging Face hub cache, resolved from the environment now (huggingface_hub's rules)."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def _url_cache() -> Path:
    return Path(os.path.expanduser("~/.cache/clip"))  # open_clip's download_pretrained_from_url


def _hub_files(tag_cfg: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """(repo id, candidate file names) of a tag on the hub, in the order open_clip tries them."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    hf_hub = str(tag_cfg.get("hf_hub") or "")
    if not hf_hub:
        return None
    repo_id, filename = os.path.split(hf_hub)
    filename = filename or HF_WEIGHTS_NAME
    names = []
    if filename == HF_WEIGHTS_NAME:
        names.append(HF_SAFE_WEIGHTS_NAME)
    elif filename.endswith((".bin", ".pth")):
        names.append(filename[:-4] + ".safetensors")
    names.append(filename)
    return repo_id, names


def _cached_tag_weights(arch: str, tag: str) -> Path | None:
    """The cached checkpoint of ``arch``/``tag``, found without touching the network."""
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(arch, tag)
    if not tag_cfg:
        return None
    if tag_cfg.get("file"):
        path = Path(tag_cfg["file"])
        return path if path.is_file() else None
    hub = _hub_files(tag_cfg)
    if hub is not None:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            pass
        else:
            repo_id, names = hub
            for name in names:
                found = try_to_load_from_cache(repo_id, name, cache_dir=_hf_hub_cache())
                if isinstance(found, str) and os.path.isfile(found):
                    return Path(found)
    url = str(tag_cfg.get("url") or "")
    if url:
        path = _url_cache() / os.path.basename(url)
        if path.is_file():
            return path
    return None


def _tag_weights(spec: OpenClipSpec) -> Path:
    """Local path of the tag's checkpoint: the caches, else a download unless offline."""
    import open_clip

    cached = _cached_tag_weights(spec.arch, spec.pretrained)
    if cached is not None:
        logger.info("weights for %s: %s (cache)", spec.encoder_id, cached)
        return cached
    tag_cfg = open_clip.get_pretrained_cfg(spec.arch, spec.pretrained)
    hub = _hub_files(tag_cfg)
    where = [f"the Hugging Face cache {_hf_hub_cache()}" + (f" ({hub[0]})" if hub else "")]
    if tag_cfg.get("url"):
        where.append(str(_url_cache()))
    missing = (
        f"the weights for {spec.arch}/{spec.pretrained} are not on this machine (looked in "
        f"{' and '.join(where)})"
    )
    fix = (
        f'fetch them where the hub is reachable (python -c "import open_clip; open_clip.'
        f"create_model('{spec.arch}', pretrained='{spec.pretrained}')\") or pass a local file: "
        f"{_local_file_hint(spec.arch)}"
    )
    if _hub_offline():
        raise EncoderError(f"{missing} and HF_HUB_OFFLINE is set, so the hub is not asked; {fix}")
    hub_lib = importlib.util.find_spec("huggingface_hub") is not None
    source = os.environ.get("HF_ENDPOINT", "https://huggingface.co") if hub and hub_lib else ""
    reason = _unreachable(source or str(tag_cfg.get("url") or "https://huggingface.co"))
    if reason is not None:
        raise EncoderError(f"{missing} and the model hub cannot be reached ({reason}); {fix}")
    logger.info("downloading the weights for %s", spec.encoder_id)
    try:
        target = open_clip.download_pretrained(dict(tag_cfg))
    except Exception as exc:  # no network, no such file, hub library missing: one clear error
        raise EncoderError(
            f"{missing} and the model hub could not be reached ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); {fix}"
        ) from exc
    if not target or not os.path.isfile(target):
        raise EncoderError(f"{missing} and open_clip found no download for it; {fix}")
    return Path(target)


def _checkpoint_file(spec: OpenClipSpec) -> Path:
    """The checkpoint file a path spec points at (a folder is searched like open_clip does)."""
    assert spec.path is not None  # kind == "path"
    path = spec.path
    if not path.exists():
        raise EncoderError(
            f"checkpoint {str(path)!r} in {spec.encoder_id!r} does not exist (relative paths are "
            f"read from {os.getcwd()}); check the path, or use a pretrained tag"
        )
    if path.is_dir():
        for name in _PREFERRED_CHECKPOINTS:
            if (path / name).is_file():
                return path / name
        found = sorted(p.name for p in path.iterdir() if p.suffix in CHECKPOINT_SUFFIXES)
        if len(found) == 1:
            return path / found[0]
        raise EncoderError(
            f"folder {str(path)!r} in {spec.encoder_id!r} holds "
            + (f"several checkpoints ({', '.join(found)})" if found else "no checkpoint")
            + f"; name the file: openclip:{spec.arch}/{path}/FILE.safetensors"
        )
    if path.suffix not in CHECKPOINT_SUFFIXES:
        raise EncoderError(
            f"checkpoint {str(path)!r} in {spec.encoder_id!r} is not one of "
            f"{', '.join(CHECKPOINT_SUFFIXES)}; convert it to an open_clip state dict in "
            f"safetensors"
        )
    return path


def _read_model_config(checkpoint: Path) -> tuple[dict[str, Any], Path] | None:
    """The open_clip config shipped with a checkpoint: ``<file>.json``, ``<stem>.json`` or
    ``open_clip_config.json`` in its folder, each ``{"model_cfg": ..., "preprocess_cfg": ...}``."""
    stem_json = checkpoint.with_suffix(".json")
    candidates = [
        (checkpoint.with_name(checkpoint.name + ".json"), True),
        (stem_json, False),  # may be an unrelated JSON file: used only if it has a model_cfg
        (checkpoint.parent / CONFIG_FILENAME, True),
    ]
    for candidate, must_be_config in candidates:
        if not candidate.is_file():
            continue
        try:
            data = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            if not must_be_config:
                continue
            raise EncoderError(
                f"open_clip config {str(candidate)!r} (beside checkpoint {str(checkpoint)!r}) is "
                f"not readable JSON: {exc}; fix or remove it"
            ) from exc
        cfg = data.get("model_cfg") if isinstance(data, dict) else None
        if isinstance(cfg, dict) and all(k in cfg for k in ("embed_dim", "vision_cfg", "text_cfg")):
            return data, candidate
        if must_be_config:
            raise EncoderError(
                f"open_clip config {str(candidate)!r} (beside checkpoint {str(checkpoint)!r}) has "
                f"no 'model_cfg' with embed_dim, vision_cfg and text_cfg; write one like "
                f"save_random_checkpoint does, or remove the file"
            )
    return None


def weights_available(arch: str, pretrained: str) -> bool:
    """Whether ``openclip:ARCH/PRETRAINED`` can be created without the network.

    True for an existing local checkpoint, for a tag whose files are already in open_clip's caches
    and for ``random``; False for anything else, unknown names included. Never downloads.
    """
    try:
        spec = parse_openclip_spec(f"{arch}/{pretrained}")
    except EncoderError:
        return False
    if spec.kind == "random":
        return True
    if spec.kind == "path":
        try:
            _checkpoint_file(spec)
        except EncoderError:
            return False
        return True
    return _cached_tag_weights(spec.arch, spec.pretrained) is not None
