"""The ``vidlens`` command line: parse, call the library, format. No behaviour lives here."""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import SamplingConfig
from .encoders import EncoderConfig, list_encoders
from .errors import ConfigError, VidlensError
from .query.aggregate import AGGREGATIONS
from .server import MAX_TOP_K

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

EXIT_ERROR = 1
EXIT_SOME_FAILED = 3  # `vidlens index`: the run finished, but some files could not be indexed
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # SIGTERM (a service manager stopping it, `kill`): 128 + 15


def _library_option(f: F) -> F:
    return click.option(
        "--library",
        "library",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="VIDLENS_LIBRARY",
        default="vidlens-library",
        show_default=True,
        help="Library folder (env VIDLENS_LIBRARY).",
    )(f)


def _json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")(f)


def _device_options(f: F) -> F:
    f = click.option("--device", default=None, help="Torch device for the encoder (cpu, cuda).")(f)
    return click.option(
        "--dtype",
        type=click.Choice(["auto", "float32", "bfloat16", "float16"]),
        default=None,
        help="Encoder weights dtype (auto: fastest measured that keeps results within 1e-2).",
    )(f)


def _encoder_config(
    device: str | None, dtype: str | None, batch_size: int | None = None
) -> EncoderConfig:
    kw: dict[str, Any] = {}
    if device:
        kw["device"] = device
    if dtype:
        kw["dtype"] = dtype
    if batch_size:
        kw["batch_size"] = batch_size
    return EncoderConfig(**kw)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread: stops a command the way Ctrl-C does."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise _Terminated


def _boundary(f: F) -> F:
    """Turn library errors into one-line CLI errors with a non-zero exit status.

    SIGTERM is handled like Ctrl-C (workers stopped, the run's job closed, a line saying so),
    with exit status 143 instead of 130.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return f(*args, **kwargs)
        except VidlensError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt as exc:
            stopped = "Stopped (SIGTERM)" if isinstance(exc, _Terminated) else "Interrupted"
            click.echo(
                f"{stopped}. Nothing half-written is visible; run the same command again to "
                "continue.",
                err=True,
            )
            sys.exit(EXIT_TERMINATED if isinstance(exc, _Terminated) else EXIT_INTERRUPTED)
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vidlens")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(verbose: int) -> None:
    """vidlens: index videos once, then search them in plain language and get the exact seconds."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


# ----------------------------------------------------------------------------- index
@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_library_option
@click.option(
    "--encoder",
    default=None,
    help="Encoder id, e.g. openclip:ViT-B-32/openai "
    "(new libraries only; default: the best available offline).",
)
@click.option(
    "--fps",
    type=click.FloatRange(0, 120, min_open=True),
    default=None,
    help="Sample this many frames per second [1.0].",
)
@click.option(
    "--frames",
    "n_frames",
    type=click.IntRange(min=1),
    default=None,
    help="Sample N frames per video.",
)
@click.option("--keyframes", is_flag=True, default=None, help="Sample keyframes only.")
@click.option(
    "--shots", is_flag=True, default=None, help="--fps plus the first frame of every shot."
)
@click.option(
    "--short-side",
    type=click.IntRange(16, 2160),
    default=None,
    help="Scale frames to this short side [224].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0),
    default=None,
    help="Decode worker processes [one per core, at most 4]; with 2 or more, a video of "
    "2 min or more is decoded by several at once.",
)
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Frames per encoder call [64]."
)
@click.option(
    "--decode-device",
    default="cpu",
    show_default=True,
    help="Where videos are decoded: cpu, or cuda / cuda:N for an NVIDIA GPU's video decoder.",
)
@click.option("--full-hash", is_flag=True, help="Identify files by hashing all their bytes.")
@_device_options
@_json_option
@_boundary
def index(
    paths: tuple[Path, ...],
    library: Path,
    encoder: str | None,
    fps: float | None,
    n_frames: int | None,
    keyframes: bool | None,
    shots: bool | None,
    short_side: int | None,
    workers: int | None,
    batch_size: int | None,
    decode_device: str,
    full_hash: bool,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Index videos (files or folders): add new files, skip unchanged ones, re-index changed ones.

    Exit status: 0 when every file was indexed or skipped, 3 when some could not be indexed (they
    are listed, with reasons, here and in `vidlens info`), 1 on errors, 130 when interrupted.
    """
    from .ingest import IngestConfig
    from .library import Library
    from .media import check_decode_device

    sampling = _sampling_from_flags(fps, n_frames, keyframes, shots, short_side)
    enc_cfg = _encoder_config(device, dtype, batch_size)
    icfg = IngestConfig(
        workers=workers or 0,
        batch_size=batch_size or 64,
        full_hash=full_hash,
        decode_device=decode_device,
    )
    check_decode_device(decode_device)  # before a library is created
    if not any(p.expanduser().exists() for p in paths):
        missing = ", ".join(str(p) for p in paths)
        raise ConfigError(f"no such file or folder: {missing}; check the path")
    with Library.open(
        library, encoder=encoder, sampling=sampling, create=True, encoder_config=enc_cfg
    ) as lib:
        progress, stop = _progress_bar(enabled=not as_json)
        try:
            report = lib.index(list(paths), config=icfg, progress=progress)
        finally:
            stop()
    if as_json:
        _echo_json(report.to_dict())
    else:
        t = report.timings
        click.echo(
            f"indexed {report.indexed}, skipped {report.skipped}, failed {len(report.failed)}: "
            f"{report.frames} frames from {report.seconds:.1f} s of video in "
            f"{t.get('wall_s', 0):.1f} s ({t.get('video_s_per_s', 0):.1f} video-s/s; decode "
            f"{t.get('decode_s', 0):.1f} s, encode {t.get('encode_s', 0):.1f} s, write "
            f"{t.get('write_s', 0):.1f} s)"
        )
        for path, same_as in report.duplicates:
            click.echo(f"  skipped: {path}: the same bytes as {same_as}, indexed once")
        for f in report.failed:
            click.echo(f"  failed: {_shown_path(f.path)}: {_shown_path(f.reason)}", err=True)
        if not (report.indexed or report.skipped or report.failed):
            from .ingest import VIDEO_EXTENSIONS

            click.echo(
                f"no video files found in {', '.join(str(p) for p in paths)} (looked for "
                f"{' '.join(VIDEO_EXTENSIONS)}; pass other files by name)",
                err=True,
            )
    if report.failed:
        sys.exit(EXIT_SOME_FAILED)


def _sampling_from_flags(
    fps: float | None,
    n_frames: int | None,
    keyframes: bool | None,
    shots: bool | None,
    short_side: int | None,
) -> SamplingConfig | None:
    chosen = (("frames", n_frames is not None), ("keyframes", keyframes), ("shots", shots))
    modes = [m for m, on in chosen if on]
    if len(modes) > 1:
        raise ConfigError(f"choose one sampling mode, got --{' and --'.join(modes)}")
    if not modes and fps is None and short_side is None:
        return None  # use the library's recipe (or the default for a new library)
    if n_frames is not None and fps is not None:
        raise ConfigError("--fps and --frames exclude each other")
    kw: dict[str, Any] = {"mode": modes[0] if modes else "fps"}
    if fps is not None:
        kw["fps"] = fps
    if n_frames is not None:
        kw["frames"] = n_frames
    if short_side is not None:
        kw["short_side"] = short_side
    return SamplingConfig(**kw)


def _progress_bar(enabled: bool) -> tuple[Any, Callable[[], None]]:
    if not enabled or not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("[bold]indexing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files · {task.fields[secs]:.0f} s video · {task.fields[fps]:.0f} frames/s"),
        TimeElapsedColumn(),
        transient=True,
    )
    bar.start()
    task = bar.add_task("index", total=None, secs=0.0, fps=0.0)

    def update(ev: Any) -> None:
        elapsed = bar.tasks[0].elapsed or 1e-9
        bar.update(
            task,
            total=ev.files_total,
            completed=ev.files_done,
            secs=ev.seconds,
            fps=ev.frames / elapsed,
        )

    return update, bar.stop


# ----------------------------------------------------------------------------- queries
@main.command()
@click.argument("text", required=False)
@_library_option
@click.option(
    "--image",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Query by an example image (alone or with TEXT), or by a frame of a video: "
    "FILE@SECONDS, or ID@SECONDS for the frame an indexed video stored there.",
)
@click.option("--not", "negative", default=None, help="Push results away from this concept.")
@click.option("--top-k", type=click.IntRange(1, MAX_TOP_K), default=10, show_default=True)
@click.option(
    "--aggregation",
    type=click.Choice(AGGREGATIONS),
    default=None,
    help="How frame scores make a video score [topk-mean]; temporal: the encoder's temporal "
    "head (vidlens-tiny).",
)
@_device_options
@_json_option
@_boundary
def search(
    text: str | None,
    library: Path,
    image: Path | None,
    negative: str | None,
    top_k: int,
    aggregation: str | None,
    device: str | None,
    dtype: str | None,
    as_json: bool,
) -> None:
    """Find the videos that show TEXT, each with its best moments."""
    from .library import Library

    if text is None and image is None:
        raise click.UsageError("give a query TEXT, --image PATH, or both")
    if text is not None and not text.strip():
        raise click.UsageError(
            f"the query TEXT is empty ({text!r}); say what to look for, e.g. "
            "vidlens search 'a red car', or leave it out and pass --image PATH"
        )
    if negative is not None and not negative.strip():
        raise click.UsageError("--not needs a concept to push results away from, got ''")
    with Library.open(library, readonly=True, encoder_config=_encoder_config(device, dtype)) as lib:
        res = lib.search(
            text, image=image, negative=negative, top_k=top_k, config=_search_config(aggregation)
        )
    if as_json:
        _echo_json(res.to_dict())
        return
    if not res.results:
        click.echo("no videos in the library yet; add some with: vidlens index VIDEOS...")
        return
    for rank, hit in enumerate(res.results, 1):
        click.echo(
            f"{rank:2d}. {_shown_path(hit.path)}  score {hit.score:.4f}  "
            f"({_seconds(hit.duration_s)} s)"
        )
        moments = ", ".join(f"{s:.1f}-{e:.1f} s ({sc:.3f})" for s, e, sc in hit.moments[:3])
        click.echo(f"    moments: {moments}")


def _search_config(aggregation: str | None) -> Any:
    from .library import SearchConfig
    from .query.aggregate import AggregationConfig

    if aggregation is None:
        return SearchConfig()
    return SearchConfig(aggregation=AggregationConfig(method=aggregation))


@main.command()
@click.argument("video")
@click.argument("text")
@_library_option
@_device_options
@_json_option
@_boundary
def moments(
    video: str, text: str, library: Path, device: str | None, dtype: str | None, as_json: bool
) -> None:
    """Moments of one VIDEO (path or id) that match TEXT, in the QVHighlights fields."""
    from .library import Library

    if not text.strip():
        raise click.UsageError(f"the query TEXT is empty ({text!r}); say what to look for")
    with Library.open(library, readonly=True, encoder_config=_encoder_config(device, dtype)) as lib:
        out = lib.moments(video, text)
    if as_json:
        _echo_json(out)
        return
    click.echo(f"{_shown_path(out['path'])} ({_seconds(out['duration'])} s): {text}")
    for s, e, sc in out["pred_relevant_windows"]:
        click.echo(f"  {s:8.2f} - {e:8.2f} s   score {sc:.4f}")


# ----------------------------------------------------------------------------- library
@main.command()
@_library_option
@click.option("--videos", "list_videos", is_flag=True, help="Also list every indexed video.")
@_json_option
@_boundary
def info(library: Path, list_videos: bool, as_json: bool) -> None:
    """Counts, encoder, sampling recipe, disk size and failed files of a library."""
    from .library import Library

    with Library.open(library, readonly=True) as lib:
        d = lib.info()
        if list_videos:
            d["video_list"] = [
                {
                    "id": v.id,
                    "path": v.path,
                    "duration_s": v.duration_s,
                    "frames": v.row_count,  # sampled (embedded) frames
                    "fps": v.fps,
                    "frame_count": v.frame_count,
                    "width": v.width,
                    "height": v.height,
                    "rotation": v.rotation,
                    "start_s": v.start_s,
                    "codec": v.codec,
                    "has_audio": v.has_audio,
                    "size_bytes": v.size_bytes,
                    "indexed_at": v.indexed_at,
                }
                for v in lib.videos()
            ]
    if as_json:
        _echo_json(d)
        return
    click.echo(f"library   {_shown_path(d['library'])}")
    click.echo(
        f"videos    {d['videos']} ({_seconds(d['seconds'])} s of video, {d['frames']} frames)"
    )
    click.echo(f"encoder   {d['encoder']['id']} (dim {d['encoder']['dim']})")
    click.echo(f"sampling  {SamplingConfig.from_dict(d['sampling']).describe()}")
    click.echo(f"disk      {d['disk_bytes'] / 1e6:.1f} MB")
    for v in d.get("video_list", []):
        media = f"{v['width']}x{v['height']} {v['fps']:.2f} fps {v['codec']}"
        if v["rotation"]:
            media += f" (turned {v['rotation']}°)"
        click.echo(
            f"  {v['id'][:12]}  {_seconds(v['duration_s']):>8} s  {v['frames']:6d} fr  "
            f"{media:<26}  {_shown_path(v['path'])}"
        )
    if d["failed"]:
        click.echo(f"failed    {len(d['failed'])} file(s):")
        for f in d["failed"]:
            click.echo(f"  {_shown_path(f['path'])}: {_shown_path(f['reason'])}")
    if d["damaged"]:
        click.echo(
            f"damaged   {len(d['damaged'])} video(s) whose files in the library are missing or "
            "cut short (vidlens index PATH repairs them):"
        )
        for v in d["damaged"]:
            click.echo(f"  {v['video_id'][:12]}  {_shown_path(v['path'])}: {v['reason']}")


def _seconds(s: float) -> str:
    """A duration for text output: 0.04, not 0.0, for clips shorter than a second."""
    return f"{s:.2f}" if 0 < s < 1 else f"{s:.1f}"


def _shown_path(text: str) -> str:
    """``text`` with control and other unprintable characters escaped (a newline as \\n), so a
    file name cannot break a line of text output. --json keeps the real path."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


@main.command()
@click.argument("videos", nargs=-1)
@_library_option
@click.option("--missing", is_flag=True, help="Forget every video whose file no longer exists.")
@_json_option
@_boundary
def remove(videos: tuple[str, ...], library: Path, missing: bool, as_json: bool) -> None:
    """Forget VIDEOS (paths or ids) from the library; --missing forgets deleted files."""
    from .library import Library

    if not videos and not missing:
        raise click.UsageError("name videos to remove, or pass --missing")
    with Library.open(library) as lib:
        removed = lib.remove(videos, missing=missing)
    if as_json:
        _echo_json({"removed": [{"id": r.id, "path": r.path} for r in removed]})
    else:
        click.echo(f"removed {len(removed)} video(s)")
        for r in removed:
            click.echo(f"  {r.path}")


@main.command("encoders")
@_json_option
def encoders_cmd(as_json: bool) -> None:
    """List the registered encoder names (built-in and plugins)."""
    names = list_encoders()
    if as_json:
        _echo_json({"encoders": names})
    else:
        for n in names:
            click.echo(n)


def _attach_optional_groups() -> None:
    try:
        from .eval.cli import eval_group
    except ImportError as exc:  # pragma: no cover - the eval package ships with vidlens
        logger.debug("eval commands unavailable: %s", exc)
    else:
        main.add_command(eval_group)
    from .classify_cli import classify
    from .server.cli import serve
    from .synth.cli import synth_command
    from .train.cli import train_command

    main.add_command(classify)
    main.add_command(serve)
    main.add_command(synth_command)
    main.add_command(train_command)


_attach_optional_groups()

if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
