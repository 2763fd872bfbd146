"""``vidlens train``: contrastive video-text training on a synthetic set."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

__all__ = ["train_command"]


@click.command("train")
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Synthetic training set (vidlens synth --out DIR).",
)
@click.option(
    "--val-data",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Synthetic validation set (R@1 after every epoch).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder (checkpoints, log, exported model).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON or TOML file of TrainConfig fields; flags override it.",
)
@click.option(
    "--model",
    default=None,
    help="vidlens-tiny (default), an open_clip architecture, or a model_cfg JSON.",
)
@click.option("--init", default=None, help="open_clip checkpoint to start from.")
@click.option("--epochs", type=int, default=None)
@click.option("--max-steps", type=int, default=None)
@click.option("--batch-size", type=int, default=None, help="Clips per step.")
@click.option("--frames-per-clip", type=int, default=None)
@click.option("--lr", type=float, default=None)
@click.option("--head-layers", type=int, default=None, help="Temporal transformer layers (0: off).")
@click.option("--limit-videos", type=int, default=None)
@click.option("--cache-dir", default=None, help="Decoded-frame cache (default OUT/cache).")
@click.option("--seed", type=int, default=None)
@click.option("--device", default=None, help="cpu (default) or cuda.")
@click.option("--threads", type=int, default=None, help="torch CPU threads.")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default=None,
    help="bf16: the towers under bfloat16 autocast (1.45x faster steps on this AMX CPU).",
)
@click.option("--resume", is_flag=True, help="Continue from OUT/state.safetensors.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object at the end.")
def train_command(config_file: Path | None, resume: bool, as_json: bool, **flags: object) -> None:
    """Train a CLIP-family model on video clips and captions (frame + clip contrastive losses);
    writes OUT/model.safetensors (+ .json config, temporal head) loadable as
    openclip:vidlens//OUT/model.safetensors."""
    from ..errors import VidlensError
    from .trainer import load_train_config, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    overrides = {k: (str(v) if isinstance(v, Path) else v) for k, v in flags.items()}
    try:
        cfg = load_train_config(config_file, **overrides)
        result = train(cfg, resume=resume)
    except VidlensError as exc:
        raise click.ClickException(str(exc)) from exc
    summary = {
        "out_dir": result.out_dir,
        "model": result.model_path,
        "steps": result.steps,
        "seconds": result.seconds,
        "final_loss": round(result.final_loss, 5),
        "last_epoch": result.history[-1] if result.history else None,
    }
    click.echo(
        json.dumps(summary) if as_json else "\n".join(f"{k}: {v}" for k, v in summary.items())
    )
