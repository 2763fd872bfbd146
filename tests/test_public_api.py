"""The public API is what we say it is, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import vidlens

EXPECTED = {
    "AggregationConfig", "ConfigError", "DamagedVideoError", "Encoder", "EncoderConfig",
    "EncoderError", "EvaluationError", "IndexReport", "IngestConfig", "Library", "LibraryError",
    "MediaError", "MomentConfig", "QueryError", "SamplingConfig", "SearchConfig", "SearchHit",
    "SearchResults", "VideoRecord", "VidlensError", "__version__", "create_encoder",
    "list_encoders", "parse_encoder_id", "register_encoder",
}  # fmt: skip


def test_all_is_the_curated_api() -> None:
    assert set(vidlens.__all__) == EXPECTED
    for name in vidlens.__all__:
        assert getattr(vidlens, name) is not None


def test_every_error_is_a_vidlens_error() -> None:
    for name in (
        "ConfigError",
        "DamagedVideoError",
        "EncoderError",
        "EvaluationError",
        "LibraryError",
        "MediaError",
        "QueryError",
    ):
        assert issubclass(getattr(vidlens, name), vidlens.VidlensError)


def test_import_does_not_load_torch_or_plugins() -> None:
    # `vidlens info` and the server must start fast: torch loads only when an encoder is made
    code = (
        "import sys, vidlens, vidlens.cli; "
        "print('torch' in sys.modules, 'open_clip' in sys.modules, 'faiss' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]
