"""A small world of colour videos with known content, shared by library, ingest and CLI tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from videogen import write_colour_video

BLACK = (0, 0, 0)
RED = (220, 30, 30)
GREEN = (30, 200, 30)
BLUE = (30, 30, 220)
YELLOW = (240, 230, 40)
WHITE = (255, 255, 255)

# name -> segments (duration_s, rgb); the truth the tests check against.
WORLD: dict[str, list[tuple[float, tuple[int, int, int]]]] = {
    "red_8_14.mp4": [(8.0, BLACK), (6.0, RED), (6.0, BLACK)],
    "blue_all.mp4": [(20.0, BLUE)],
    "green_then_yellow.mp4": [(5.0, GREEN), (10.0, BLACK), (5.0, YELLOW)],
}


def make_world(folder: Path, fps: float = 10.0) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return {name: write_colour_video(folder / name, segs, fps=fps) for name, segs in WORLD.items()}
