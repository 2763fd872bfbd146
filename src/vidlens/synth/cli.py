"""``vidlens synth``: write a synthetic video set with exact annotations."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import click

from .world import SPLITS, WorldConfig

__all__ = ["synth_command"]


@click.command("synth")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write videos/ and annotations/ into.",
)
@click.option("--count", type=click.IntRange(min=0), required=True, help="Number of videos.")
@click.option("--seed", type=int, default=0, show_default=True, help="World seed.")
@click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="train",
    show_default=True,
    help="compositional: only (colour, shape, action) triples never in train.",
)
@click.option("--width", type=int, default=None, help="Frame width (default 128).")
@click.option("--height", type=int, default=None, help="Frame height (default 128).")
@click.option("--fps", type=float, default=None, help="Frames per second (default 8).")
@click.option("--min-duration", type=int, default=None, help="Shortest video, s (default 10).")
@click.option("--max-duration", type=int, default=None, help="Longest video, s (default 20).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Rendering processes.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def synth_command(
    out: Path,
    count: int,
    seed: int,
    split: str,
    width: int | None,
    height: int | None,
    fps: float | None,
    min_duration: int | None,
    max_duration: int | None,
    workers: int,
    as_json: bool,
) -> None:
    """Render COUNT synthetic videos with ground truth: OUT/videos/*.mp4 and
    OUT/annotations/{moments.jsonl,retrieval.csv,classes.csv,world.jsonl}."""
    from ..errors import VidlensError
    from .generate import generate

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "width": width,
            "height": height,
            "fps": fps,
            "min_duration_s": min_duration,
            "max_duration_s": max_duration,
        }.items()
        if v is not None
    }
    try:
        cfg = dataclasses.replace(WorldConfig(), **overrides)
        with click.progressbar(length=count, label="rendering", file=None) as bar:
            last = [0]

            def progress(done: int, total: int) -> None:
                bar.update(done - last[0])
                last[0] = done

            report = generate(
                out,
                count=count,
                seed=seed,
                split=split,
                config=cfg,
                workers=workers,
                progress=progress,
            )
    except VidlensError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(
            f"{report.count} videos in {out} ({report.rendered} rendered, "
            f"{report.videos_per_s} videos/s); annotations in {out / 'annotations'}"
        )
