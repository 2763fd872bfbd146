"""CLIP-family encoders behind one small protocol and a plugin registry."""

from __future__ import annotations

from ._defaults import default_encoder_id
from ._registry import (
    ENTRY_POINT_GROUP,
    EncoderConfig,
    EncoderFactory,
    create_encoder,
    get_encoder_factory,
    list_encoders,
    parse_encoder_id,
    register_encoder,
    unregister_encoder,
)
from .base import Encoder

__all__ = [
    "ENTRY_POINT_GROUP",
    "Encoder",
    "EncoderConfig",
    "EncoderFactory",
    "create_encoder",
    "default_encoder_id",
    "get_encoder_factory",
    "list_encoders",
    "parse_encoder_id",
    "register_encoder",
    "unregister_encoder",
]
