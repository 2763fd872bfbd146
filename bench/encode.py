"""Benchmark the open_clip encoder: float32 vs low-precision weights, text padding trimming.

Runs on random ViT-B-32 weights (seeded, nothing is downloaded), so the speed figures are those of
the real architecture; the precision figures are measured on random weights, which makes them a
sanity check rather than the deviation of a trained model.

    .venv/bin/python bench/encode.py                 # CPU
    .venv/bin/python bench/encode.py --device cuda   # on a GPU machine

Every ratio is measured in one run on the same input (ours vs the baseline), best of
``--repeats`` to damp the noise of a shared machine.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
import time
from collections.abc import Callable

import _common as C
import numpy as np

from vidlens.encoders import EncoderConfig
from vidlens.encoders.openclip import OpenClipEncoder, _auto_low_precision, _fingerprint

QUERIES = [
    "a dog",
    "a person riding a bicycle",
    "two people talking in a kitchen",
    "a red car driving along a coastal road at sunset",
    "a close-up of hands chopping vegetables on a wooden board",
    "children playing football in a park while parents watch from a bench",
    "fireworks",
    "a man in a blue jacket opens the door and walks into a crowded room full of people",
]


def smooth_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Deterministic smooth RGB frames, uint8 ``(n, height, width, 3)``."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 256, (n, 6, 8, 3)).astype(np.float32)
    ys = np.linspace(0, 5, height)[:, None]
    xs = np.linspace(0, 7, width)[None, :]
    y0, x0 = np.floor(ys).astype(int), np.floor(xs).astype(int)
    y1, x1 = np.minimum(y0 + 1, 5), np.minimum(x0 + 1, 7)
    fy, fx = (ys - y0)[..., None], (xs - x0)[..., None]
    out = np.empty((n, height, width, 3), dtype=np.uint8)
    for i in range(n):
        g = low[i]
        top = g[y0, x0] * (1 - fx) + g[y0, x1] * fx
        bottom = g[y1, x0] * (1 - fx) + g[y1, x1] * fx
        out[i] = np.clip(top * (1 - fy) + bottom * fy, 0, 255).astype(np.uint8)
    return out


def best_rates(jobs: dict[str, Callable[[], object]], items: int, repeats: int) -> dict[str, float]:
    """Items per second of each job, best of ``repeats`` (:func:`_common.best_seconds`)."""
    return {name: items / s for name, s in C.best_seconds(jobs, repeats).items()}


def set_trim(encoder: OpenClipEncoder, trim: bool, texts: list[str]) -> Callable[[], object]:
    def job() -> object:
        encoder.trim_text_padding = trim
        return encoder.encode_texts(texts)

    return job


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return float((a * b).sum(axis=1).min())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="ViT-B-32")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--low-dtype", default="bfloat16", choices=["bfloat16", "float16"])
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--image-batches", type=int, default=1, help="batches per timing")
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    print(f"# {args.arch} random weights, device {args.device}, batch {args.batch_size}")
    print(
        f"# torch {torch.__version__}, {torch.get_num_threads()} threads, cpu capability "
        f"{torch.backends.cpu.get_cpu_capability()}, {os.cpu_count()} cores visible"
    )
    if args.device.startswith("cuda"):
        print(f"# gpu {torch.cuda.get_device_name(0)}")
    else:
        print("# NOTE: the CPU is shared with other processes; figures are noisy")

    encoders: dict[str, OpenClipEncoder] = {}
    for dtype in ("float32", args.low_dtype):
        started = time.perf_counter()
        config = EncoderConfig(device=args.device, dtype=dtype, batch_size=args.batch_size)
        encoders[dtype] = OpenClipEncoder(f"{args.arch}/random", config)
        print(f"load {dtype:9s}: {time.perf_counter() - started:5.2f} s")
    fp32, low = encoders["float32"], encoders[args.low_dtype]
    if fp32.fingerprint != low.fingerprint:
        raise SystemExit("the same seed must give the same weights")
    state = fp32._model.state_dict()  # the float32 weights
    started = time.perf_counter()
    _fingerprint(fp32._model, {"arch": args.arch})
    print(
        f"fingerprint: {time.perf_counter() - started:5.2f} s for "
        f"{sum(t.numel() * t.element_size() for t in state.values()) / 1e6:.0f} MB of weights"
    )
    auto = _auto_low_precision(torch.device(args.device)) or "float32"
    print(f"dtype=auto picks {auto} here (kept only if the load-time check passes)")

    size = fp32.image_size
    frames = smooth_frames(args.batch_size * args.image_batches, size, size)
    fps = best_rates(
        {d: functools.partial(e.encode_images, frames) for d, e in encoders.items()},
        len(frames),
        args.repeats,
    )
    dev_img = min_cosine(fp32.encode_images(frames), low.encode_images(frames))
    print(f"images {size}x{size} float32  : {fps['float32']:7.1f} frames/s")
    print(f"images {size}x{size} {args.low_dtype:9s}: {fps[args.low_dtype]:7.1f} frames/s")
    print(f"  ratio {args.low_dtype}/float32: {fps[args.low_dtype] / fps['float32']:5.2f}x")

    hd = smooth_frames(args.batch_size, 720, 1280, seed=1)
    pre = best_rates({"pre": functools.partial(low._to_model_input, hd)}, len(hd), args.repeats)
    print(f"preprocess 1280x720 -> {size}: {pre['pre']:7.1f} frames/s (resize+crop+normalise)")

    texts = [QUERIES[i % len(QUERIES)] + f" {i}" for i in range(args.texts)]
    dev_txt = min_cosine(fp32.encode_texts(texts), low.encode_texts(texts))
    for dtype, enc in encoders.items():
        rates = best_rates(
            {"full": set_trim(enc, False, texts), "trimmed": set_trim(enc, True, texts)},
            len(texts),
            args.repeats,
        )
        print(
            f"texts {dtype:9s}: full context {rates['full']:7.1f} texts/s, trimmed "
            f"{rates['trimmed']:7.1f} texts/s, ratio {rates['trimmed'] / rates['full']:5.2f}x "
            f"(trim check deviation {enc.text_trim_error:.1e})"
        )
    print(
        f"{args.low_dtype} vs float32: min cosine images {dev_img:.5f}, texts {dev_txt:.5f}; "
        f"max deviation {1 - min(dev_img, dev_txt):.2e} (limit for auto: 1e-2)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
