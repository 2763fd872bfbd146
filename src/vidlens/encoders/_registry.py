"""Encoder registry: names -> factories, filled from the ``vidlens.encoders`` entry points.

An encoder id has one parsed form, ``NAME`` or ``NAME:SPEC`` (``openclip:ViT-B-32/openai``).
``NAME`` picks a factory; ``SPEC`` is handed to it unchanged. Built-in encoders are registered
through the same entry-point group as third-party plugins. Plugins are loaded lazily, on the
first look-up, never at import time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from ..errors import EncoderError
from .base import Encoder

__all__ = [
    "ENTRY_POINT_GROUP",
    "EncoderConfig",
    "EncoderFactory",
    "create_encoder",
    "get_encoder_factory",
    "list_encoders",
    "parse_encoder_id",
    "register_encoder",
    "unregister_encoder",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "vidlens.encoders"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


@dataclass(frozen=True)
class EncoderConfig:
    """How to run an encoder (not which one: that is the id)."""

    device: str = "cpu"  # torch device string; nothing moves to CUDA unless asked
    dtype: str = "auto"  # "auto" (fastest measured on the device), "float32", "bfloat16", "float16"
    batch_size: int = 64  # frames per forward pass


# factory(spec, config) -> Encoder; spec is the part after "NAME:" or None.
EncoderFactory = Callable[[str | None, EncoderConfig], Encoder]

_factories: dict[str, EncoderFactory] = {}
_entry_points_loaded = False


def register_encoder(name: str, factory: EncoderFactory, *, replace: bool = False) -> None:
    """Register ``factory`` under ``name`` so that ``--encoder NAME[:SPEC]`` works everywhere."""
    if not _NAME_RE.match(name):
        raise EncoderError(
            f"invalid encoder name {name!r}: use letters, digits, '.', '_' or '-' (no ':' or '/')"
        )
    if name in _factories and not replace and _factories[name] is not factory:
        raise EncoderError(f"an encoder named {name!r} is already registered; pass replace=True")
    _factories[name] = factory


def unregister_encoder(name: str) -> None:
    """Remove a registered encoder (tests use this to clean up after themselves)."""
    _factories.pop(name, None)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _factories:
            continue
        try:
            factory = ep.load()
        except Exception as exc:  # a broken plugin must not break the others
            logger.warning("could not load encoder plugin %r (%s): %s", ep.name, ep.value, exc)
            continue
        if not callable(factory):
            logger.warning("encoder plugin %r (%s) is not callable; ignored", ep.name, ep.value)
            continue
        _factories.setdefault(ep.name, factory)


def list_encoders() -> list[str]:
    """Names of all registered encoders (built-in and plugins), sorted."""
    _load_entry_points()
    return sorted(_factories)


def parse_encoder_id(encoder_id: str) -> tuple[str, str | None]:
    """Split ``NAME[:SPEC]`` into ``(name, spec)``, rejecting unknown or malformed ids.

    >>> parse_encoder_id("openclip:ViT-B-32/openai")
    ('openclip', 'ViT-B-32/openai')
    """
    if not isinstance(encoder_id, str) or not encoder_id.strip():
        raise EncoderError(
            "empty encoder id; expected NAME or NAME:SPEC, e.g. openclip:ViT-B-32/openai"
        )
    encoder_id = encoder_id.strip()
    name, sep, spec = encoder_id.partition(":")
    _load_entry_points()
    if name not in _factories:
        choices = ", ".join(sorted(_factories)) or "(none)"
        hint = ""
        if not sep and "/" in encoder_id:
            hint = f" (did you mean openclip:{encoder_id}?)"
        raise EncoderError(f"unknown encoder {name!r}{hint}; registered encoders: {choices}")
    if sep and not spec:
        raise EncoderError(f"encoder id {encoder_id!r} ends with ':'; give NAME or NAME:SPEC")
    return name, (spec if sep else None)


def get_encoder_factory(name: str) -> EncoderFactory:
    """The factory registered under ``name``."""
    parsed_name, _ = parse_encoder_id(name)
    return _factories[parsed_name]


def create_encoder(
    encoder_id: str, config: EncoderConfig | None = None, **overrides: Any
) -> Encoder:
    """Create the encoder named by ``encoder_id``.

    Args:
        encoder_id: ``NAME`` or ``NAME:SPEC``, e.g. ``openclip:ViT-B-32/openai`` or
            ``openclip:ViT-B-32//path/to/checkpoint.safetensors``.
        config: device, dtype and batch size; keyword ``overrides`` replace its fields.
    """
    import dataclasses

    config = dataclasses.replace(config or EncoderConfig(), **overrides)
    name, spec = parse_encoder_id(encoder_id)
    encoder = _factories[name](spec, config)
    for attr in ("id", "dim", "encode_images", "encode_texts"):
        if not hasattr(encoder, attr):
            raise EncoderError(
                f"encoder {encoder_id!r} (from {name!r}) lacks {attr!r}; see vidlens.Encoder"
            )
    return encoder
