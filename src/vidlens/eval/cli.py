"""``vidlens eval``: score predictions the way the research community does.

``moments`` and ``grounding`` score a predictions file, or first predict every query from a library
(``--library``); ``retrieval`` and ``classify`` always work from a library.

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

from ..classify_cli import pooling_option
from ..errors import ConfigError, VidlensError
from ..query.aggregate import AGGREGATIONS, AggregationConfig
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

# Library-backed commands (predictions made from an indexed library, then scored) live in
# :mod:`vidlens.eval.library_eval`; they are imported when a command needs them.

logger = logging.getLogger(__name__)


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


def _check_source(predictions: Path | None, library: Path | None) -> None:
    if predictions is None and library is None:
        raise ConfigError("give --predictions FILE.jsonl (or --library DIR)")
    if predictions is not None and library is not None:
        raise ConfigError("give either --predictions or --library, not both")


def _encoder_config(device: str | None) -> Any:
    from ..encoders import EncoderConfig

    return EncoderConfig(device=device) if device else None


def _device_option(f: Any) -> Any:
    return click.option(
        "--device", default=None, help="Torch device for the text encoder (cpu, cuda)."
    )(f)


_file = click.Path(dir_okay=False, path_type=Path)
_folder = click.Path(file_okay=False, path_type=Path)
_report_option = click.option(
    "--report",
    "report_format",
    type=click.Choice(REPORT_FORMATS),
    default=None,
    help="Also write a report into --out.",
)
_library_option = click.option(
    "--library",
    type=_folder,
    envvar="VIDLENS_LIBRARY",
    default="vidlens-library",
    show_default=True,
    help="Library folder (env VIDLENS_LIBRARY).",
)


@click.group("eval")
def eval_group() -> None:
    """Benchmark metrics (official numbers): score prediction files, or predict from a library."""


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
@_device_option
def moments_command(
    annotations: Path,
    predictions: Path | None,
    library: Path | None,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
    max_windows: int | None,
    device: str | None,
) -> None:
    """Moment retrieval + highlight detection metrics (QVHighlights, exact official numbers).

    With --library, predictions are made from that library first (written to
    --out/predictions.jsonl in the official submission format). An annotation's vid names the
    library video with that id, else that file name, else that file stem.
    """
    try:
        _check_source(predictions, library)
        config = (
            MomentEvalConfig() if max_windows is None else MomentEvalConfig(max_windows=max_windows)
        )
        if predictions is None:
            from .library_eval import run_moments_from_library

            assert library is not None  # for mypy: _check_source ensures one source
            record = run_moments_from_library(
                annotations,
                library,
                config=config,
                out_dir=out_dir,
                report_format=report_format,
                encoder_config=_encoder_config(device),
            )
        else:
            record = run_moments(
                annotations,
                predictions,
                config=config,
                out_dir=out_dir,
                report_format=report_format,
            )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        _echo_moments(record)
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)


@eval_group.command("grounding")
@click.option("--annotations", type=_file, required=True, help="Ground truth, one window a query.")
@click.option("--predictions", type=_file, default=None, help="Ranked windows, QVHighlights JSONL.")
@click.option("--library", type=_folder, default=None, help="Predict from this library instead.")
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
@_device_option
def grounding_command(
    annotations: Path,
    predictions: Path | None,
    library: Path | None,
    thresholds: str,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
    device: str | None,
) -> None:
    """Single-window grounding metrics (Charades-STA / TACoS): R1@t, R5@t, mIoU.

    With --library, each query's ranked windows are predicted from that library first (the top-1
    window is what R1 and mIoU score); vids are matched as in `eval moments`.
    """
    try:
        _check_source(predictions, library)
        if predictions is None:
            from .library_eval import run_grounding_from_library

            assert library is not None  # for mypy: _check_source ensures one source
            record = run_grounding_from_library(
                annotations,
                library,
                thresholds=_parse_thresholds(thresholds),
                out_dir=out_dir,
                report_format=report_format,
                encoder_config=_encoder_config(device),
            )
        else:
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
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        _echo_flat("Temporal grounding", record["metrics"])
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)


@eval_group.command("retrieval")
@click.option(
    "--pairs",
    type=_file,
    required=True,
    help="video_id, sentence pairs: CSV (MSR-VTT 1k-A), JSON or JSONL.",
)
@_library_option
@click.option(
    "--aggregation",
    type=click.Choice(AGGREGATIONS),
    default=None,
    help="How frame scores make a video score [mean: ViFi-CLIP mean pooling].",
)
@click.option("--all-videos", is_flag=True, help="Rank against every library video.")
@click.option("--out", "out_dir", type=_folder, default=None, help="Write metrics.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_report_option
@_device_option
def retrieval_command(
    pairs: Path,
    library: Path,
    aggregation: str | None,
    all_videos: bool,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
    device: str | None,
) -> None:
    """Text-video retrieval from a library (MSR-VTT 1k-A): R@1/5/10, MedR, MeanR both ways.

    Each sentence is scored against each video named in --pairs (a video_id names the library
    video with that id, else that file name, else that file stem); several sentences may share
    a video. Ties count against the correct item.
    """
    from .library_eval import run_retrieval

    try:
        record = run_retrieval(
            pairs,
            library,
            aggregation=AggregationConfig(method=aggregation) if aggregation else None,
            all_videos=all_videos,
            out_dir=out_dir,
            report_format=report_format,
            encoder_config=_encoder_config(device),
        )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        metrics = record["metrics"]
        keys = list(metrics["t2v"])
        click.echo(
            f"Text-video retrieval ({metrics['n_texts']} texts, {metrics['n_videos']} videos, "
            f"aggregation {record['settings']['aggregation']['method']})"
        )
        click.echo(f"{'':<6}" + "".join(f"{k:>8}" for k in keys))
        for direction in ("t2v", "v2t"):
            values = metrics[direction]
            click.echo(f"{direction:<6}" + "".join(f"{values[k]:8.2f}" for k in keys))
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)


@eval_group.command("classify")
@click.option(
    "--labels",
    "labels_csv",
    type=_file,
    required=True,
    help="path,label[,time_start,time_end] CSV of the test videos (paths relative to the "
    "CSV; with times, that stretch is classified), or an official Kinetics CSV "
    "(label,youtube_id,time_start,time_end,split).",
)
@_library_option
@click.option(
    "--templates",
    default="kinetics",
    show_default=True,
    help="Prompt templates: kinetics, simple, or a file with one template ({}) per line.",
)
@click.option(
    "--views",
    type=click.IntRange(1, 32),
    default=1,
    show_default=True,
    help="Temporal views per video whose class probabilities are averaged (3: multi-view).",
)
@click.option(
    "--classes-file",
    type=_file,
    default=None,
    help="All class labels, one per line [the distinct labels of --labels].",
)
@click.option(
    "--few-shot",
    type=_file,
    default=None,
    help="path,label[,time_start,time_end] CSV of example videos for training-free few-shot "
    "adaptation.",
)
@click.option(
    "--few-shot-method",
    type=click.Choice(["tip-adapter", "gda"]),
    default="tip-adapter",
    show_default=True,
)
@click.option(
    "--descriptions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help='Class descriptions, JSON {"label": ["description", ...]}: extra prompts of each class, '
    "used as they are (vidlens synth writes annotations/class_descriptions.json).",
)
@pooling_option
@click.option("--out", "out_dir", type=_folder, default=None, help="Write metrics.json here.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@_report_option
@_device_option
def classify_command(
    labels_csv: Path,
    library: Path,
    templates: str,
    views: int,
    classes_file: Path | None,
    few_shot: Path | None,
    few_shot_method: str,
    descriptions: Path | None,
    pooling: str,
    out_dir: Path | None,
    as_json: bool,
    report_format: str | None,
    device: str | None,
) -> None:
    """Zero-shot classification accuracy from a library (Kinetics style): top-1, top-5.

    Class names are the labels with underscores read as spaces. Videos in --labels are matched
    to library videos by absolute path, then by file stem; a Kinetics youtube_id matches the
    trimmed clip ID_START_END (as the Kinetics downloaders name them), else the full video ID,
    whose time_start..time_end is classified.
    """
    from .library_eval import run_classification

    try:
        record = run_classification(
            labels_csv,
            library,
            templates=templates,
            views=views,
            classes=_read_lines(classes_file) if classes_file else None,
            few_shot=few_shot,
            few_shot_method=few_shot_method,
            descriptions=descriptions,
            pooling=pooling,
            out_dir=out_dir,
            report_format=report_format,
            encoder_config=_encoder_config(device),
        )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(record, indent=2, ensure_ascii=False))
    else:
        m = record["metrics"]
        segments = record["settings"]["segments"]
        stretches = f", {segments} of them labelled stretches" if segments else ""
        click.echo(
            f"Classification ({m['n_videos']} videos{stretches}, {m['n_classes']} classes, "
            f"{m['n_views']} view(s), templates {record['settings']['templates']['source']})"
        )
        for key in ("top1", "top5", "mean_class_accuracy"):
            click.echo(f"  {key:<20} {m[key]:7.2f}")
    if out_dir is not None:
        click.echo(f"wrote {out_dir / 'metrics.json'}", err=True)


def _read_lines(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise click.ClickException(f"cannot read {path}: {err}") from err
    out = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not out:
        raise click.ClickException(f"{path} lists no classes; give one label per line")
    return out
