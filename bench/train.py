"""Benchmark a training step of the shipped vidlens-tiny recipe: float32 vs bfloat16 towers.

Builds the model exactly as ``vidlens train`` does (``scripts/train_tiny.json``: architecture,
losses, batch of 64 clips x 4 frames plus 64 action frames) and times full steps (loss, backward,
gradient clipping, AdamW) on real batches of a small synthetic set rendered here, with
``precision`` fp32 and bf16 taking turns so that a burst of load hits both alike. Also times the
image tower alone (forward + backward) with contiguous (NCHW) vs channels-last weights and frames,
the layout the trainer uses.

    .venv/bin/python bench/train.py            # the shipped recipe (~3 min)
    .venv/bin/python bench/train.py --smoke    # tiny batch, a few steps (tests/test_bench_smoke.py)
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import sys
from typing import Any

import _common as C

RECIPE = C.REPO_ROOT / "scripts" / "train_tiny.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, default=80, help="synthetic videos to draw batches from")
    ap.add_argument("--steps", type=int, default=3, help="steps per timed round")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds (best is kept)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the recipe's 2)")
    ap.add_argument("--smoke", action="store_true", help="tiny batch, one step per round")
    ap.add_argument("--out-dir", default=None, help="folder for figures and media (bench/out)")
    ap.add_argument("--out", default="train", help=C.OUT_HELP)
    args = ap.parse_args(argv)
    if args.out_dir:
        C.set_out_dir(args.out_dir)
    C.check_out(args.out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.ERROR)
    import torch

    from vidlens.synth.generate import generate
    from vidlens.train.data import ClipSampler, build_cache
    from vidlens.train.trainer import batch_loss, build_model, load_train_config

    torch.set_num_threads(args.threads)
    cpu = torch.device("cpu")
    overrides: dict[str, Any] = {"data": "unused", "out_dir": "unused", "threads": args.threads}
    if args.smoke:
        args.videos, args.steps, args.repeats = 8, 1, 1
        args.out = "train-smoke" if args.out == "train" else args.out
        overrides.update(batch_size=8, action_frames=8)
    recipe = load_train_config(RECIPE, **overrides)
    print(f"# vidlens training-step benchmark, {C.load_note()}; figures are noisy on a shared box")
    media = C.MEDIA_DIR / f"train-synth-{args.videos}-seed0"
    generate(media, count=args.videos, seed=0, split="train", workers=1)
    _, setup = build_model(recipe, cpu)
    image_size = int(setup.model_cfg["vision_cfg"]["image_size"])
    cache = build_cache(media, media / "cache", image_size=image_size, fps=recipe.cache_fps)
    sampler = ClipSampler(cache, batch_size=recipe.batch_size,
                          frames_per_clip=recipe.frames_per_clip, seed=0,
                          hard_negatives=recipe.hard_negatives,
                          generic_captions=recipe.generic_captions,
                          action_frames=recipe.action_frames)  # fmt: skip
    batches = [b for _, b in zip(range(args.steps), sampler.epoch(0), strict=False)]
    if len(batches) < args.steps:
        sys.exit(f"{args.videos} videos make {len(batches)} batches; ask for more --videos")
    print(
        f"# {recipe.model} ({image_size} px), batch {recipe.batch_size} clips x "
        f"{recipe.frames_per_clip} frames + {recipe.action_frames} action frames, "
        f"{len(batches)} steps per round, best of {args.repeats}, {args.threads} threads"
    )

    def trainer_step(precision: str) -> Any:
        cfg = dataclasses.replace(recipe, precision=precision)
        model, s = build_model(cfg, cpu)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)

        def job() -> None:
            for batch in batches:
                loss = batch_loss(model, batch, cfg, s.tokenizer, s.mean, s.std, cpu)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()

        return job

    results: dict[str, Any] = {"machine": C.machine_info(), "args": vars(args)}
    steps = C.best_seconds({p: trainer_step(p) for p in ("fp32", "bf16")}, args.repeats)
    per_step = {p: t / len(batches) for p, t in steps.items()}
    for p, t in per_step.items():
        print(f"step ({p:4s}): {t:.3f} s  ({recipe.batch_size / t:.1f} clips/s)")
    print(C.ratio_line("train step bf16 speed-up over fp32", per_step["fp32"] / per_step["bf16"],
                       ">1", "same batches, same model"))  # fmt: skip
    results["step_s"] = {p: round(t, 4) for p, t in per_step.items()}

    # the image tower alone: NCHW vs channels-last, float32
    model, _ = build_model(recipe, cpu)
    n = len(batches[0].frames.reshape(-1, image_size, image_size, 3))
    x = torch.randn(n, 3, image_size, image_size)
    towers = {
        "contiguous": (copy.deepcopy(model.clip.visual).to(memory_format=torch.contiguous_format),
                       x.contiguous()),
        "channels_last": (model.clip.visual, x.contiguous(memory_format=torch.channels_last)),
    }  # fmt: skip

    def tower(name: str) -> Any:
        net, inp = towers[name]
        return lambda: net(inp).float().sum().backward()

    tower_s = C.best_seconds({k: tower(k) for k in towers}, args.repeats)
    for k, t in tower_s.items():
        print(f"image tower fwd+bwd, {n} frames, fp32 {k:13s}: {t:.3f} s")
    print(C.ratio_line("image tower channels-last speed-up", tower_s["contiguous"]
                       / tower_s["channels_last"], ">1", "fp32"))  # fmt: skip
    results["image_tower_s"] = {k: round(t, 4) for k, t in tower_s.items()}
    return C.finish(args.out, results)


if __name__ == "__main__":
    sys.exit(main())
