"""Shared fixtures: the real sample clips and a session folder of generated videos."""

from __future__ import annotations

from pathlib import Path

import pytest

import videogen

SHARED_MEDIA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "media"


@pytest.fixture(scope="session")
def shared_media() -> Path:
    """``../shared/media`` (real clips); tests using it skip when the folder is absent."""
    if not (SHARED_MEDIA_DIR / "bikes.mp4").is_file():
        pytest.skip(f"real sample clips not found in {SHARED_MEDIA_DIR} (only in the dev checkout)")
    return SHARED_MEDIA_DIR


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session-wide folder for generated videos (write each file once per session)."""
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def bad_inputs(video_dir: Path) -> dict[str, Path]:
    """Every odd or broken input of :func:`videogen.make_bad_input_corpus`, by name."""
    return videogen.make_bad_input_corpus(video_dir / "corpus")
