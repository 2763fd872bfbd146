"""Metrics records with provenance, and Markdown / HTML reports with SVG figures."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

import vidlens
from vidlens.errors import EvaluationError
from vidlens.eval.classification import confusion_matrix, evaluate_classification
from vidlens.eval.qvhighlights import MomentEvalConfig, evaluate_moments
from vidlens.eval.report import (
    build_record,
    classification_report,
    grounding_report,
    moments_report,
    render_html,
    render_markdown,
    retrieval_report,
    svg_bar_chart,
    svg_heatmap,
    svg_line_chart,
    write_metrics_json,
    write_report,
)
from vidlens.eval.retrieval import evaluate_retrieval, text_to_video_ranks, video_to_text_ranks

PROVENANCE = {"encoder": "openclip:ViT-B-32/openai", "weights_sha256": "ab12", "fps": 1.0}


def _moment_record(tmp_path: Path) -> dict:
    truth = [
        {
            "qid": q,
            "duration": 60,
            "relevant_windows": [[0, 4 + 15 * q]],
            "relevant_clip_ids": [0, 1],
            "saliency_scores": [[4, 3, 2], [1, 2, 3]],
        }
        for q in range(3)
    ]
    preds = [
        {
            "qid": q,
            "pred_relevant_windows": [[0, 4 + 14 * q, 0.9]],
            "pred_saliency_scores": [0.1 * i for i in range(30)],
        }
        for q in range(3)
    ]
    ann, pred = tmp_path / "gt.jsonl", tmp_path / "pred.jsonl"
    ann.write_text("".join(json.dumps(r) + "\n" for r in truth))
    pred.write_text("".join(json.dumps(r) + "\n" for r in preds))
    return build_record(
        "moments",
        evaluate_moments(preds, truth),
        settings=MomentEvalConfig().to_dict(),
        annotations_path=ann,
        predictions_path=pred,
        provenance=PROVENANCE,
    )


def test_record_has_version_hashes_settings_and_provenance(tmp_path: Path) -> None:
    record = _moment_record(tmp_path)
    assert record["vidlens_version"] == vidlens.__version__
    digest = hashlib.sha256((tmp_path / "gt.jsonl").read_bytes()).hexdigest()
    assert record["inputs"]["annotations"] == {"path": str(tmp_path / "gt.jsonl"), "sha256": digest}
    assert len(record["inputs"]["predictions"]["sha256"]) == 64
    assert record["settings"]["max_windows"] == 10
    assert record["settings"]["length_buckets_s"]["long"] == [30.0, None]
    assert record["provenance"] == PROVENANCE
    path = write_metrics_json(record, tmp_path / "out")
    assert json.loads(path.read_text()) == record
    assert [p.name for p in path.parent.iterdir()] == ["metrics.json"]  # no temp file left
    assert write_metrics_json(record, tmp_path / "out").read_bytes() == path.read_bytes()


def _check_svg(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def test_svg_figures_are_well_formed_and_escaped() -> None:
    line = svg_line_chart(
        {"a<b": [(0.5, 10.0), (0.7, 90.0)], "c": [(0.5, 0.0)]},
        title="t & u",
        x_label="x",
        y_label="y",
    )
    root = _check_svg(line)
    assert len(root.findall(".//{http://www.w3.org/2000/svg}polyline")) == 2
    assert "a&lt;b" in line and "t &amp; u" in line
    bars = _check_svg(svg_bar_chart(["x", "y"], {"s": [1.0, -2.0]}, title="b", y_label="v"))
    assert len(bars.findall(".//{http://www.w3.org/2000/svg}rect")) == 3  # background + 2 bars
    heat = _check_svg(svg_heatmap(np.eye(3, dtype=int), ["a", "b", "c"], title="h"))
    assert len(heat.findall(".//{http://www.w3.org/2000/svg}rect")) == 10
    with pytest.raises(EvaluationError, match="2 values for 3 categories"):
        svg_bar_chart(["x", "y", "z"], {"s": [1.0, 2.0]}, title="b", y_label="v")


def test_moments_report_markdown_and_html(tmp_path: Path) -> None:
    report = moments_report(_moment_record(tmp_path))
    names = [f.name for f in report.figures]
    assert names == ["mr-map_by_iou", "mr-r1_by_iou", "mr_map_by_bucket", "hl_by_level"]
    text, files = render_markdown(report)
    assert "| MR-full-mAP |" in text and "provenance: encoder" in text
    assert set(files) == {f"report_figures/{n}.svg" for n in names}
    for svg in files.values():
        _check_svg(svg)
    page = render_html(report)
    assert page.count("<svg") == 4 and "openclip:ViT-B-32/openai" in page

    md = write_report(report, tmp_path / "out", "md")
    assert md.name == "report.md"
    for name in names:
        assert (tmp_path / "out" / "report_figures" / f"{name}.svg").exists()
    assert write_report(report, tmp_path / "out", "html").name == "report.html"
    with pytest.raises(EvaluationError, match="unknown report format 'pdf'"):
        write_report(report, tmp_path, "pdf")


def test_grounding_retrieval_and_classification_reports() -> None:
    g = grounding_report(
        build_record("grounding", {"R1@0.5": 50.0, "mIoU": 40.0}, settings={}), [0.2, 0.8]
    )
    assert [f.name for f in g.figures] == ["r1_by_iou", "top1_iou_histogram"]

    sim = np.random.default_rng(0).normal(size=(30, 30))
    gt = np.arange(30)
    r = retrieval_report(
        build_record("retrieval", evaluate_retrieval(sim, gt), settings={"ties": "pessimistic"}),
        text_to_video_ranks(sim, gt),
        video_to_text_ranks(sim, gt)[1],
    )
    assert "| t2v |" in render_markdown(r)[0]
    _check_svg(r.figures[0].svg)

    scores = np.random.default_rng(1).normal(size=(50, 5))
    labels = np.arange(50) % 5
    c = classification_report(
        build_record("classification", evaluate_classification(scores, labels), settings={}),
        confusion_matrix(scores, labels),
        ["a", "b", "c", "d", "e"],
    )
    assert c.figures[0].name == "confusion_matrix"

    big = np.random.default_rng(2).normal(size=(200, 60))
    big_labels = np.arange(200) % 60
    c = classification_report(
        build_record("classification", evaluate_classification(big, big_labels), settings={}),
        confusion_matrix(big, big_labels),
    )
    assert not c.figures and c.tables[1].title == "Most frequent confusions"
