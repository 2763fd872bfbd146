"""Query-time algorithms over similarity curves: video scores, moments and highlights."""

from __future__ import annotations

from .aggregate import AGGREGATIONS, AggregationConfig, score_video, score_videos
from .moments import MomentConfig, find_moments, moment_to_qvh, saliency_scores

__all__ = [
    "AGGREGATIONS",
    "AggregationConfig",
    "MomentConfig",
    "find_moments",
    "moment_to_qvh",
    "saliency_scores",
    "score_video",
    "score_videos",
]
