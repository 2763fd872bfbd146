"""``vidlens classify``: zero- or few-shot labels for indexed videos (or a stretch of them).

A click command the main CLI mounts (``main.add_command(classify)``). It parses options, calls
:mod:`vidlens.recognition` and formats the answer; library errors become one-line CLI errors.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from .errors import ConfigError, QueryError, VidlensError

__all__ = ["classify"]

logger = logging.getLogger(__name__)


def _parse_labels(labels: str | None, labels_file: Path | None) -> list[str]:
    if (labels is None) == (labels_file is None):
        raise ConfigError('give the classes with --labels "a,b,c" or --labels-file FILE (not both)')
    if labels is not None:
        items = [x.strip() for x in labels.split(",")]
        source = "--labels"
    else:
        assert labels_file is not None  # for mypy: checked above
        try:
            lines = labels_file.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read --labels-file {labels_file}: {err}") from err
        items = [x.strip() for x in lines if not x.lstrip().startswith("#")]
        source = str(labels_file)
    items = [x for x in items if x]
    if len(items) < 2:
        raise ConfigError(f"{source}: give at least two class labels, e.g. --labels 'cat,dog'")
    return items


# Shared with `vidlens eval classify`.
pooling_option = click.option(
    "--pooling",
    type=click.Choice(["auto", "mean", "temporal"]),
    default="auto",
    show_default=True,
    help="How a video becomes one embedding: the mean of its frames, or the encoder's temporal "
    "head over them in time order (vidlens-tiny and `vidlens train` exports have one; auto: "
    "the head when there is one).",
)


@click.command("classify")
@click.argument("videos", nargs=-1, required=True)
@click.option("--labels", default=None, help='Comma-separated class labels, e.g. "cat,dog".')
@click.option(
    "--labels-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Class labels, one per line.",
)
@click.option(
    "--templates",
    default="simple",
    show_default=True,
    help="Prompt templates: simple, kinetics, or a file with one template ({}) per line.",
)
@click.option(
    "--descriptions",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help='Class descriptions, JSON {"label": ["description", ...]}.',
)
@click.option(
    "--window",
    type=(float, float),
    default=None,
    metavar="START END",
    help="Classify only these seconds of each video.",
)
@click.option(
    "--few-shot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="path,label[,time_start,time_end] CSV of indexed example videos (training-free few-shot).",
)
@click.option(
    "--few-shot-method",
    type=click.Choice(["tip-adapter", "gda"]),
    default="tip-adapter",
    show_default=True,
)
@click.option("--alpha", type=float, default=None, help="Few-shot weight [1.0].")
@click.option("--beta", type=float, default=None, help="Tip-Adapter sharpness [5.5].")
@click.option("--top-k", type=click.IntRange(1, 1000), default=5, show_default=True)
@pooling_option
@click.option(
    "--library",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="VIDLENS_LIBRARY",
    default="vidlens-library",
    show_default=True,
    help="Library folder (env VIDLENS_LIBRARY).",
)
@click.option("--device", default=None, help="Torch device for the text encoder (cpu, cuda).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def classify(
    videos: tuple[str, ...],
    labels: str | None,
    labels_file: Path | None,
    templates: str,
    descriptions: Path | None,
    window: tuple[float, float] | None,
    few_shot: Path | None,
    few_shot_method: str,
    alpha: float | None,
    beta: float | None,
    top_k: int,
    pooling: str,
    library: Path,
    device: str | None,
    as_json: bool,
) -> None:
    """Which of the --labels each VIDEO (path or id) shows, with probabilities.

    Zero-shot by default (CLIP prompt ensembles over pooled frame embeddings); with
    --few-shot, labelled example videos adapt it without training (Tip-Adapter or GDA).
    """
    try:
        out = _classify(
            videos,
            _parse_labels(labels, labels_file),
            templates=templates,
            descriptions=descriptions,
            window=window,
            few_shot=few_shot,
            few_shot_method=few_shot_method,
            settings={k: v for k, v in (("alpha", alpha), ("beta", beta)) if v is not None},
            top_k=top_k,
            pooling=pooling,
            library=library,
            device=device,
        )
    except VidlensError as err:
        raise click.ClickException(str(err)) from err
    if as_json:
        click.echo(json.dumps(out, indent=2, ensure_ascii=False))
        return
    for res in out["results"]:
        where = f" [{res['window'][0]:g}-{res['window'][1]:g} s]" if res["window"] else ""
        best = ", ".join(f"{p['label']} {p['probability']:.3f}" for p in res["predictions"])
        click.echo(f"{res['path']}{where}: {best}")


def _classify(
    videos: tuple[str, ...],
    labels: list[str],
    *,
    templates: str,
    descriptions: Path | None,
    window: tuple[float, float] | None,
    few_shot: Path | None,
    few_shot_method: str,
    settings: dict[str, float],
    top_k: int,
    library: Path,
    device: str | None,
    pooling: str = "auto",
) -> dict[str, Any]:
    from .encoders import EncoderConfig
    from .library import Library
    from .recognition import (
        Classifier,
        ZeroShotClassifier,
        create_few_shot,
        load_descriptions,
        match_labelled_videos,
    )

    if settings and few_shot is None:
        raise ConfigError("--alpha and --beta tune few-shot adaptation: add --few-shot FILE.csv")
    enc = EncoderConfig(device=device) if device else None
    with Library.open(library, readonly=True, encoder_config=enc) as lib:
        records = []
        for ref in videos:
            try:
                records.append(lib.video(ref))
            except QueryError as err:
                raise QueryError(
                    f"{err}, or index it first: vidlens index {ref} --library {lib.root}"
                ) from err
        zero_shot = ZeroShotClassifier(
            lib,
            labels,
            templates=templates,
            descriptions=load_descriptions(descriptions) if descriptions else None,
            pooling=pooling,
        )
        classifier: Classifier = zero_shot
        if few_shot is not None:
            rows = match_labelled_videos(lib, few_shot)
            classifier = create_few_shot(
                zero_shot,
                [(rec.id, label) for rec, label, _ in rows],
                few_shot_method,
                windows=[window for _, _, window in rows],
                **settings,
            )
        if window is not None:
            for rec in records:
                if window[0] >= rec.duration_s:
                    raise QueryError(
                        f"--window {window[0]:g} {window[1]:g} starts after the end of "
                        f"{rec.path} ({rec.duration_s:.2f} s long); give a window inside it"
                    )
        results = []
        for rec in records:
            ranked = classifier.classify(rec.id, window, top_k=top_k)
            results.append(
                {
                    "video_id": rec.id,
                    "path": rec.path,
                    "window": list(window) if window else None,
                    "predictions": [{"label": lab, "probability": p} for lab, p in ranked],
                }
            )
        return {"classifier": classifier.describe(), "results": results}
