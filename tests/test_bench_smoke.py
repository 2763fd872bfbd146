"""The benchmark scripts run end to end at tiny sizes and print their ratio lines.

Speed is measured by ``bench/``, never asserted in tests (DESIGN.md §9): this only checks that the
scripts still work against the current code, so a refactor cannot silently break them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(script: str, out_dir: Path, *extra: str, ok: bool = True) -> str:
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / script),
            "--smoke",
            "--out-dir",
            str(out_dir),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    if not ok:
        assert proc.returncode != 0, proc.stdout[-3000:]
        return proc.stderr
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _ratio_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("ratio ")]


def test_ingest_bench_smoke(tmp_path: Path) -> None:
    out = _run("ingest.py", tmp_path)
    lines = _ratio_lines(out)
    for name in (
        "long pipeline/min(decode,encode) [shipped]",
        "long pipeline/naive [shipped]",
        "clips pipeline/naive [shipped]",
        "peak RSS long/short video",
    ):
        assert any(line.startswith(f"ratio {name}:") for line in lines), (name, out)
    figures = json.loads((tmp_path / "ingest-smoke.json").read_text())
    assert len(figures["machine"]["loadavg"]) == 3
    long = figures["datasets"]["long"]
    # the pipeline and the naive baseline index the same frames of the same video
    assert long["pipeline"]["frames"] == long["naive"]["frames"] == long["decode"]["frames"] > 0
    assert long["pipeline"]["failed"] == 0
    assert figures["memory"]["long"]["peak_total_mb"] > 0


def test_bench_out_takes_a_path_and_refuses_an_unwritable_one_before_the_run(
    tmp_path: Path,
) -> None:
    target = tmp_path / "figures" / "run 1.json"
    out = _run("query.py", tmp_path, "--out", str(target))
    assert json.loads(target.read_text())["sizes"]["5000"]["search_default"]["n"] == 8
    assert f"wrote {target}" in out
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    err = _run("ingest.py", tmp_path / "o", "--out", str(blocker / "x.json"), ok=False)
    assert err.strip().splitlines()[-1].startswith(f"--out {blocker / 'x.json'}: cannot create")
    # it stopped before generating any media
    assert not (tmp_path / "o" / "media").exists()


def test_query_bench_smoke(tmp_path: Path) -> None:
    out = _run("query.py", tmp_path)
    lines = _ratio_lines(out)
    for name in ("5000 recall@100 ANN/exact", "5000 p95 latency / 50 ms"):
        assert any(line.startswith(f"ratio {name}:") for line in lines), (name, out)
    figures = json.loads((tmp_path / "query-smoke.json").read_text())
    size = figures["sizes"]["5000"]
    # the ANN index (library/_ann.py) finds the frames exact search finds (seeded data: ~0.998)
    assert size["recall_at_100"] >= 0.9
    assert size["search_default"]["n"] == 8
    assert size["memory_mb"]["matrix_float32"] > 0


def test_train_bench_smoke(tmp_path: Path) -> None:
    out = _run("train.py", tmp_path)
    lines = _ratio_lines(out)
    for name in ("train step bf16 speed-up over fp32", "image tower channels-last speed-up"):
        assert any(line.startswith(f"ratio {name}:") for line in lines), (name, out)
    figures = json.loads((tmp_path / "train-smoke.json").read_text())
    assert set(figures["step_s"]) == {"fp32", "bf16"} and min(figures["step_s"].values()) > 0
