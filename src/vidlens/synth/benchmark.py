"""Measure an encoder on a synthetic set through the engine itself.

The set's videos are indexed into a :class:`~vidlens.Library` with the encoder, then:

- **retrieval** — every ``retrieval.csv`` caption is searched (``Library.search``, the engine's
  default top-k-mean ranking, and again with ViFi-CLIP mean pooling, ``_meanpool``, and with the
  encoder's temporal head, ``_temporal``); R@1/5/10 = share of captions whose video ranks
  within k.
- **moments / highlights** — every ``moments.jsonl`` query goes through ``Library.moments`` on its
  video; scored by :func:`vidlens.eval.qvhighlights.evaluate_moments` (R1@0.5, R1@0.7, mAP,
  HIT@1).
- **action** — zero-shot classification of each labelled stretch of ``classes.csv`` (the
  primary event's ``time_start..time_end``, as Kinetics labels 10-s stretches of longer videos)
  by the engine's :class:`~vidlens.recognition.ZeroShotClassifier` with the prompts the set
  ships (``class_templates.txt``, ``class_descriptions.json``) over the stretch's mean-pooled
  stored frame embeddings (ViFi-CLIP), scored by
  :func:`vidlens.eval.classification.evaluate_classification` — what ``vidlens eval classify
  --pooling mean`` reports — and the same through the temporal head when the encoder has one
  (``--pooling temporal``). ``action_top1_video*``: the same for whole videos (the label is
  then one of the 1-4 actions the video shows, the longest).
- **motion direction** — for every "moves left/right/up/down" event: the four direction captions
  of its object, scored on the stored frames inside the event window by mean pooling and by the
  temporal head; accuracy of picking the true direction (chance 25%).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .annotations import CLASS_LABEL_TEMPLATE, class_prompts, read_world
from .world import ACTION_LABELS, VideoSpec

__all__ = ["DIRECTIONS", "evaluate_encoder_on_synth"]

logger = logging.getLogger(__name__)

DIRECTIONS = ("move_left", "move_right", "move_up", "move_down")
_DIRECTION_WORDS = {"move_left": "left", "move_right": "right", "move_up": "up",
                    "move_down": "down"}  # fmt: skip


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def _read_retrieval(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return [(row["video_id"], row["sentence"]) for row in csv.DictReader(fh)]


def evaluate_encoder_on_synth(
    data_dir: str | os.PathLike[str],
    library_dir: str | os.PathLike[str],
    *,
    encoder: str = "vidlens-tiny",
    fps: float = 1.0,
    temporal_head: Any | None = None,
    workers: int = 1,
    aggregations: tuple[str, ...] = ("topk-mean", "mean", "temporal"),
) -> dict[str, Any]:
    """Index ``data_dir/videos`` into ``library_dir`` (reused when already built) and measure.

    ``aggregations`` picks the video rankings measured (``topk-mean``: the engine's default,
    ``mean``: ViFi-CLIP mean pooling, reported with the suffix ``_meanpool``; ``temporal``: the
    encoder's temporal head, suffix ``_temporal``, when ``temporal_head`` is given).
    Returns a flat dict of metrics (fractions in 0..1, not percentages) plus counts and timings.
    """
    from ..config import SamplingConfig
    from ..encoders.tiny import temporal_video_scores
    from ..eval.classification import evaluate_classification
    from ..eval.qvhighlights import evaluate_moments, load_jsonl
    from ..ingest import IngestConfig
    from ..library import Library, SearchConfig
    from ..query.aggregate import AggregationConfig
    from ..recognition import ZeroShotClassifier, match_labelled_videos

    root = Path(data_dir)
    ann = root / "annotations"
    videos: list[VideoSpec] = read_world(root)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    lib = Library.open(
        library_dir, encoder=encoder, sampling=SamplingConfig(mode="fps", fps=fps), create=True
    )
    try:
        report = lib.index([root / "videos"], config=IngestConfig(workers=workers))
        if report.failed:
            logger.warning("%d videos failed to index: %s", len(report.failed), report.failed[:3])
        timings["index_s"] = round(time.perf_counter() - t0, 1)
        by_stem = {Path(v.path).stem: v.id for v in lib.videos()}
        missing = [v.vid for v in videos if v.vid not in by_stem]
        if missing:
            raise RuntimeError(f"{len(missing)} videos of {root} are not in the library")
        out: dict[str, Any] = {"n_videos": len(videos), "encoder": encoder, "fps": fps}

        # -- text -> video retrieval, through the engine's search
        t1 = time.perf_counter()
        pairs = _read_retrieval(ann / "retrieval.csv")
        for suffix, method in (("", "topk-mean"), ("_meanpool", "mean"), ("_temporal", "temporal")):
            if method not in aggregations or (method == "temporal" and temporal_head is None):
                continue
            config = SearchConfig(aggregation=AggregationConfig(method=method))
            ranks = []
            for vid, sentence in pairs:
                hits = lib.search(sentence, top_k=10, config=config).results
                ids = [h.video_id for h in hits]
                target = by_stem[vid]
                ranks.append(ids.index(target) + 1 if target in ids else 11)
            r = np.array(ranks)
            for k in (1, 5, 10):
                out[f"t2v_R@{k}{suffix}"] = round(float(np.mean(r <= k)), 4)
        out["n_captions"] = len(pairs)
        timings["retrieval_s"] = round(time.perf_counter() - t1, 1)

        # -- moments and highlights
        t2 = time.perf_counter()
        gts = load_jsonl(ann / "moments.jsonl")
        preds = [lib.moments(by_stem[g["vid"]], g["query"], qid=g["qid"]) for g in gts]
        m = evaluate_moments(preds, gts)["brief"]
        out["moment_R1@0.5"] = round(m["MR-full-R1@0.5"] / 100, 4)
        out["moment_R1@0.7"] = round(m["MR-full-R1@0.7"] / 100, 4)
        out["moment_mAP"] = round(m["MR-full-mAP"] / 100, 4)
        out["highlight_HIT@1"] = round(m["HL-min-VeryGood-Hit1"] / 100, 4)
        out["highlight_mAP"] = round(m["HL-min-VeryGood-mAP"] / 100, 4)
        out["n_queries"] = len(gts)
        timings["moments_s"] = round(time.perf_counter() - t2, 1)

        # -- zero-shot action classification (mean pooling; temporal head), by the engine's
        # classifier with the prompts the set ships (as `vidlens eval classify` scores it)
        t3 = time.perf_counter()
        labelled = match_labelled_videos(lib, ann / "classes.csv")
        classes = sorted(ACTION_LABELS.values())
        clf = ZeroShotClassifier(
            lib,
            classes,
            templates=[CLASS_LABEL_TEMPLATE],
            descriptions={c: class_prompts(c) for c in classes},
            pooling="mean",
        )
        frame_vecs = {v.vid: lib.frame_vectors(by_stem[v.vid]) for v in videos}
        frame_times = {v.vid: lib.frame_times(by_stem[v.vid]) for v in videos}
        ids = [rec.id for rec, _, _ in labelled]
        windows = [window for _, _, window in labelled]
        y = np.array([classes.index(lab) for _, lab, _ in labelled])
        for suffix, head in (("", None), ("_temporal", temporal_head)):
            if suffix and head is None:
                continue
            clf.temporal_head = head
            for what, spans in (("", windows), ("_video", None)):
                top1 = evaluate_classification(clf.view_scores(ids, 1, spans), y)["top1"]
                out[f"action_top1{what}{suffix}"] = round(top1 / 100, 4)

        # -- motion direction inside annotated move events
        correct_mean, correct_temporal = [], []
        for v in videos:
            for ev in v.events:
                if ev.action not in DIRECTIONS:
                    continue
                t = frame_times[v.vid]
                inside = (t >= ev.start_s) & (t <= ev.end_s)
                if inside.sum() < 2:
                    continue
                spec = v.objects[ev.obj]
                texts = [f"the {spec.colour} {spec.shape} moves {_DIRECTION_WORDS[d]}"
                         for d in DIRECTIONS]  # fmt: skip
                temb = _normalize(lib.encode_texts(texts))
                frames = _normalize(frame_vecs[v.vid][inside])
                truth = DIRECTIONS.index(ev.action)
                correct_mean.append(int(np.argmax(temb @ _normalize(frames.mean(0))) == truth))
                if temporal_head is not None:
                    s = temporal_video_scores(temporal_head, [frames], temb)[:, 0]
                    correct_temporal.append(int(np.argmax(s) == truth))
        out["n_direction_events"] = len(correct_mean)
        if correct_mean:
            out["direction_acc_mean"] = round(float(np.mean(correct_mean)), 4)
        if correct_temporal:
            out["direction_acc_temporal"] = round(float(np.mean(correct_temporal)), 4)
        timings["classification_s"] = round(time.perf_counter() - t3, 1)
        out["timings"] = timings
        return out
    finally:
        lib.close()


def write_metrics(metrics: dict[str, Any], path: str | os.PathLike[str]) -> None:
    Path(path).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
