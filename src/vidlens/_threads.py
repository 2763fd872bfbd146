"""One thread per query: thread limits for numpy's BLAS, torch and faiss in a serving process.

A query is many small computations: a text encoder's layers, one similarity curve (a small matrix
product) per candidate video. Split over several threads on a machine whose cores are busy, each
of them waits for helper threads the OS has not scheduled yet. Measured on 2 shared cores at load
~4: the candidate curves of one search over 1M frames (~22k rows in ~26 products) took p50 70 /
p95 112 ms on OpenBLAS's 2 threads and 3.9 / 6.5 ms on one; encoding one query text with
open_clip ViT-B-32 took 784 ms on torch's 2 threads and 17 ms on one. A server answers one query
at a time per library, so it runs each query on one thread.

numpy reads ``OPENBLAS_NUM_THREADS`` only when it loads, which is before any vidlens code runs,
so its BLAS is limited at run time through the ``openblas_set_num_threads`` entry point of the
OpenBLAS that numpy's wheels bundle (threadpoolctl does the same for any BLAS; it is not a
dependency). torch and faiss read ``OMP_NUM_THREADS`` when they load, so it is set before they
do (and torch is limited directly if it is already loaded). Values the user exported win.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .errors import ConfigError

__all__ = ["limit_query_threads", "set_blas_threads"]

logger = logging.getLogger(__name__)

# Setter/getter names of OpenBLAS builds: numpy >= 2 wheels (scipy-openblas), then plain builds.
_OPENBLAS_ENTRY_POINTS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
)
# Read by OpenMP runtimes (torch, faiss) and MKL when they load.
_OPENMP_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
# Read by OpenBLAS when it loads (after these, it falls back to OMP_NUM_THREADS).
_OPENBLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS")


def limit_query_threads(n: int) -> dict[str, int | None]:
    """Run numpy's BLAS, torch and faiss on at most ``n`` threads in this process, from now on.

    Thread counts the user exported (``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``) are kept.
    Returns the thread counts in effect afterwards, ``{"blas": ..., "torch": ...}``, ``None``
    where unknown (numpy's BLAS not reachable; torch not loaded yet: it will start with ``n``).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ConfigError(f"query threads must be an integer >= 1, got {n!r}")
    exported = {name for name in (*_OPENMP_VARIABLES, *_OPENBLAS_VARIABLES) if name in os.environ}
    for name in _OPENMP_VARIABLES:
        os.environ.setdefault(name, str(n))
    blas = _openblas()
    if blas is not None and not exported & {*_OPENBLAS_VARIABLES, "OMP_NUM_THREADS"}:
        set_blas_threads(n)
    torch = sys.modules.get("torch")
    if torch is not None and "OMP_NUM_THREADS" not in exported:
        torch.set_num_threads(n)
    limits = {
        "blas": None if blas is None else int(blas[1]()),
        "torch": None if torch is None else int(torch.get_num_threads()),
    }
    logger.info("query threads: %s", limits)
    return limits


def set_blas_threads(n: int) -> int | None:
    """Run numpy's BLAS on ``n`` threads from now on, process-wide; returns the previous count.

    ``None`` (and nothing changes) when numpy's BLAS is not an OpenBLAS reachable here; set
    ``OPENBLAS_NUM_THREADS`` (or your BLAS's variable) before Python starts instead.
    """
    blas = _openblas()
    if blas is None:
        logger.info("numpy's BLAS threads cannot be set at run time; set OPENBLAS_NUM_THREADS")
        return None
    set_threads, get_threads = blas
    previous = int(get_threads())
    set_threads(n)
    return previous


@functools.cache
def _openblas() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    """``(set_num_threads, get_num_threads)`` of the OpenBLAS numpy loaded, if it bundles one."""
    import numpy

    package = Path(numpy.__file__).resolve().parent
    # numpy's wheels keep their OpenBLAS beside the package (Linux, Windows) or inside it (macOS).
    paths = [*package.parent.glob("numpy.libs/*openblas*"), *package.glob(".dylibs/*openblas*")]
    for path in paths:
        try:
            lib = ctypes.CDLL(str(path))  # already loaded by numpy: the same copy
        except OSError:
            continue
        for set_name, get_name in _OPENBLAS_ENTRY_POINTS:
            if hasattr(lib, set_name) and hasattr(lib, get_name):
                return getattr(lib, set_name), getattr(lib, get_name)
    return None
