"""``vidlens eval``: score prediction files the way the research community does.

``eval_group`` is a click group that the main ``vidlens`` CLI mounts. The ``run_*`` functions do
the work (read files, evaluate, build the reproducibility record, write outputs) and are what
other code calls; the click commands only parse options and format the result.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, VidlensError
from .grounding import DEFAULT_GROUNDING_THRESHOLDS, evaluate_grounding, grounding_ious
from .qvhighlights import MomentEvalConfig, evaluate_moments, load_jsonl
from .report import (
    REPORT_FORMATS,
    build_record,
    grounding_report,
    moments_report,
    write_metrics_json,
    write_report,
)

__all__ = ["eval_group", "run_grounding", "run_moments"]

logger = logging.getLogger(__name__)


def _predict_from_library(library_dir: Path, annotations: Path, out_dir: Path | None) -> Path:
    """Hook: answer every query of ``annotations`` from the library at ``library_dir`` and write
    a QVHighlights-format predictions JSONL (in ``out_dir`` when given); return its path.

    Placeholder until moment prediction from a library lands.
    """
    raise ConfigError(
        f"--library {library_dir}: predicting moments from a library is not available yet; "
        "pass --predictions FILE.jsonl instead"
    )


def run_moments(
    annotations: str | Path,
    predictions: str | Path,
    *,
    config: MomentEvalConfig | None = None,
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a QVHighlights-format predictions file; return (and optionally write) the record.

    Writes ``out_dir/metrics.json`` and, with ``report_format`` ("md" or "html"), a report.
    ``provenance`` (encoder id and weights fingerprint, sampling recipe, aggregation, moment
    settings) is stored as given under the record's "provenance" key.
    """
    cfg = config or MomentEvalConfig()
    metrics = evaluate_moments(
        load_jsonl(predictions),
        load_jsonl(annotations),
        config=cfg,
        predictions_name=str(predictions),
        ground_truth_name=str(annotations),
    )
    record = build_record(
        "moments",
        metrics,
        settings=cfg.to_dict(),
        annotations_path=annotations,
        predictions_path=predictions,
        provenance=provenance,
    )
    _write_outputs(record, out_dir, report_format, lambda: moments_report(record))
    return record


def run_grounding(
    annotations: str | Path,
    predictions: str | Path,
    *,
    thresholds: Sequence[float] = DEFAULT_GROUNDING_THRESHOLDS,
    out_dir: str | Path | None = None,
    report_format: str | None = None,
    provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate a single-window grounding predictions file (Charades-STA style), as
    :func:`run_moments` does for QVHighlights."""
    preds, truth = load_jsonl(predictions), load_jsonl(annotations)
    pred_name, gt_name = str(predictions), str(annotations)
    metrics = evaluate_grounding(
        preds, truth, thresholds, predictions_name=pred_name, ground_truth_name=gt_name
    )
    record = build_record(
        "grounding",
        metrics,
        settings={"iou_thresholds": list(thresholds), "ks": [1, 5], "ties": "file order"},
        annotations_path=annotations,
        predictions_path=predictions,
        provenance=provenance,
    )

    def report() -> Any:
        top1 = [
            v[0] if len(v) else 0.0
            for v in grounding_ious(
                preds, truth, predictions_name=pred_name, ground_truth_name=gt_name
            ).values()
        ]
        return grounding_report(record, top1)

    _write_outputs(record, out_dir, report_format, report)
    return record


def _write_outputs(
    record: Mapping[str, Any], out_dir: str | Path | None, report_format: str | None, report: Any
) -> None:
    if report_format is not None and out_dir is None:
        raise ConfigError("a report needs an output folder: add --out DIR")
    if out_dir is None:
        return
    path = write_metrics_json(record, out_dir)
    logger.info("wrote %s", path)
    if report_format is not None:
        logger.info("wrote %s", write_report(report(), out_dir, report_format))


# --------------------------------------------------------------------------------------------
# Click faces


def _echo_moments(record: Mapping[str, Any]) -> None:
    metrics = record["metrics"]
    click.echo("QVHighlights evaluation")
    for key, value in metrics["brief"].items():
        click.echo(f"  {key:<22} {value:7.2f}")
    for metric in ("MR-mAP", "MR-R1"):
        if "full" not in metrics:
            break
        cols = list(metrics["full"][metric])
        click.echo(f"\n{metric:<8}" + "".join(f"{c:>8}" for c in cols))
        for bucket in ("full", "short", "middle", "long"):
            values = metrics[bucket][metric]
            click.echo(f"{bucket:<8}" + "".join(f"{values[c]:8.2f}" for c in cols))


def _echo_flat(title: str, metrics: Mapping[str, Any]) -> None:
    click.echo(title)
    for key, value in metrics.items():
        click.echo(f"  {key:<10} {value:7.2f}")


def _parse_thresholds(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError as err:
        raise ConfigError(
            f"--thresholds {text!r}: give comma-separated numbers, e.g. 0.3,0.5,0.7"
        ) from err
    if not values:
        raise ConfigError("--thresholds is empty; give e.g. 0.3,0.5,0.7")
    return values


_file = click.Path(dir_okay=False, path_type=Path)
_folder = click.Path(file_okay=False, path_type=Path)


@click.group("eval")
def eval_group() -> None:
    """Score prediction files against benchmark annotations (official metrics)."""


@eval_group.command("moments")
@click.option("--annotations", type=_file, required=True, help="Ground truth, QVHighlights JSONL.")
@click.option("--predictions", type=_file, default=None, help="Predictions, QVHighlights JSONL.")
@click.option("--library", type=_folder, default=None, help="Predict from this library instead.")
@click.option("--out", "out_dir", type=_folder, default=None, help="Write metrics.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--report",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="Also write a report into --out.",
)
@click.option(
    "--max-windows",
    type=int,
    default=None,
    help="Predicted windows per query kept for MR-mAP (default 10, as official).",
)
def moments_command(
    annotations: Path,
    predictions: Path | None,
    library: Path | None,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
    max_windows: int | None,
) -> None:
    """Moment retrieval + highlight detection metrics (QVHighlights, exact official numbers)."""
    try:
        if predictions is None:
            if library is None:
                raise ConfigError("give --predictions FILE.jsonl (or --library DIR)")
            predictions = _predict_from_library(library, annotations, out_dir)
        elif library is not None:
            raise ConfigError("give either --predictions or --library, not both")
        config = (
            MomentEvalConfig() if max_windows is None else MomentEvalConfig(max_windows=max_windows)
        )
        record = run_moments(
            annotations, predictions, config=config, out_dir=out_dir, report_format=report_format
        )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(record))
    else:
        _echo_moments(record)
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)


@eval_group.command("grounding")
@click.option("--annotations", type=_file, required=True, help="Ground truth, one window a query.")
@click.option(
    "--predictions", type=_file, required=True, help="Ranked windows, QVHighlights JSONL."
)
@click.option("--thresholds", default="0.3,0.5,0.7", show_default=True, help="IoU thresholds.")
@click.option("--out", "out_dir", type=_folder, default=None, help="Write metrics.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option(
    "--report",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="Also write a report into --out.",
)
def grounding_command(
    annotations: Path,
    predictions: Path,
    thresholds: str,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
) -> None:
    """Single-window grounding metrics (Charades-STA / TACoS): R1@t, R5@t, mIoU."""
    try:
        record = run_grounding(
            annotations,
            predictions,
            thresholds=_parse_thresholds(thresholds),
            out_dir=out_dir,
            report_format=report_format,
        )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(record))
    else:
        _echo_flat("Temporal grounding", record["metrics"])
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)
