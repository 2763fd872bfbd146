"""vidlens: make CLIP-family models understand video.

Index a folder of videos once; then search it in plain language and get the right videos and the
exact seconds (moments), highlight scores per 2-s clip, zero-/few-shot labels, and benchmark
evaluation in the community's formats.

>>> import vidlens
>>> with vidlens.Library.open("lib", encoder="colour-test", create=True) as lib:  # doctest: +SKIP
...     lib.index(["videos/"])
...     hits = lib.search("a red car", top_k=5)
"""

from __future__ import annotations

__version__ = "0.1.0"

from .config import SamplingConfig
from .encoders import (
    Encoder,
    EncoderConfig,
    create_encoder,
    list_encoders,
    parse_encoder_id,
    register_encoder,
)
from .errors import (
    ConfigError,
    DamagedVideoError,
    EncoderError,
    EvaluationError,
    LibraryError,
    MediaError,
    QueryError,
    VidlensError,
)
from .ingest import IngestConfig
from .library import (
    IndexReport,
    Library,
    SearchConfig,
    SearchHit,
    SearchResults,
    VideoRecord,
)
from .query import AggregationConfig, MomentConfig

__all__ = [
    "AggregationConfig",
    "ConfigError",
    "DamagedVideoError",
    "Encoder",
    "EncoderConfig",
    "EncoderError",
    "EvaluationError",
    "IndexReport",
    "IngestConfig",
    "Library",
    "LibraryError",
    "MediaError",
    "MomentConfig",
    "QueryError",
    "SamplingConfig",
    "SearchConfig",
    "SearchHit",
    "SearchResults",
    "VideoRecord",
    "VidlensError",
    "__version__",
    "create_encoder",
    "list_encoders",
    "parse_encoder_id",
    "register_encoder",
]
