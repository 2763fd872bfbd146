"""Fixtures for library, ingest and CLI tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from colour_world import make_world

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("world")
    make_world(d)
    return d


@pytest.fixture(scope="session")
def world_library(world_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A library of the colour world, indexed once per session at 1 fps (read-only use)."""
    from vidlens.ingest import IngestConfig
    from vidlens.library import Library

    root = tmp_path_factory.mktemp("lib") / "library"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        report = lib.index([world_dir], config=IngestConfig(workers=1))
        assert report.indexed == 3 and not report.failed, report
    yield root
