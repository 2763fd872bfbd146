"""The README's Python example, run as a user runs a script: no __main__ guard, real workers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from vidlens.demo import write_demo_videos

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Python API", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README: no python block under 'Python API'"
    return match.group(1)


def test_readme_example_runs_as_an_unguarded_script(tmp_path: Path) -> None:
    """Spawned decode workers import the parent's main script unless told not to: without the
    fix each of them ran the script again and stopped on the library's write lock."""
    write_demo_videos(tmp_path / "videos")  # what `make demo` leaves in demo-output/videos
    script = tmp_path / "example.py"
    # the script also counts how often its body runs (once: not again in each worker)
    script.write_text(
        "open('runs.txt', 'a').write('run\\n')\n" + readme_example(), encoding="utf-8"
    )
    env = os.environ | {"HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,  # it takes ~8 s; without the fix it hung
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == "indexed 4, failed 0"
    assert lines[1].startswith(f"{tmp_path / 'videos' / 'sunset_red.mp4'}: 6-14 s"), lines
    assert lines[4].startswith("[6.0, 14.0, "), lines
    assert lines[4].endswith(" 10")  # one saliency score per 2 s of the 20-s video
    assert (tmp_path / "runs.txt").read_text() == "run\n"
    assert "another vidlens process" not in proc.stderr
