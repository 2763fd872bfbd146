"""Thread limits for queries: numpy's BLAS at run time, torch and faiss through OMP_NUM_THREADS.

The limits are process-wide, so each is checked in a fresh interpreter (or restored at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from vidlens._threads import _openblas, limit_query_threads, set_blas_threads
from vidlens.errors import ConfigError

needs_openblas = pytest.mark.skipif(
    _openblas() is None, reason="numpy here does not bundle an OpenBLAS reachable at run time"
)

PROBE = """
import json, sys
import numpy
from vidlens._threads import _openblas, limit_query_threads
limits = limit_query_threads(int(sys.argv[1]))
import os
print(json.dumps({"limits": limits, "blas_now": _openblas()[1](),
                  "omp": os.environ.get("OMP_NUM_THREADS")}))
"""


def run_probe(n: int, **env: str) -> dict[str, object]:
    clean = {k: v for k, v in os.environ.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, str(n)],
        env=clean | env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@needs_openblas
def test_numpy_blas_runs_on_the_given_threads_and_openmp_libraries_start_so() -> None:
    result = run_probe(1)
    assert result["blas_now"] == 1
    assert result["limits"] == {"blas": 1, "torch": None}  # torch not loaded: starts with 1
    assert result["omp"] == "1"


@needs_openblas
def test_threads_the_user_exported_are_kept() -> None:
    result = run_probe(1, OPENBLAS_NUM_THREADS="2", OMP_NUM_THREADS="3")
    assert result["blas_now"] == 2
    assert result["omp"] == "3"


@needs_openblas
def test_set_blas_threads_returns_the_previous_count() -> None:
    previous = set_blas_threads(1)
    try:
        assert previous is not None and previous >= 1
        assert set_blas_threads(previous) == 1
    finally:
        set_blas_threads(previous or 1)


@pytest.mark.parametrize("n", [0, -1, 1.5, True])
def test_bad_thread_counts_are_config_errors(n: object) -> None:
    with pytest.raises(ConfigError, match="query threads"):
        limit_query_threads(n)  # type: ignore[arg-type]
