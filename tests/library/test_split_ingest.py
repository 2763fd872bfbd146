"""A long video decoded in time ranges by several workers ends in the same library as one worker."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import videogen  # type: ignore[import-not-found]
from vidlens.config import SamplingConfig
from vidlens.encoders.colour import ColourEncoder
from vidlens.ingest import IngestConfig
from vidlens.library import Library

# 40 s videos: ranges of about 10 s, starting on the 8-frame batches' time windows
SPLIT = IngestConfig(workers=2, split_min_s=20.0, frames_per_message=8)
WHOLE = IngestConfig(workers=2, split_min_s=0.0, frames_per_message=8)


class BatchStampEncoder(ColourEncoder):
    """Colour fractions, plus two numbers that depend on which frames were encoded together.

    Real encoders (a ViT-B-32 on the CPU) give slightly different vectors for one frame in
    batches of different sizes; this one makes any such difference plain.
    """

    id = "batch-stamp-test"
    fingerprint = "batch-stamp-test-v1"

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        out = super().encode_images(frames)
        out[:, -1] = len(frames) / 64.0
        out[:, -2] = float(np.asarray(frames).mean()) / 255.0
        return out


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("split") / "videos"
    d.mkdir()
    # B-frames, a keyframe every 2 s and at scene cuts: what camera and web video look like
    videogen.write_benchmark_video(
        d / "long_bframes.mp4", 40, size=(160, 96), fps=25, gop=50, scene_s=5
    )
    rng = random.Random(7)
    segments = [(2.0, rng.choice(videogen.PALETTE)) for _ in range(20)]
    videogen.write_colour_video(
        d / "long_colours.mp4", segments, fps=10, size=(96, 64), gop=30, noise=8, start_s=1.5
    )
    videogen.write_colour_video(d / "short.mp4", [(5.0, videogen.PALETTE[2])], fps=10)
    return d


def snapshot(root: Path) -> dict[str, object]:
    """Everything stored per video: times, vectors and every thumbnail, exactly."""
    with Library.open(root, readonly=True) as lib:
        out: dict[str, object] = {}
        for v in sorted(lib.videos(), key=lambda v: v.path):
            out[Path(v.path).name] = (
                v.id,
                v.row_count,
                v.duration_s,
                lib.frame_times(v.id).tobytes(),
                lib.frame_vectors(v.id).tobytes(),
                tuple(lib.thumbnail(v.id, i) for i in range(v.row_count)),
                tuple(lib.shots(v.id)),
            )
        out["failures"] = lib.failures()
        return out


def index(
    videos: Path, root: Path, sampling: SamplingConfig, cfg: IngestConfig, encoder: object
) -> None:
    with Library.open(root, encoder=encoder, sampling=sampling, create=True) as lib:  # type: ignore[arg-type]
        report = lib.index([videos], config=cfg)
    assert report.indexed == 3 and not report.failed, report


@pytest.mark.parametrize("encoder", ["colour-test", "batch-stamp"])
@pytest.mark.parametrize(
    "sampling",
    [SamplingConfig(fps=1.0, short_side=64), SamplingConfig(mode="frames", frames=70)],
    ids=["1fps", "frames70"],
)
def test_split_ingest_equals_one_worker_per_file(
    videos: Path,
    tmp_path: Path,
    sampling: SamplingConfig,
    encoder: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    enc = BatchStampEncoder() if encoder == "batch-stamp" else encoder
    index(videos, tmp_path / "whole", sampling, WHOLE, enc)
    with caplog.at_level(logging.INFO, logger="vidlens.ingest"):
        index(videos, tmp_path / "split", sampling, SPLIT, enc)
    cut = sorted(r.getMessage().split(":")[0] for r in caplog.records if "time ranges" in r.message)
    assert [Path(p).name for p in cut] == ["long_bframes.mp4", "long_colours.mp4"]
    whole, split = snapshot(tmp_path / "whole"), snapshot(tmp_path / "split")
    assert split == whole
    times = np.frombuffer(whole["long_bframes.mp4"][3], dtype=np.float64)  # type: ignore[index]
    assert len(times) == (40 if sampling.mode == "fps" else 70)


def test_cuda_decode_ingest_equals_the_cpu(videos: Path, tmp_path: Path) -> None:
    """Decode workers on the GPU's video decoder (NVDEC), long videos split: the same frames."""
    from vidlens.errors import ConfigError
    from vidlens.media import check_decode_device

    try:
        check_decode_device("cuda")
    except ConfigError as exc:
        pytest.skip(str(exc))
    sampling = SamplingConfig(fps=1.0, short_side=64)
    index(videos, tmp_path / "cpu", sampling, SPLIT, "colour-test")
    gpu_cfg = IngestConfig(workers=2, split_min_s=20.0, frames_per_message=8, decode_device="cuda")
    index(videos, tmp_path / "gpu", sampling, gpu_cfg, "colour-test")
    cpu, gpu = snapshot(tmp_path / "cpu"), snapshot(tmp_path / "gpu")
    assert sorted(gpu) == sorted(cpu)
    for name in cpu:
        if name == "failures":
            assert gpu[name] == cpu[name] == []
            continue
        c, g = cpu[name], gpu[name]
        assert g[:4] == c[:4], name  # id, frame count, duration, frame times (exact)
        cv = np.frombuffer(c[4], dtype=np.float32)  # type: ignore[index]
        gv = np.frombuffer(g[4], dtype=np.float32)  # type: ignore[index]
        assert np.abs(cv - gv).max() < 0.05, name


KILL = """
import sys
from vidlens.config import SamplingConfig
from vidlens.ingest import IngestConfig
from vidlens.library import Library
with Library.open(sys.argv[2], encoder="colour-test", sampling=SamplingConfig(fps=2.0),
                  create=True) as lib:
    lib.index([sys.argv[1]], config=IngestConfig(workers=2, split_min_s=20.0))
"""


@pytest.fixture(scope="module")
def clean_split(
    videos: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, object], float]:
    """The library of an uninterrupted run, and how long the run took."""
    root = tmp_path_factory.mktemp("clean") / "lib"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", KILL, str(videos), str(root)], check=True, timeout=300)
    return snapshot(root), time.perf_counter() - started


@pytest.mark.slow
@pytest.mark.parametrize("at", [0.35, 0.6, 0.85])  # of an uninterrupted run's time
def test_kill_during_split_ingest_and_rerun(
    videos: Path, clean_split: tuple[dict[str, object], float], tmp_path: Path, at: float
) -> None:
    clean, run_s = clean_split
    root = tmp_path / "lib"
    cmd = [sys.executable, "-c", KILL, str(videos), str(root)]
    proc = subprocess.Popen(cmd, start_new_session=True, stderr=subprocess.DEVNULL)
    time.sleep(at * run_s)
    os.killpg(proc.pid, signal.SIGKILL)  # parent and every decode worker
    proc.wait(timeout=30)
    if (root / "manifest.json").exists():
        partial = snapshot(root)  # whatever it shows is complete
        for name, entry in partial.items():
            if name != "failures":
                assert clean[name] == entry
    subprocess.run(cmd, check=True, timeout=300)
    assert snapshot(root) == clean


def test_split_config_is_checked() -> None:
    from vidlens.errors import ConfigError

    with pytest.raises(ConfigError, match="split_min_s"):
        IngestConfig(split_min_s=-1.0)
