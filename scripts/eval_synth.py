#!/usr/bin/env python
"""Reproduce the README's vidlens-tiny numbers on the synthetic world with one command.

    .venv/bin/python scripts/eval_synth.py                 # test + compositional, 500 each
    .venv/bin/python scripts/eval_synth.py --count 40 --splits test   # a quick subset

Generates the split(s) with `vidlens synth` (seed 0, skipped when already there), indexes each
into a library with the encoder (default vidlens-tiny) and measures retrieval, moments,
highlights, zero-shot action recognition and motion direction through the engine
(vidlens.synth.benchmark). Prints one JSON object and writes it to BUILD/eval-synth.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DEFAULT_COUNTS = {"test": 500, "compositional": 500}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--build", default="build", help="folder for data, libraries and results")
    ap.add_argument("--splits", nargs="+", default=["test", "compositional"])
    ap.add_argument("--count", type=int, default=None, help="videos per split (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--encoder", default="vidlens-tiny")
    ap.add_argument(
        "--checkpoint",
        default=None,
        help="a `vidlens train` export (DIR/model.safetensors) to measure instead of the shipped "
        "model, with its temporal head",
    )
    ap.add_argument("--fps", type=float, default=1.0, help="engine sampling rate")
    ap.add_argument("--workers", type=int, default=1, help="decode / render processes")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: on a shared CPU more threads thrash)",
    )
    ap.add_argument("--out", default=None, help="results JSON (default BUILD/eval-synth.json)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)

    from vidlens.encoders import list_encoders, register_encoder
    from vidlens.encoders.tiny import create_tiny_encoder, load_temporal_head
    from vidlens.synth.benchmark import evaluate_encoder_on_synth
    from vidlens.synth.generate import generate

    if "vidlens-tiny" not in list_encoders():  # entry point not installed yet (editable checkout)
        register_encoder("vidlens-tiny", create_tiny_encoder)
    head = None
    if args.checkpoint:
        args.encoder = f"openclip:vidlens-tiny//{Path(args.checkpoint).resolve()}"
        head = load_temporal_head(args.checkpoint)
    elif args.encoder == "vidlens-tiny":
        head = load_temporal_head()
    build = Path(args.build)
    results = {}
    for split in args.splits:
        count = args.count or DEFAULT_COUNTS.get(split, 200)
        data = build / "synth" / f"{split}-{count}-seed{args.seed}"
        generate(data, count=count, seed=args.seed, split=split, workers=args.workers)
        tag = args.encoder.replace(":", "_").replace("/", "_")
        if args.checkpoint:
            digest = hashlib.sha256(Path(args.checkpoint).read_bytes()).hexdigest()[:12]
            tag = f"checkpoint-{digest}"
        lib = build / "eval-libraries" / f"{tag}-{split}-{count}-seed{args.seed}-fps{args.fps:g}"
        results[split] = evaluate_encoder_on_synth(
            data, lib, encoder=args.encoder, fps=args.fps, temporal_head=head, workers=args.workers
        )
        print(f"{split}: {json.dumps(results[split])}", file=sys.stderr, flush=True)
    if "test" in results and "compositional" in results:
        drop = {}
        for k in ("t2v_R@1", "moment_R1@0.5", "action_top1"):
            drop[k] = round(results["test"][k] - results["compositional"][k], 4)
        results["compositional_drop"] = drop
    out = Path(args.out) if args.out else build / "eval-synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
