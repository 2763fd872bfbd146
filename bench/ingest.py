"""Benchmark ingest: decode-only, encode-only, the full pipeline and a naive sequential baseline.

On generated H.264 media (a long 1280x720 30 fps video and a folder of short mixed-size clips),
with the ViT-B-32 encoder on random weights (the cost of real weights is the same; nothing is
downloaded), sampling 1 frame per second:

- decode-only: :class:`vidlens.media.FrameSampler` over the files in this process (and, for a
  folder, in as many spawned processes as the pipeline uses); for the long video also with one
  decoder thread, and cut into time ranges the way ingest cuts a long video, decoded by
  ``--split-workers`` spawned processes at once (one and FFmpeg's own choice of threads each),
  checked to give the very frames of one pass;
- encode-only: ``encoder.encode_images`` on the frames decode-only produced (same shapes);
- pipeline: ``Library.index`` into a fresh library, in a fresh child process (so its peak memory
  is that of a real ``vidlens index``: parent + decode workers); for the long video also with
  ``--split-workers`` workers, which cut it into time ranges;
- naive: the same work done one file at a time in one process with no overlap (decode all
  sampled frames, thumbnail them, encode them, commit), also in a fresh child process.

Every ratio is measured in one run on the same input. CPU seconds are printed beside wall
seconds: on a shared machine ``video-s per CPU-s`` is the figure that does not depend on the load.

    .venv/bin/python bench/ingest.py                  # 10-minute video + 20 clips, CPU
    .venv/bin/python bench/ingest.py --device cuda    # encoder on CUDA (bf16)
    .venv/bin/python bench/ingest.py --device cuda --decode-device cuda  # and NVDEC decoding
    .venv/bin/python bench/ingest.py --smoke          # tiny sizes (the smoke test)
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

DEFAULT_ENCODER = "openclip:ViT-B-32/random"
SMOKE_ENCODER = "colour-test"
CLIP_SIZES = ((1280, 720), (1280, 720), (960, 540), (640, 360))  # cycled: "720p or mixed"
GOALS = {"pipeline_vs_stages": ">=0.85", "pipeline_vs_naive": ">=1.5", "video_s_per_s": ">=40"}


# ----------------------------------------------------------------------------- media
def clip_folder(n: int, min_s: float, max_s: float, *, small: bool = False, seed: int = 0) -> Path:
    """``n`` clips of ``min_s``..``max_s`` seconds in mixed sizes, generated once and cached."""
    folder = C.MEDIA_DIR / f"clips-{n}-{min_s:g}-{max_s:g}s{'-small' if small else ''}-seed{seed}"
    rng = np.random.default_rng(seed)
    durations = rng.uniform(min_s, max_s, n).round(1)
    for i, seconds in enumerate(durations):
        size = (160, 96) if small else CLIP_SIZES[i % len(CLIP_SIZES)]
        C.benchmark_video(float(seconds), size, seed=seed + i + 1, folder=folder)
    return folder


def video_files(paths: list[Path]) -> list[Path]:
    from vidlens.ingest import discover

    files, _ = discover(paths)
    return files


# ----------------------------------------------------------------------------- stages
def make_encoder(args: argparse.Namespace) -> Any:
    from vidlens.encoders import EncoderConfig, create_encoder

    dtype = args.dtype
    if dtype == "auto" and args.device.startswith("cuda"):
        dtype = "bfloat16"
    cfg = EncoderConfig(device=args.device, dtype=dtype, batch_size=args.batch_size)
    return create_encoder(args.encoder, cfg)


def decode_only(
    files: list[Path], threads: int, device: str = "cpu"
) -> tuple[dict[str, Any], list[np.ndarray], list[float]]:
    """FrameSampler over ``files`` in this process; returns figures, each file's frames and the
    frame times of all files."""
    from vidlens.config import SamplingConfig
    from vidlens.media import FrameSampler, probe_video

    sampling = SamplingConfig(fps=1.0)
    arrays: list[np.ndarray] = []
    times: list[float] = []
    seconds = 0.0
    frames = decoded = 0
    with C.measure() as m:
        for f in files:
            info = probe_video(f)
            sampler = FrameSampler(f, sampling, info=info, threads=threads, device=device)
            rgbs = []
            for fr in sampler:
                rgbs.append(fr.rgb)
                times.append(fr.time_s)
            arrays.append(np.stack(rgbs))
            seconds += info.duration_s
            frames += len(rgbs)
            decoded += sampler.stats.frames_decoded
    return _rates(m, seconds, frames) | {"frames_decoded": decoded}, arrays, times


def _decode_count(path: str, threads: int, device: str) -> tuple[float, int, float]:
    """Worker of the decode pool: decode one file; returns (video seconds, frames, CPU seconds)."""
    from vidlens.config import SamplingConfig
    from vidlens.media import FrameSampler, probe_video

    cpu0 = time.process_time()  # all threads of this process (FFmpeg's included)
    info = probe_video(path)
    sampler = FrameSampler(path, SamplingConfig(fps=1.0), info=info, threads=threads, device=device)
    n = sum(1 for _ in sampler)
    return info.duration_s, n, time.process_time() - cpu0


def decode_pool(files: list[Path], workers: int, threads: int, device: str) -> dict[str, Any]:
    """Decode-only in ``workers`` spawned processes (the decode capacity the pipeline has)."""
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers) as pool:
        pool.map(_warm, range(workers), chunksize=1)  # start-up and imports outside the timing
        with C.measure() as m:
            results = pool.starmap(
                _decode_count, [(str(f), threads, device) for f in files], chunksize=1
            )
    m.cpu_s = sum(r[2] for r in results)  # the pool's processes are not waited for yet
    seconds = sum(r[0] for r in results)
    frames = sum(r[1] for r in results)
    return _rates(m, seconds, frames) | {"workers": workers}


def _decode_span(
    path: str, span: tuple[float, float], threads: int, device: str
) -> tuple[list[float], int, float]:
    """Worker of the split decode: one time range; returns (frame times, decoded, CPU seconds)."""
    from vidlens.config import SamplingConfig
    from vidlens.media import FrameSampler, probe_video

    cpu0 = time.process_time()
    info = probe_video(path)
    sampler = FrameSampler(
        path, SamplingConfig(fps=1.0), info=info, threads=threads, span=span, device=device
    )
    times = [fr.time_s for fr in sampler]
    return times, sampler.stats.frames_decoded, time.process_time() - cpu0


def decode_split(
    path: Path, workers: int, threads: int, one_pass: list[float], device: str
) -> dict[str, Any]:
    """Decode-only of one file cut into time ranges as ingest cuts it, in ``workers`` processes.

    The cutting (probe, keyframe index) is timed too; ``one_pass`` (the frame times of a whole
    pass) is what the ranges must give together.
    """
    from vidlens.config import SamplingConfig
    from vidlens.ingest import IngestConfig, _batch_window_s, _span_count
    from vidlens.media import probe_video
    from vidlens.spans import keyframe_spans

    ctx = mp.get_context("spawn")
    sampling, cfg = SamplingConfig(fps=1.0), IngestConfig(workers=workers)
    with ctx.Pool(workers) as pool:
        pool.map(_warm, range(workers), chunksize=1)
        with C.measure() as m:
            info = probe_video(path)
            count = _span_count(info.duration_s, sampling, cfg)
            window_s = _batch_window_s(info.duration_s, sampling, cfg)
            spans = keyframe_spans(path, count, info=info, grid_s=window_s)
            results = pool.starmap(
                _decode_span, [(str(path), span, threads, device) for span in spans], chunksize=1
            )
    m.cpu_s += sum(r[2] for r in results)  # the pool's processes are not waited for yet
    times = [t for r in results for t in r[0]]
    out = _rates(m, info.duration_s, len(times)) | {
        "workers": workers,
        "threads": threads,
        "spans": [[a, b if b != float("inf") else None] for a, b in spans],
        "frames_decoded": sum(r[1] for r in results),
        "same_frames_as_one_pass": times == one_pass,
    }
    return out


def _warm(_: int) -> None:
    import vidlens.media  # noqa: F401

    time.sleep(0.2)  # long enough that every worker takes one


def encode_only(encoder: Any, arrays: list[np.ndarray], seconds: float) -> dict[str, Any]:
    """``encode_images`` over the decoded frames, as the encoder batches them."""
    encoder.encode_images(arrays[0][: min(len(arrays[0]), 8)])  # warm-up: kernels, allocator
    frames = sum(len(a) for a in arrays)
    with C.measure() as m:
        for a in arrays:
            encoder.encode_images(a)
    return _rates(m, seconds, frames)


def _rates(m: C.Measure, seconds: float, frames: int) -> dict[str, Any]:
    return m.to_dict() | {
        "video_s": round(seconds, 3),
        "frames": frames,
        "video_s_per_s": round(seconds / m.wall_s, 3) if m.wall_s else 0.0,
        "frames_per_s": round(frames / m.wall_s, 3) if m.wall_s else 0.0,
        "cpu_s_per_video_s": round(m.cpu_s / seconds, 5) if seconds else 0.0,
    }


def _shipped_workers(args: argparse.Namespace) -> int:
    """The decode workers ``Library.index`` uses with the run's ``--workers``."""
    from vidlens.ingest import IngestConfig

    return IngestConfig(workers=args.workers).resolved_workers()


# ----------------------------------------------------------------------------- child runs
def run_child(mode: str, paths: list[Path], args: argparse.Namespace) -> dict[str, Any]:
    """Run ``mode`` (pipeline or naive) in a fresh interpreter; returns its JSON figures."""
    spec = {
        "mode": mode,
        "paths": [str(p) for p in paths],
        "encoder": args.encoder,
        "device": args.device,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "workers": args.workers,
        "decode_threads": args.decode_threads,
        "decode_device": args.decode_device,
        "frames_per_message": args.frames_per_message,
        "torch_threads": args.torch_threads,
    }
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{mode} child failed with exit code {proc.returncode}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def child_main(spec: dict[str, Any]) -> int:
    """Inside the child: load the encoder, then index ``paths`` into a fresh temp library."""
    logging.basicConfig(level=logging.ERROR)
    if spec.get("torch_threads"):
        import torch

        torch.set_num_threads(int(spec["torch_threads"]))
    args = argparse.Namespace(**{k: spec[k] for k in ("encoder", "device", "dtype", "batch_size")})
    encoder = make_encoder(args)
    from vidlens.config import SamplingConfig
    from vidlens.ingest import IngestConfig
    from vidlens.library import Library

    paths = [Path(p) for p in spec["paths"]]
    with tempfile.TemporaryDirectory(prefix="vidlens-bench-") as tmp:
        lib = Library.open(
            Path(tmp) / "lib", encoder=encoder, sampling=SamplingConfig(fps=1.0), create=True
        )
        rss_before_mb = C._rss_kb(os.getpid()) / 1024
        with C.RssMonitor() as mon, C.measure() as m:
            if spec["mode"] == "pipeline":
                cfg = IngestConfig(
                    workers=spec["workers"],
                    decode_threads=spec["decode_threads"],
                    decode_device=spec.get("decode_device", "cpu"),
                    frames_per_message=spec["frames_per_message"],
                )
                report = lib.index(paths, config=cfg)
                timings = dict(report.timings)
                frames, seconds, failed = report.frames, report.seconds, len(report.failed)
            else:
                device = spec.get("decode_device", "cpu")
                frames, seconds, timings = naive_index(lib, video_files(paths), device)
                failed = 0
        lib.close()
    out = _rates(m, seconds, frames) | {
        "mode": spec["mode"],
        "failed": failed,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "rss_before_mb": round(rss_before_mb, 1),
        "memory": mon.to_dict(),
    }
    print(json.dumps(out))
    return 0


def naive_index(
    lib: Any, files: list[Path], device: str = "cpu"
) -> tuple[int, float, dict[str, float]]:
    """The baseline: per file, decode every sampled frame, then thumbnail, encode and commit.

    Same output as ``Library.index`` (same sampler, thumbnails, encoder and commit), in one
    process with no overlap between the stages.
    """
    from vidlens.ingest import IngestConfig, _thumbnail, content_id
    from vidlens.media import FrameSampler, probe_video

    thumb_h = IngestConfig().thumb_height
    stage = {"decode_s": 0.0, "encode_s": 0.0, "write_s": 0.0}
    frames, seconds = 0, 0.0
    for f in files:
        t0 = time.perf_counter()
        st = f.stat()
        info = probe_video(f)
        sampler = FrameSampler(f, lib.sampling, info=info, device=device)
        sampled = list(sampler)
        thumbs = [_thumbnail(s.rgb, thumb_h) for s in sampled]
        rgb = np.stack([s.rgb for s in sampled])
        t1 = time.perf_counter()
        vectors = np.asarray(lib.encoder.encode_images(rgb), dtype=np.float32)
        t2 = time.perf_counter()
        info_d = {k: getattr(info, k) for k in info.__dataclass_fields__}
        lib.commit_video(
            video_id=content_id(f, st.st_size),
            path=str(f),
            size_bytes=st.st_size,
            mtime_ns=st.st_mtime_ns,
            info=info_d,
            times_s=[s.time_s for s in sampled],
            keyframes=[s.is_keyframe for s in sampled],
            vectors=vectors,
            thumbs=thumbs,
            shots=list(sampler.shots),
            decode_s=t1 - t0,
            encode_s=t2 - t1,
        )
        stage["decode_s"] += t1 - t0
        stage["encode_s"] += t2 - t1
        stage["write_s"] += time.perf_counter() - t2
        frames += len(sampled)
        seconds += info.duration_s
    return frames, seconds, stage


# ----------------------------------------------------------------------------- report
def fmt_rate(name: str, r: dict[str, Any]) -> str:
    return (
        f"{name:<22s}: {r['video_s_per_s']:7.2f} video-s/s {r['frames_per_s']:7.2f} frames/s  "
        f"wall {r['wall_s']:7.2f} s  CPU {r['cpu_s']:7.2f} s = {r['cpu_s_per_video_s']:.4f} "
        f"CPU-s per video-s  (load {'/'.join(f'{x:.2f}' for x in r['load'])})"
    )


def _with(args: argparse.Namespace, overrides: dict[str, Any]) -> argparse.Namespace:
    return argparse.Namespace(**(vars(args) | overrides))


def _stage_line(pipe: dict[str, Any]) -> str:
    t, mem = pipe["timings"], pipe["memory"]
    return (
        f"{'':24s}stages (IndexReport): decode {t.get('decode_s', 0):.2f} s (worker wall, "
        f"includes blocking on the queue)  encode {t.get('encode_s', 0):.2f} s  write "
        f"{t.get('write_s', 0):.2f} s  parent waiting {t.get('wait_s', 0):.2f} s; peak RSS "
        f"{mem['peak_total_mb']:.0f} MB (parent {mem['peak_parent_mb']:.0f} + workers "
        f"{mem['peak_children_mb']:.0f})"
    )


def bench_dataset(
    name: str, paths: list[Path], encoder: Any, args: argparse.Namespace
) -> dict[str, Any]:
    """Decode-only, encode-only, pipeline (as shipped and tuned) and naive on one input."""
    import torch

    files = video_files(paths)
    workers = _shipped_workers(args)
    res: dict[str, Any] = {"files": len(files)}
    dec, arrays, times = decode_only(files, args.decode_threads, args.decode_device)
    res["decode"] = dec
    shapes = Counter(f"{a.shape[2]}x{a.shape[1]}" for a in arrays)
    print(
        f"\n== {name}: {len(files)} file(s), {dec['video_s']:.1f} video-s, "
        f"{dec['frames']} sampled frames at 1 fps, frame shapes {dict(shapes)} ==",
        flush=True,
    )
    print(fmt_rate("decode-only (1 proc)", dec), flush=True)
    decode_capacity = dec
    if len(files) == 1:
        one, _, _ = decode_only(files, 1, args.decode_device)
        res["decode_1_thread"] = one
        print(fmt_rate("decode-only (1 proc, 1 thr)", one), flush=True)
        splits = {}
        for threads in sorted({1, args.decode_threads}):
            split = decode_split(files[0], args.split_workers, threads, times, args.decode_device)
            splits[f"{threads}_threads"] = split
            print(
                fmt_rate(f"decode-only split ({split['workers']}x{threads or 'auto'} thr)", split)
                + f"  {len(split['spans'])} ranges, {split['frames_decoded']} frames decoded "
                f"(1 proc: {dec['frames_decoded']}), same frames as one pass: "
                f"{split['same_frames_as_one_pass']}",
                flush=True,
            )
            if not split["same_frames_as_one_pass"]:
                raise SystemExit("the ranges did not give the frames of one pass")
        res["decode_split"] = splits
        best_split = max(splits.values(), key=lambda r: r["video_s_per_s"])
        # the stage bound is the fastest decode measured (ingest cuts a long video this way)
        decode_capacity = max(dec, best_split, key=lambda r: r["video_s_per_s"])
        res["ratios_decode"] = {
            "split_vs_1_proc": round(best_split["video_s_per_s"] / dec["video_s_per_s"], 4)
        }
        print(
            C.ratio_line(
                f"{name} decode split/1 proc",
                best_split["video_s_per_s"] / dec["video_s_per_s"],
                "",
                f"{best_split['video_s_per_s']:.2f} / {dec['video_s_per_s']:.2f} video-s/s "
                f"({args.split_workers} procs on {os.cpu_count()} cores)",
            ),
            flush=True,
        )
    if len(files) > 1 and workers > 1 and not args.smoke:
        pool = decode_pool(files, min(workers, len(files)), args.decode_threads, args.decode_device)
        res["decode_pool"] = pool
        print(fmt_rate(f"decode-only ({pool['workers']} procs)", pool), flush=True)
        decode_capacity = max(dec, pool, key=lambda r: r["video_s_per_s"])
    # The encoder runs with torch's threads (all cores) unless told otherwise; on a shared
    # machine one thread can be much faster, so both are measured and the better one is the bound.
    default_threads = torch.get_num_threads()
    encs: dict[str, dict[str, Any]] = {}
    for threads in sorted({default_threads, 1}, reverse=True):
        torch.set_num_threads(threads)
        encs[f"{threads}_threads"] = enc = encode_only(encoder, arrays, dec["video_s"])
        print(fmt_rate(f"encode-only ({threads} thr, b{args.batch_size})", enc), flush=True)
    torch.set_num_threads(default_threads)
    res["encode"] = encs
    best_enc = max(encs.values(), key=lambda r: r["video_s_per_s"])
    del arrays

    pipes: dict[str, dict[str, Any]] = {}
    pipes["shipped"] = run_child("pipeline", paths, args)
    print(fmt_rate("pipeline (as shipped)", pipes["shipped"]), flush=True)
    print(_stage_line(pipes["shipped"]), flush=True)
    if args.tuned:
        pipes["tuned"] = run_child("pipeline", paths, _with(args, args.tuned))
        print(fmt_rate("pipeline (tuned)", pipes["tuned"]) + f"  {args.tuned}", flush=True)
        print(_stage_line(pipes["tuned"]), flush=True)
    if len(files) == 1 and args.split_workers > 1 and args.split_workers != _shipped_workers(args):
        split_args = _with(args, {"workers": args.split_workers})
        pipes["split"] = run_child("pipeline", paths, split_args)
        print(fmt_rate(f"pipeline (split, {args.split_workers} workers)", pipes["split"]))
        print(_stage_line(pipes["split"]), flush=True)
    res["pipeline"] = pipes["shipped"]
    res["pipelines"] = pipes
    naives: dict[str, dict[str, Any]] = {}
    if not args.no_naive:
        naives["default"] = run_child("naive", paths, args)
        print(fmt_rate("naive sequential", naives["default"]), flush=True)
        if args.tuned and args.tuned.get("torch_threads"):
            one = {"torch_threads": args.tuned["torch_threads"]}
            naives["tuned"] = run_child("naive", paths, _with(args, one))
            print(fmt_rate(f"naive sequential ({one})", naives["tuned"]), flush=True)
        res["naive"] = naives["default"]
        res["naives"] = naives

    d, e = decode_capacity["video_s_per_s"], best_enc["video_s_per_s"]
    shared_bound = 1 / (1 / d + 1 / e) if d and e else 0.0
    res["bounds"] = {"min_stage_video_s_per_s": min(d, e), "shared_core_bound": shared_bound}
    ratios: dict[str, float] = {}
    best_naive = max(naives.values(), key=lambda r: r["video_s_per_s"]) if naives else None
    for key, pipe in pipes.items():
        v = pipe["video_s_per_s"]
        ratios[f"{key}_vs_stages"] = v / min(d, e)
        print(
            C.ratio_line(
                f"{name} pipeline/min(decode,encode) [{key}]",
                v / min(d, e),
                GOALS["pipeline_vs_stages"],
                f"{v:.2f} / {min(d, e):.2f} video-s/s",
            )
        )
        if decode_capacity is not dec:
            ratios[f"{key}_vs_1_proc_decode"] = v / dec["video_s_per_s"]
            print(
                C.ratio_line(
                    f"{name} pipeline/decode in 1 process [{key}]",
                    v / dec["video_s_per_s"],
                    "",
                    f"{v:.2f} / {dec['video_s_per_s']:.2f} video-s/s (one decoder)",
                )
            )
        ratios[f"{key}_vs_shared_bound"] = v / shared_bound
        print(
            C.ratio_line(
                f"{name} pipeline/(1/(1/decode+1/encode)) [{key}]",
                v / shared_bound,
                "",
                "the bound when both stages need the same cores",
            )
        )
        if best_naive is not None:
            ratios[f"{key}_vs_naive"] = v / naives["default"]["video_s_per_s"]
            ratios[f"{key}_vs_best_naive"] = v / best_naive["video_s_per_s"]
            print(
                C.ratio_line(
                    f"{name} pipeline/naive [{key}]",
                    v / naives["default"]["video_s_per_s"],
                    GOALS["pipeline_vs_naive"],
                    f"{v:.2f} / {naives['default']['video_s_per_s']:.2f} video-s/s",
                )
            )
            if len(naives) > 1:
                print(
                    C.ratio_line(
                        f"{name} pipeline/best naive [{key}]",
                        v / best_naive["video_s_per_s"],
                        GOALS["pipeline_vs_naive"],
                        f"{v:.2f} / {best_naive['video_s_per_s']:.2f} video-s/s",
                    )
                )
    res["ratios"] = {k: round(v, 4) for k, v in ratios.items()}
    best = max(pipes.values(), key=lambda r: r["video_s_per_s"])
    cpu = max(best["cpu_s_per_video_s"], 1e-9)
    res["idle_cores_estimate_video_s_per_s"] = round((os.cpu_count() or 1) / cpu, 2)
    if not args.smoke:
        print(
            f"# best pipeline: {best['video_s_per_s']:.1f} video-s/s (goal >= 40) at "
            f"{cpu:.4f} CPU-s per video-s: {os.cpu_count()} idle cores would give about "
            f"{(os.cpu_count() or 1) / cpu:.1f} video-s/s"
        )
    return res


def memory_scaling(
    short: Path, long: Path, extra: Path | None, args: argparse.Namespace, long_res: dict[str, Any]
) -> dict[str, Any]:
    """Peak RSS of the pipeline on a short and a long video (and a very long low-res one)."""
    runs: dict[str, dict[str, Any]] = {}
    runs["short"] = run_child("pipeline", [short], args)
    runs["long"] = long_res["pipeline"]
    if extra is not None:
        runs["very_long"] = run_child("pipeline", [extra], args)
    split_args = _with(args, {"workers": args.split_workers})
    if "split" in long_res["pipelines"]:
        runs["short_split"] = run_child("pipeline", [short], split_args)
        runs["long_split"] = long_res["pipelines"]["split"]
        if extra is not None:
            runs["very_long_split"] = run_child("pipeline", [extra], split_args)
    print("\n== memory: pipeline peak RSS (parent + decode workers) vs video length ==")
    for key, r in runs.items():
        mem = r["memory"]
        print(
            f"{key:10s}: {r['video_s']:8.1f} video-s  peak total {mem['peak_total_mb']:7.1f} MB "
            f"(parent {mem['peak_parent_mb']:.1f}, workers {mem['peak_children_mb']:.1f}; parent "
            f"before indexing {r['rss_before_mb']:.1f})  {r['video_s_per_s']:.1f} video-s/s  "
            f"(load {'/'.join(f'{x:.2f}' for x in r['load'])})"
        )
    # Growth during indexing (peak minus the same process's RSS before it started): the
    # encoder's own footprint varies by tens of MB between processes and is not growth.
    grow = {k: r["memory"]["peak_total_mb"] - r["rss_before_mb"] for k, r in runs.items()}
    print(
        "growth while indexing (peak - RSS before): "
        + ", ".join(f"{k} {v:+.1f} MB" for k, v in grow.items())
    )
    out: dict[str, Any] = {k: {"video_s": r["video_s"], **r["memory"]} for k, r in runs.items()}
    out["growth_mb"] = {k: round(v, 1) for k, v in grow.items()}
    for suffix in ("", "_split"):
        if f"long{suffix}" not in runs:
            continue
        a, b = runs[f"short{suffix}"], runs[f"long{suffix}"]
        gain = grow[f"long{suffix}"] - grow[f"short{suffix}"]
        per_hour = gain / max((b["video_s"] - a["video_s"]) / 3600, 1e-9)
        two_h = b["memory"]["peak_total_mb"] + max(per_hour, 0.0) * (7200 - b["video_s"]) / 3600
        # A few tens of MB of noise between processes dominate this slope; the very-long run,
        # when there is one, is the measurement and the extrapolation only a cross-check.
        measured = runs.get(f"very_long{suffix}")
        print(
            f"{'split: ' if suffix else ''}{per_hour:+.1f} MB per video-hour from short to long; "
            f"linear extrapolation to 2 h: {two_h:.0f} MB (bar: ~1500 MB)"
            + (
                f"; measured at {measured['video_s'] / 3600:.1f} h: "
                f"{measured['memory']['peak_total_mb']:.0f} MB"
                if measured
                else ""
            )
        )
        out[f"mb_per_video_hour{suffix}"] = round(per_hour, 2)
        out[f"extrapolated_2h_mb{suffix}"] = round(two_h, 1)
    a, b = runs["short"], runs["long"]
    ratio = b["memory"]["peak_total_mb"] / a["memory"]["peak_total_mb"]
    print(
        C.ratio_line(
            "peak RSS long/short video",
            ratio,
            "<=1.1",
            f"{b['video_s'] / a['video_s']:.1f}x longer video",
        )
    )
    if "long_split" in runs:
        a, b = runs["short_split"], runs["long_split"]
        ratio = b["memory"]["peak_total_mb"] / a["memory"]["peak_total_mb"]
        print(C.ratio_line("peak RSS long/short video [split]", ratio, "<=1.1"))
    for key in ("very_long", "very_long_split"):
        if key in runs:
            v = runs[key]["memory"]["peak_total_mb"]
            tag = " [split]" if key.endswith("split") else ""
            print(C.ratio_line(f"peak RSS very-long (low-res) / 1500 MB{tag}", v / 1500, "<=1"))
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the long 720p video")
    p.add_argument("--short-minutes", type=float, default=2.0, help="memory comparison video")
    p.add_argument(
        "--gop",
        type=int,
        default=250,
        help="frames between keyframes of the 720p videos (x264's 250; cameras write ~30)",
    )
    p.add_argument("--clips", type=int, default=20, help="short clips in the folder")
    p.add_argument("--clip-seconds", default="5-15", help="clip length range, seconds")
    p.add_argument(
        "--long-minutes",
        type=float,
        default=0.0,
        help="also index a video this long at --long-size (memory bar: 120); 0 = skip",
    )
    p.add_argument("--long-size", default="320x180", help="WxH of the --long-minutes video")
    p.add_argument("--long-fps", type=int, default=10, help="frame rate of that video")
    p.add_argument("--encoder", default=None, help=f"encoder id (default {DEFAULT_ENCODER})")
    p.add_argument("--device", default="cpu", help="encoder device: cpu or cuda (bf16)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0, help="decode workers (0: the default)")
    p.add_argument(
        "--split-workers",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="processes decoding the long video in time ranges (default: one per core, >= 2)",
    )
    p.add_argument("--decode-threads", type=int, default=0, help="FFmpeg threads per worker")
    p.add_argument(
        "--decode-device",
        default="cpu",
        help="where videos are decoded: cpu, or cuda (the GPU's video decoder, NVDEC)",
    )
    p.add_argument("--frames-per-message", type=int, default=32)
    p.add_argument("--torch-threads", type=int, default=0, help="encoder threads (0: torch's)")
    p.add_argument(
        "--tuned",
        default='{"workers": 1}',
        help="JSON of settings for a second pipeline run (default: one decode worker, the "
        "default until 2026-11-27); '' to skip",
    )
    p.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    p.add_argument(
        "--only",
        choices=["long", "clips", "memory"],
        default=None,
        help="one dataset; memory: only the pipeline runs of the peak-RSS comparison",
    )
    p.add_argument("--smoke", action="store_true", help="tiny sizes, fast encoder")
    p.add_argument("--out-dir", default=None, help="folder for figures and media (bench/out)")
    p.add_argument("--out", default="ingest", help=C.OUT_HELP)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.smoke:
        args.minutes, args.short_minutes, args.clips = 0.1, 0.05, 2
        args.clip_seconds, args.long_minutes = "2-3", 0.0
        args.encoder = args.encoder or SMOKE_ENCODER
        args.tuned = ""
        args.out = "ingest-smoke" if args.out == "ingest" else args.out
    args.encoder = args.encoder or DEFAULT_ENCODER
    args.tuned = json.loads(args.tuned) if args.tuned else {}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out_dir:
        C.set_out_dir(args.out_dir)
    if args.child:
        return child_main(json.loads(args.child))
    C.check_out(args.out)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a benchmark never downloads
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    import torch

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    info = C.machine_info()
    print(f"# vidlens ingest benchmark, {C.load_note()}; figures are noisy on a shared machine")
    print(
        f"# encoder {args.encoder} on {args.device}, batch {args.batch_size}, 1 fps, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if args.device.startswith("cuda"):
        print(f"# gpu {torch.cuda.get_device_name(0)}")
    from vidlens.media import check_decode_device

    check_decode_device(args.decode_device)
    print(f"# decoding on {args.decode_device}")
    size = (160, 96) if args.smoke else (1280, 720)
    long_v = C.benchmark_video(round(args.minutes * 60, 1), size, gop=args.gop)
    short_v = C.benchmark_video(round(args.short_minutes * 60, 1), size, gop=args.gop)
    lo, hi = (float(x) for x in args.clip_seconds.split("-"))
    clips = clip_folder(args.clips, lo, hi, small=args.smoke)
    very_long = None
    if args.long_minutes > 0:
        w, h = (int(x) for x in args.long_size.split("x"))
        very_long = C.benchmark_video(round(args.long_minutes * 60, 1), (w, h), args.long_fps)
    encoder = make_encoder(args)
    print(
        f"# encoder loaded: dim {encoder.dim}, dtype {getattr(encoder, 'dtype', '?')}, "
        f"image {getattr(encoder, 'image_size', '?')}"
    )
    results: dict[str, Any] = {"machine": info, "args": {k: v for k, v in vars(args).items()}}
    datasets: dict[str, Any] = {}
    if args.only in (None, "long"):
        datasets["long"] = bench_dataset("long", [long_v], encoder, args)
    if args.only in (None, "clips"):
        datasets["clips"] = bench_dataset("clips", [clips], encoder, args)
    results["datasets"] = datasets
    if "long" in datasets:
        results["memory"] = memory_scaling(short_v, long_v, very_long, args, datasets["long"])
    elif args.only == "memory":
        pipes = {"shipped": run_child("pipeline", [long_v], args)}
        if args.split_workers > 1 and args.split_workers != _shipped_workers(args):
            split_args = _with(args, {"workers": args.split_workers})
            pipes["split"] = run_child("pipeline", [long_v], split_args)
        long_res = {"pipeline": pipes["shipped"], "pipelines": pipes}
        results["memory"] = memory_scaling(short_v, long_v, very_long, args, long_res)
    return C.finish(args.out, results)


if __name__ == "__main__":
    sys.exit(main())
