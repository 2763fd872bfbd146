"""Benchmark evaluation: the research community's metrics, reproduced exactly.

- :mod:`~vidlens.eval.qvhighlights`: moment retrieval + highlight detection (QVHighlights).
- :mod:`~vidlens.eval.grounding`: single-window grounding (Charades-STA, TACoS).
- :mod:`~vidlens.eval.retrieval`: text-video retrieval (MSR-VTT 1k-A), tie-safe ranks.
- :mod:`~vidlens.eval.classification`: top-k / mean class accuracy, confusion (Kinetics).
- :mod:`~vidlens.eval.report`: metrics records with provenance, Markdown / HTML reports.

The CLI lives in :mod:`vidlens.eval.cli` (imported on demand; it needs click).
"""

from __future__ import annotations

from .classification import (
    average_views,
    class_ranks,
    confusion_matrix,
    evaluate_classification,
    predicted_classes,
)
from .grounding import evaluate_grounding, grounding_ious, temporal_iou
from .qvhighlights import (
    MomentEvalConfig,
    evaluate_moments,
    highlight_average_precision,
    load_jsonl,
    moment_average_precision,
)
from .report import build_record, write_metrics_json, write_report
from .retrieval import evaluate_retrieval, rank_metrics, text_to_video_ranks, video_to_text_ranks

__all__ = [
    "MomentEvalConfig",
    "average_views",
    "build_record",
    "class_ranks",
    "confusion_matrix",
    "evaluate_classification",
    "evaluate_grounding",
    "evaluate_moments",
    "evaluate_retrieval",
    "grounding_ious",
    "highlight_average_precision",
    "load_jsonl",
    "moment_average_precision",
    "predicted_classes",
    "rank_metrics",
    "temporal_iou",
    "text_to_video_ranks",
    "video_to_text_ranks",
    "write_metrics_json",
    "write_report",
]
