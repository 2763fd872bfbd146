"""Which encoder a new library gets when none is named."""

from __future__ import annotations

import logging

__all__ = [
    "OFFLINE_ENCODER",
    "PREFERRED_ENCODER",
    "RANDOM_FALLBACK_ENCODER",
    "default_encoder_id",
]

logger = logging.getLogger(__name__)

PREFERRED_ENCODER = "openclip:ViT-B-32/openai"
RANDOM_FALLBACK_ENCODER = "openclip:ViT-B-32/random"
OFFLINE_ENCODER = "vidlens-tiny"  # the small model shipped in the package (vidlens.encoders.tiny)


def default_encoder_id() -> str:
    """``openclip:ViT-B-32/openai`` when its weights are on this machine, else ``vidlens-tiny``
    (the offline model shipped in the package, trained on the synthetic world) when installed,
    else a fallback.

    The last fallback is a random-initialised ViT-B-32 (seeded, so index and query agree): it
    runs, but its results are not meaningful, and a warning says so.
    """
    try:
        from .openclip import weights_available

        if weights_available("ViT-B-32", "openai"):
            return PREFERRED_ENCODER
    except ImportError as exc:  # open_clip missing: let create_encoder report it properly
        logger.debug("open_clip unavailable: %s", exc)
    from ._registry import list_encoders
    from .tiny import model_available

    # Registered through the package's entry point; an editable checkout installed before the
    # entry point existed does not list it, and then the fallback below is the honest answer.
    if model_available() and OFFLINE_ENCODER in list_encoders():
        logger.warning(
            "the weights of %s are not on this machine: using the offline model %s, which knows "
            "only vidlens' synthetic world (coloured shapes), so results on real footage are not "
            "meaningful; for real footage pass --encoder openclip:ViT-B-32//path/to/"
            "open_clip_model.safetensors",
            PREFERRED_ENCODER,
            OFFLINE_ENCODER,
        )
        return OFFLINE_ENCODER
    logger.warning(
        "the weights of %s are not on this machine and no offline vidlens model is installed: "
        "using a RANDOM-INITIALISED %s. Results will NOT be meaningful. Pass --encoder "
        "openclip:ViT-B-32//path/to/open_clip_model.safetensors to use real weights.",
        PREFERRED_ENCODER,
        RANDOM_FALLBACK_ENCODER,
    )
    return RANDOM_FALLBACK_ENCODER
