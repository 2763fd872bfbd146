"""``make demo``: index a few videos, search them in plain language, show the moments.

Run as ``python -m vidlens.demo [--out DIR]``. It writes a handful of short videos with known
content (coloured scenes with a moving square), adds the real sample clips of ``../shared/media``
when that folder exists, indexes them twice and searches them:

1. with the default encoder (``openclip:ViT-B-32/openai`` when its weights are on this machine;
   otherwise a random-initialised model, with a loud warning that its rankings mean nothing);
2. with the built-in ``colour-test`` encoder, whose answers on these videos are exact, so the
   engine's ranking and moment cutting can be checked by eye: "red" must find the red scene at
   the seconds printed next to it.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np

__all__ = ["DEMO_VIDEOS", "main", "write_demo_videos"]

logger = logging.getLogger(__name__)

# name -> scenes (seconds, colour name from the colour-test palette); the truth the demo prints.
DEMO_VIDEOS: dict[str, list[tuple[float, str]]] = {
    "sunset_red.mp4": [(6.0, "black"), (8.0, "red"), (6.0, "black")],
    "ocean_blue.mp4": [(15.0, "blue")],
    "forest_green_then_desert_yellow.mp4": [(6.0, "green"), (6.0, "gray"), (6.0, "yellow")],
    "night_with_orange_fire.mp4": [(10.0, "black"), (4.0, "orange"), (6.0, "black")],
}
DEMO_QUERIES = ["a red scene", "a blue ocean", "something yellow", "an orange fire at night"]
SHARED_MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"


def write_demo_videos(
    folder: Path, *, fps: int = 12, size: tuple[int, int] = (192, 108)
) -> list[Path]:
    """Write :data:`DEMO_VIDEOS` as H.264 mp4 files (skipping ones already there)."""
    import av

    from .encoders.colour import COLOURS

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    w, h = size
    for name, scenes in DEMO_VIDEOS.items():
        path = folder / name
        out.append(path)
        if path.exists():
            continue
        tmp = path.with_name(".tmp-" + name)
        with av.open(str(tmp), "w") as container:
            stream = container.add_stream("libx264", rate=Fraction(fps))
            stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            i = 0
            for seconds, colour in scenes:
                rgb = COLOURS[colour]
                for _ in range(round(seconds * fps)):
                    img = np.empty((h, w, 3), dtype=np.uint8)
                    img[:] = rgb
                    x = int((i * 3) % (w - 16))  # a small moving square, so frames differ
                    img[h // 2 - 8 : h // 2 + 8, x : x + 16] = (255, 255, 255)
                    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    container.mux(stream.encode(frame))
                    i += 1
            container.mux(stream.encode(None))
        tmp.replace(path)
    return out


def _run(library: Path, videos: list[Path], encoder: str | None, title: str) -> None:
    from .errors import LibraryError
    from .ingest import IngestConfig
    from .library import Library

    print(f"\n=== {title} ===")
    lib = Library.open(library, encoder=encoder, create=True)
    try:
        _ = lib.encoder  # loads the weights; refuses those that did not build the library
    except LibraryError as exc:
        # The demo's libraries are its own scratch space: after a model update (a new
        # vidlens-tiny, other pretrained weights) the old one is rebuilt, not an error.
        lib.close()
        print(f"rebuilding {library}: {exc}")
        shutil.rmtree(library)
        lib = Library.open(library, encoder=encoder, create=True)
    with lib:
        print(f"encoder: {lib.manifest.encoder_id}   library: {library}")
        report = lib.index(videos, config=IngestConfig())
        t = report.timings
        print(
            f"indexed {report.indexed} videos, skipped {report.skipped}, failed "
            f"{len(report.failed)} ({report.frames} frames, {report.seconds:.0f} s of video, "
            f"{t.get('wall_s', 0):.1f} s)"
        )
        for q in DEMO_QUERIES:
            res = lib.search(q, top_k=3)
            print(f'\nsearch "{q}"')
            for rank, hit in enumerate(res.results, 1):
                s, e, _ = hit.moments[0]
                print(
                    f"  {rank}. {Path(hit.path).name:40s} score {hit.score:+.3f}   "
                    f"best moment {s:5.1f}-{e:5.1f} s"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vidlens.demo", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo-output"), help="working folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out: Path = args.out
    videos = write_demo_videos(out / "videos")
    real = sorted(SHARED_MEDIA.glob("*.mp4")) if SHARED_MEDIA.is_dir() else []
    print(f"demo videos: {len(videos)} generated in {out / 'videos'}, {len(real)} real clips")
    from .encoders import default_encoder_id

    default = default_encoder_id()
    _run(out / "library-default", videos + real, default, f"default encoder ({default})")
    if default.endswith("/random"):
        print(
            "\n!!! The encoder above is RANDOM-INITIALISED (no pretrained weights on this "
            "machine):\n!!! its rankings are not meaningful. Pass real weights with "
            "--encoder openclip:ViT-B-32//path/to/open_clip_model.safetensors."
        )
    _run(out / "library-colour", videos, "colour-test", "engine check: colour-test encoder (exact)")
    print("\nTruth (scenes of the generated videos):")
    for name, scenes in DEMO_VIDEOS.items():
        t, parts = 0.0, []
        for seconds, colour in scenes:
            parts.append(f"{t:.0f}-{t + seconds:.0f} s {colour}")
            t += seconds
        print(f"  {name:40s} " + ", ".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
