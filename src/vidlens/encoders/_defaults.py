"""Which encoder a new library gets when none is named."""

from __future__ import annotations

import logging

__all__ = ["PREFERRED_ENCODER", "RANDOM_FALLBACK_ENCODER", "default_encoder_id"]

logger = logging.getLogger(__name__)

PREFERRED_ENCODER = "openclip:ViT-B-32/openai"
RANDOM_FALLBACK_ENCODER = "openclip:ViT-B-32/random"


def default_encoder_id() -> str:
    """``openclip:ViT-B-32/openai`` when its weights are on this machine, else a fallback.

    The fallback is a random-initialised ViT-B-32 (seeded, so index and query agree): it runs, but
    its results are not meaningful, and a warning says so.
    """
    try:
        from .openclip import weights_available

        if weights_available("ViT-B-32", "openai"):
            return PREFERRED_ENCODER
    except ImportError as exc:  # open_clip missing: let create_encoder report it properly
        logger.debug("open_clip unavailable: %s", exc)
    logger.warning(
        "the weights of %s are not on this machine and no offline vidlens model is installed: "
        "using a RANDOM-INITIALISED %s. Results will NOT be meaningful. Pass --encoder "
        "openclip:ViT-B-32//path/to/open_clip_model.safetensors to use real weights.",
        PREFERRED_ENCODER,
        RANDOM_FALLBACK_ENCODER,
    )
    return RANDOM_FALLBACK_ENCODER
