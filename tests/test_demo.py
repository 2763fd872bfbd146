"""The demo (`make demo`) finds the right videos and seconds with the shipped model, and rebuilds
its own library when the model's weights changed since it was built."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from vidlens import demo
from vidlens.encoders import default_encoder_id

pytestmark = pytest.mark.skipif(
    default_encoder_id() != "vidlens-tiny", reason="the demo's default encoder is not vidlens-tiny"
)


def _top_hits(out: str, section: str) -> dict[str, tuple[str, float, float]]:
    """``query -> (first video, moment start, end)`` of one ``=== section ===`` of the output."""
    part = out.split(f"=== {section}")[1].split("\n=== ")[0]
    hits = {}
    for query, video, start, end in re.findall(
        r'search "([^"]+)"\n  1\. (\S+)\s.*?best moment\s+([\d.]+)-\s*([\d.]+) s', part
    ):
        hits[query] = (video, float(start), float(end))
    return hits


def test_demo_ranks_the_right_videos_and_rebuilds_after_a_model_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "SHARED_MEDIA", tmp_path / "no-shared-media")
    assert demo.main(["--out", str(tmp_path)]) == 0
    first = capsys.readouterr().out
    truth = {
        "a red scene": ("sunset_red.mp4", 6.0, 14.0),
        "a blue ocean": ("ocean_blue.mp4", 0.0, 15.0),
        "something yellow": ("forest_green_then_desert_yellow.mp4", 12.0, 18.0),
        "an orange fire at night": ("night_with_orange_fire.mp4", 10.0, 14.0),
    }
    assert _top_hits(first, "default encoder") == truth
    assert _top_hits(first, "engine check") == truth

    # a library built by other weights (an older vidlens-tiny) is rebuilt, not an error
    manifest = tmp_path / "library-default" / "manifest.json"
    data = json.loads(manifest.read_text())
    current = data["encoder"]["fingerprint"]
    data["encoder"]["fingerprint"] = "sha256:" + "0" * 64
    manifest.write_text(json.dumps(data))
    assert demo.main(["--out", str(tmp_path)]) == 0
    second = capsys.readouterr().out
    assert f"rebuilding {tmp_path / 'library-default'}: the weights of vidlens-tiny" in second
    assert "indexed 4 videos, skipped 0" in second
    assert _top_hits(second, "default encoder") == truth
    assert json.loads(manifest.read_text())["encoder"]["fingerprint"] == current
