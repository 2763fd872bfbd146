"""Benchmark predictions from a library: moments, grounding, retrieval and classification.

The ``run_*_from_library`` / ``run_retrieval`` / ``run_classification`` functions open a library
read-only, answer every query of an annotation file from the stored embeddings, score the answers
with the official metrics of :mod:`vidlens.eval` and return the metrics record (what
``metrics.json`` holds). Each record's ``provenance`` says what produced the predictions: the
library, its encoder id and weights fingerprint, its sampling recipe, the query settings
(``dataclasses.asdict`` of the configs), the vidlens version and the annotation file's sha256.

**Matching annotation videos to library videos** (:class:`~vidlens.recognition.VideoMatcher`):
an annotation ``vid`` (QVHighlights, Charades-STA) or a pairs file's ``video_id`` (MSR-VTT) names
the library video whose id is that string, else whose file name is that string (``clip7.mp4``),
else whose file stem is (``clip7``: QVHighlights' ``RoripwjYFp8_360.0_510.0`` is the stem of
``RoripwjYFp8_360.0_510.0.mp4``). Paths in label CSVs are resolved relative to the CSV's folder and
matched by absolute path, then by stem. A reference with no video is an error listing up to five
of them; the fix is to index those videos into the library.

**Saliency scores** (QVHighlights): the engine scores every 2-s clip of the indexed video. When
the annotation gives ``duration``, the prediction has ``int(duration / 2)`` scores, the number of
clips the official evaluator gives the video (the last clip's score repeats to pad, extra clips
are dropped); without ``duration`` the engine's scores are written as they are.
"""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from ..errors import ConfigError, EvaluationError
from ..query.aggregate import AggregationConfig, score_videos
from ..recognition import (
    DEFAULT_LOGIT_SCALE,
    Classifier,
    VideoMatcher,
    ZeroShotClassifier,
    create_few_shot,
    label_text,
    load_descriptions,
    match_labelled_videos,
    missing_videos_error,
)
from .classification import confusion_matrix, evaluate_classification, predicted_classes
from .qvhighlights import MomentEvalConfig, load_jsonl
from .report import (
    _write_atomic,
    build_record,
    classification_report,
    retrieval_report,
    sha256_file,
    write_metrics_json,
    write_report,
)
from .retrieval import TieMode, evaluate_retrieval, text_to_video_ranks, video_to_text_ranks

if TYPE_CHECKING:
    from ..encoders import EncoderConfig
    from ..library import Library, SearchConfig, VideoRecord

__all__ = [
    "MAX_PREDICTED_WINDOWS",
    "library_provenance",
    "load_caption_pairs",
    "moment_predictions",
    "predict_moments",
    "retrieval_similarity",
    "run_classification",
    "run_grounding_from_library",
    "run_moments_from_library",
    "run_retrieval",
    "saliency_count",
    "write_jsonl",
]

logger = logging.getLogger(__name__)

MAX_PREDICTED_WINDOWS = 10  # the QVHighlights submission keeps at most 10 windows per query
TASKS = ("moments", "grounding")
_MATCHING_RULE = "library video id, else file name, else file stem (Path(path).stem)"
_SIM_CHUNK_ELEMENTS = 1 << 24  # texts x frames similarities computed per chunk (64 MiB float32)


# --------------------------------------------------------------------------------------------
# Shared pieces


def _open_library(library_dir: str | Path, encoder_config: EncoderConfig | None) -> Library:
    from ..library import Library

    return Library.open(library_dir, readonly=True, encoder_config=encoder_config)


def library_provenance(
    lib: Library,
    *,
    annotations_path: str | Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """What produced a set of predictions: library, encoder, recipe, versions, settings.

    ``settings`` are added as given (dataclasses are converted with ``asdict``).
    """
    m = lib.manifest
    out: dict[str, Any] = {
        "predictor": "vidlens library",
        "library": str(lib.root),
        "encoder": {"id": m.encoder_id, "fingerprint": m.encoder_fingerprint, "dim": m.dim},
        "sampling": m.sampling.to_dict(),
        "library_vidlens_version": m.vidlens_version,
        "vidlens_version": __version__,
        "video_matching": _MATCHING_RULE,
    }
    if annotations_path is not None:
        out["annotations_sha256"] = sha256_file(annotations_path)
    for key, value in settings.items():
        is_config = hasattr(value, "__dataclass_fields__") and not isinstance(value, type)
        out[key] = asdict(value) if is_config else value
    return out


def write_jsonl(records: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write records as JSON Lines (atomically: temporary file, fsync, rename)."""
    p = Path(path)
    try:
        _write_atomic(p, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
    except OSError as err:
        raise EvaluationError(f"cannot write {p}: {err}; choose a writable --out") from err
    return p


def _match_refs(lib: Library, refs: Sequence[str], source: str) -> dict[str, VideoRecord]:
    matcher = VideoMatcher(lib.videos())
    found: dict[str, VideoRecord] = {}
    missing: list[str] = []
    for ref in dict.fromkeys(refs):
        rec = matcher.find(ref)
        if rec is None:
            missing.append(ref)
        else:
            found[ref] = rec
    if missing:
        raise missing_videos_error(missing, source, lib.root)
    return found


def _write_outputs(
    record: Mapping[str, Any], out_dir: str | Path | None, report_format: str | None, report: Any
) -> None:
    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    if out_dir is None:
        return
    logger.info("wrote %s", write_metrics_json(record, out_dir))
    if report_format is not None:
        logger.info("wrote %s", write_report(report(), out_dir, report_format))


# --------------------------------------------------------------------------------------------
# Moments and grounding


def saliency_count(duration_s: float, clip_s: float = 2.0) -> int:
    """Saliency clips the official QVHighlights evaluator gives a video: ``int(duration / 2)``."""
    return max(1, int(duration_s / clip_s))


def _fit_length(scores: list[float], n: int) -> list[float]:
    if len(scores) >= n:
        return scores[:n]
    return scores + [scores[-1]] * (n - len(scores))


def _annotation_fields(rec: Mapping[str, Any], i: int, source: str) -> tuple[Any, str, str]:
    where = f"{source}: record {i + 1}"
    if "qid" not in rec:
        raise EvaluationError(f"{where} has no 'qid'; every query needs an id")
    qid = rec["qid"]
    query, vid = rec.get("query"), rec.get("vid")
    if not isinstance(query, str) or not query.strip():
        raise EvaluationError(f"{where} (qid {qid!r}) has no 'query' text to predict from")
    if vid is None or (isinstance(vid, str) and not vid.strip()):
        raise EvaluationError(f"{where} (qid {qid!r}) has no 'vid' naming its video")
    return qid, query, str(vid)


def predict_moments(
    lib: Library,
    annotations: Sequence[Mapping[str, Any]],
    *,
    task: str = "moments",
    config: SearchConfig | None = None,
    source: str = "annotations",
) -> list[dict[str, Any]]:
    """One QVHighlights-format prediction per annotation record, in the same order.

    Args:
        task: ``moments`` (windows and saliency scores) or ``grounding`` (windows only).
        config: the library's query settings (moment proposals and the saliency clip length).

    Returns:
        ``{"qid", "query", "vid", "pred_relevant_windows": [[st, ed, score]] x <= 10,
        "pred_saliency_scores": [...]}`` records (no saliency for grounding); ``vid`` as given.
    """
    from ..library import SearchConfig
    from ..library._search import video_moments

    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    cfg = config or SearchConfig()
    fields = [_annotation_fields(rec, i, source) for i, rec in enumerate(annotations)]
    videos = _match_refs(lib, [vid for _, _, vid in fields], source)
    queries = lib.encode_texts([query for _, query, _ in fields]) if fields else None
    out: list[dict[str, Any]] = []
    for i, (qid, query, vid) in enumerate(fields):
        assert queries is not None  # for mypy: set whenever there are fields
        answer = video_moments(lib, videos[vid], queries[i], cfg)
        pred: dict[str, Any] = {
            "qid": qid,
            "query": query,
            "vid": annotations[i]["vid"],
            "pred_relevant_windows": [
                [s, e, sc] for s, e, sc in answer.moments[:MAX_PREDICTED_WINDOWS]
            ],
        }
        if task == "moments":
            saliency = list(answer.saliency)
            duration = annotations[i].get("duration")
            if isinstance(duration, int | float) and math.isfinite(duration) and duration > 0:
                saliency = _fit_length(saliency, saliency_count(duration, cfg.saliency_clip_s))
            pred["pred_saliency_scores"] = saliency
        out.append(pred)
    return out


@contextlib.contextmanager
def moment_predictions(
    library_dir: str | Path,
    annotations_path: str | Path,
    out_dir: str | Path | None,
    *,
    task: str = "moments",
    config: SearchConfig | None = None,
    encoder_config: EncoderConfig | None = None,
) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Predict every query of ``annotations_path`` from the library and write the predictions.

    Yields ``(predictions path, provenance)``. The file is ``out_dir/predictions.jsonl``, or a
    temporary file removed on exit when ``out_dir`` is ``None``.
    """
    from ..library import SearchConfig

    cfg = config or SearchConfig()
    annotations = load_jsonl(annotations_path)
    with _open_library(library_dir, encoder_config) as lib:
        preds = predict_moments(
            lib, annotations, task=task, config=cfg, source=str(annotations_path)
        )
        provenance = library_provenance(
            lib,
            annotations_path=annotations_path,
            aggregation=cfg.aggregation,
            moments=cfg.moments,
            saliency={
                "clip_s": cfg.saliency_clip_s,
                "count": "int(annotation duration / clip_s); the last score repeats to pad",
            }
            if task == "moments"
            else None,
            max_windows=MAX_PREDICTED_WINDOWS,
        )
    if provenance["saliency"] is None:
        del provenance["saliency"]
    with contextlib.ExitStack() as stack:
        folder = (
            Path(out_dir)
            if out_dir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vidlens-preds-")))
        )
        path = write_jsonl(preds, folder / "predictions.jsonl")
        yield path, provenance


def run_moments_from_library(
    annotations: str | Path,
    library_dir: str | Path,
    *,
    config: MomentEvalConfig | None = None,
    search_config: SearchConfig | None = None,
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    encoder_config: EncoderConfig | None = None,
) -> dict[str, Any]:
    """``vidlens eval moments --library``: predict, write ``out_dir/predictions.jsonl``, score."""
    from .cli import run_moments

    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    with moment_predictions(
        library_dir,
        annotations,
        out_dir,
        task="moments",
        config=search_config,
        encoder_config=encoder_config,
    ) as (path, provenance):
        record = run_moments(
            annotations,
            path,
            config=config,
            out_dir=out_dir,
            report_format=report_format,
            provenance=provenance,
        )
    if out_dir is None:
        record["inputs"]["predictions"]["path"] = None  # scored, not kept: pass --out to keep
    return record


def run_grounding_from_library(
    annotations: str | Path,
    library_dir: str | Path,
    *,
    thresholds: Sequence[float] | None = None,
    search_config: SearchConfig | None = None,
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    encoder_config: EncoderConfig | None = None,
) -> dict[str, Any]:
    """``vidlens eval grounding --library``: ranked windows per query (Charades-STA), scored."""
    from .cli import run_grounding
    from .grounding import DEFAULT_GROUNDING_THRESHOLDS

    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    with moment_predictions(
        library_dir,
        annotations,
        out_dir,
        task="grounding",
        config=search_config,
        encoder_config=encoder_config,
    ) as (path, provenance):
        record = run_grounding(
            annotations,
            path,
            thresholds=tuple(thresholds or DEFAULT_GROUNDING_THRESHOLDS),
            out_dir=out_dir,
            report_format=report_format,
            provenance=provenance,
        )
    if out_dir is None:
        record["inputs"]["predictions"]["path"] = None
    return record


# --------------------------------------------------------------------------------------------
# Text-video retrieval


def load_caption_pairs(path: str | Path) -> list[tuple[str, str]]:
    """``(video_id, sentence)`` pairs from a CSV, JSON or JSONL file.

    - CSV: a header naming ``video_id`` and ``sentence`` (or ``caption``) columns, as MSR-VTT's
      1k-A ``MSRVTT_JSFUSION_test.csv``; without a header, the first two columns.
    - JSON: a list of ``{"video_id", "sentence"|"caption"}`` objects, an object with such a list
      under ``"sentences"`` (MSR-VTT's ``videodatainfo``), or ``{video_id: caption(s)}``.
    - JSONL: one ``{"video_id", "sentence"|"caption"}`` object per line.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise EvaluationError(f"cannot read {p}: {err}") from err
    suffix = p.suffix.lower()
    if suffix == ".csv":
        pairs = _pairs_from_csv(text, p)
    elif suffix in (".json", ".jsonl"):
        if suffix == ".jsonl":
            data: Any = load_jsonl(p)
        else:
            try:
                data = json.loads(text)
            except json.JSONDecodeError as err:
                raise EvaluationError(f"{p}: invalid JSON ({err.msg}, line {err.lineno})") from err
        pairs = _pairs_from_json(data, p)
    else:
        raise EvaluationError(f"{p}: give a .csv, .json or .jsonl file of video_id, sentence")
    if not pairs:
        raise EvaluationError(f"{p} has no (video_id, sentence) pairs")
    return pairs


def _pairs_from_csv(text: str, p: Path) -> list[tuple[str, str]]:
    rows = [r for r in csv.reader(text.splitlines()) if any(c.strip() for c in r)]
    if not rows:
        return []
    header = [c.strip().lower() for c in rows[0]]
    if "video_id" in header:
        sentence = next((c for c in ("sentence", "caption", "text") if c in header), None)
        if sentence is None:
            raise EvaluationError(f"{p}: the header has video_id but no 'sentence' column")
        vi, si = header.index("video_id"), header.index(sentence)
        body, first = rows[1:], 2
    else:
        vi, si, body, first = 0, 1, rows, 1
    pairs = []
    for n, row in enumerate(body, first):
        if len(row) <= max(vi, si) or not row[vi].strip() or not row[si].strip():
            raise EvaluationError(f"{p}: row {n} needs a video_id and a sentence, got {row!r}")
        pairs.append((row[vi].strip(), row[si].strip()))
    return pairs


def _pairs_from_json(data: Any, p: Path) -> list[tuple[str, str]]:
    if isinstance(data, dict) and isinstance(data.get("sentences"), list):
        data = data["sentences"]
    if isinstance(data, dict):
        out = []
        for vid, caps in data.items():
            for cap in [caps] if isinstance(caps, str) else caps:
                out.append((str(vid), str(cap)))
        return out
    if not isinstance(data, list):
        raise EvaluationError(f"{p}: expected a list of {{'video_id', 'sentence'}} objects")
    pairs = []
    for n, item in enumerate(data, 1):
        sentence = item.get("sentence", item.get("caption")) if isinstance(item, dict) else None
        if not isinstance(item, dict) or "video_id" not in item or not sentence:
            raise EvaluationError(f"{p}: entry {n} needs 'video_id' and 'sentence' (or 'caption')")
        pairs.append((str(item["video_id"]), str(sentence)))
    return pairs


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieval_similarity(
    lib: Library,
    text_vectors: np.ndarray,
    video_ids: Sequence[str],
    aggregation: AggregationConfig | None = None,
) -> np.ndarray:
    """``(n_texts, n_videos)`` float64 scores: each text against each video, aggregated.

    One matrix product gives every text's similarity to every frame of the chosen videos; each
    text's row is then cut into per-video curves and scored by :func:`score_videos` (all videos
    at once). ``mean`` pooling does not depend on the text, so the pooled video embeddings are
    computed once and scored with one product (the same numbers ``score_videos`` gives); so are
    ``temporal``'s, the encoder's temporal head's embeddings of the videos.
    """
    agg = aggregation or AggregationConfig()
    state = lib.search_state()
    where = {vid: i for i, vid in enumerate(state.video_ids)}
    if agg.method == "temporal":  # text-independent too: one product with the head's embeddings
        pooled = state.pooled(lib, np.array([where[v] for v in video_ids], dtype=np.int64))
        return np.asarray(_unit(np.asarray(text_vectors, np.float64)) @ _unit(pooled).T)
    spans = [(int(state.row_starts[where[v]]), int(state.row_counts[where[v]])) for v in video_ids]
    frames = np.concatenate([state.matrix[s : s + n] for s, n in spans]).astype(np.float32)
    texts = np.asarray(text_vectors, dtype=np.float32)
    counts = np.array([n for _, n in spans])
    bounds = np.cumsum(counts)[:-1]
    if agg.method == "mean":
        unit = _unit(frames)
        starts = np.concatenate([[0], bounds])
        pooled = np.add.reduceat(unit.astype(np.float64), starts, axis=0) / counts[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        pooled = np.divide(pooled, norms, out=np.zeros_like(pooled), where=norms > 1e-12)
        return np.asarray(_unit(texts.astype(np.float64)) @ pooled.T)
    out = np.zeros((len(texts), len(video_ids)), dtype=np.float64)
    vectors = np.split(frames, bounds) if agg.method == "xpool" else None
    chunk = max(1, _SIM_CHUNK_ELEMENTS // max(1, frames.shape[0]))
    for t0 in range(0, len(texts), chunk):
        sims = texts[t0 : t0 + chunk] @ frames.T  # (chunk, frames)
        for j, row in enumerate(sims):
            query = texts[t0 + j] if vectors is not None else None
            out[t0 + j] = score_videos(np.split(row, bounds), agg, vectors, query)
    return out


def run_retrieval(
    pairs: str | Path,
    library_dir: str | Path,
    *,
    aggregation: AggregationConfig | None = None,
    all_videos: bool = False,
    ties: TieMode = "pessimistic",
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    encoder_config: EncoderConfig | None = None,
) -> dict[str, Any]:
    """``vidlens eval retrieval``: MSR-VTT-style text->video and video->text retrieval.

    The columns are the videos the pairs file names, in order of first appearance; with
    ``all_videos`` every library video is a column (the others act as distractors). Default
    aggregation: ``mean`` pooling, the ViFi-CLIP protocol for whole-clip retrieval.
    """
    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    agg = aggregation or AggregationConfig(method="mean")
    rows = load_caption_pairs(pairs)
    with _open_library(library_dir, encoder_config) as lib:
        found = _match_refs(lib, [vid for vid, _ in rows], str(pairs))
        columns = list(dict.fromkeys(found[vid].id for vid, _ in rows))
        if all_videos:
            columns += [v.id for v in lib.videos() if v.id not in set(columns)]
        column_of = {vid: i for i, vid in enumerate(columns)}
        gt = np.array([column_of[found[vid].id] for vid, _ in rows], dtype=np.int64)
        texts = lib.encode_texts([sentence for _, sentence in rows])
        sim = retrieval_similarity(lib, texts, columns, agg)
        provenance = library_provenance(lib, annotations_path=pairs, aggregation=agg)
    metrics = evaluate_retrieval(sim, gt, ties=ties)
    record = build_record(
        "retrieval",
        metrics,
        settings={
            "aggregation": asdict(agg),
            "ks": [1, 5, 10],
            "ties": ties,
            "videos": "every library video" if all_videos else "videos named in the pairs file",
        },
        annotations_path=pairs,
        provenance=provenance,
    )

    def report() -> Any:
        return retrieval_report(
            record,
            text_to_video_ranks(sim, gt, ties=ties).tolist(),
            video_to_text_ranks(sim, gt, ties=ties)[1].tolist(),
        )

    _write_outputs(record, out_dir, report_format, report)
    return record


# --------------------------------------------------------------------------------------------
# Classification


def run_classification(
    labels: str | Path,
    library_dir: str | Path,
    *,
    templates: str | Path = "kinetics",
    views: int = 1,
    classes: Sequence[str] | None = None,
    few_shot: str | Path | None = None,
    few_shot_method: str = "tip-adapter",
    logit_scale: float = DEFAULT_LOGIT_SCALE,
    descriptions: str | Path | None = None,
    pooling: str = "auto",
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    encoder_config: EncoderConfig | None = None,
) -> dict[str, Any]:
    """``vidlens eval classify``: Kinetics-style zero-shot (or few-shot) top-1 / top-5 accuracy.

    Args:
        labels: CSV of the test videos (:func:`vidlens.recognition.read_labelled_csv`):
            ``path,label``, optionally with ``time_start,time_end`` (the labelled stretch is
            classified, its views are segments of it), or the official Kinetics layout.
        templates: prompt template set or file (recorded in the output).
        views: 1 (whole video) or more equal temporal segments whose class probabilities are
            averaged (multi-view testing).
        classes: the class list; default the sorted distinct labels of the CSV.
        few_shot: optional ``path,label`` CSV of example videos (training-free adaptation).
        descriptions: optional JSON ``{"label": ["description", ...]}`` of extra prompts per
            class, used as they are (recorded in the output).
        pooling: ``auto`` (the encoder's temporal head when it has one), ``mean`` or
            ``temporal`` (:func:`vidlens.recognition.temporal_head_pooling`).

    With ``out_dir`` also writes ``predictions.jsonl`` (per row: path, window, label, top-5
    classes with probabilities).
    """
    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    if views < 1:
        raise ConfigError(f"--views must be at least 1, got {views}")
    with _open_library(library_dir, encoder_config) as lib:
        items = match_labelled_videos(lib, labels)
        class_list = list(classes) if classes else sorted({label for _, label, _ in items})
        unknown = sorted({label for _, label, _ in items} - set(class_list))
        if unknown:
            raise ConfigError(
                f"{labels}: labels not among the classes: {', '.join(unknown[:5])}; add them to "
                "the class list or fix the labels"
            )
        classifier: Classifier = ZeroShotClassifier(
            lib,
            class_list,
            templates=templates,
            descriptions=load_descriptions(descriptions) if descriptions is not None else None,
            logit_scale=logit_scale,
            pooling=pooling,
        )
        if few_shot is not None:
            rows = match_labelled_videos(lib, few_shot)
            assert isinstance(classifier, ZeroShotClassifier)
            classifier = create_few_shot(
                classifier,
                [(rec.id, label) for rec, label, _ in rows],
                few_shot_method,
                windows=[window for _, _, window in rows],
            )
        windows = [window for _, _, window in items]
        scores = classifier.view_scores([rec.id for rec, _, _ in items], views, windows)
        provenance = library_provenance(lib, annotations_path=labels)
    index = {c: i for i, c in enumerate(class_list)}
    y = np.array([index[label] for _, label, _ in items], dtype=np.int64)
    metrics = evaluate_classification(scores, y)
    settings = {
        **classifier.describe(),
        "class_names": [label_text(c) for c in class_list],
        "views": views,
        "view_averaging": "mean of the views' class probabilities",
        "segments": sum(w is not None for w in windows),
        "ks": [1, 5],
    }
    if few_shot is not None:
        settings["few_shot_file"] = {"path": str(few_shot), "sha256": sha256_file(few_shot)}
    record = build_record(
        "classification", metrics, settings=settings, annotations_path=labels, provenance=provenance
    )
    if out_dir is not None:
        mean = scores.mean(axis=1)
        pred = predicted_classes(mean, y)
        lines = []
        for i, (rec, label, window) in enumerate(items):
            top = sorted(range(len(class_list)), key=lambda c: (-mean[i, c], c))[:5]
            lines.append(
                {
                    "path": rec.path,
                    "video_id": rec.id,
                    "window": list(window) if window else None,
                    "label": label,
                    "predicted": class_list[int(pred[i])],
                    "top5": [[class_list[c], float(mean[i, c])] for c in top],
                }
            )
        write_jsonl(lines, Path(out_dir) / "predictions.jsonl")

    def report() -> Any:
        return classification_report(record, confusion_matrix(scores, y), class_list)

    _write_outputs(record, out_dir, report_format, report)
    return record
