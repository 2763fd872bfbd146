"""The ``vidlens`` command line as a user types it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from colour_world import make_world  # type: ignore[import-not-found]

from vidlens.cli import EXIT_SOME_FAILED, main


@pytest.fixture(scope="module")
def cli_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("cli")
    make_world(d / "videos")
    lib = d / "lib"
    r = CliRunner().invoke(
        main,
        ["index", str(d / "videos"), "--library", str(lib), "--encoder", "colour-test", "--json"],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["indexed"] == 3 and summary["failed"] == [] and summary["frames"] == 60
    assert summary["seconds"] == pytest.approx(60.0, abs=0.5)
    return d / "videos", lib


def test_search_json(cli_library: tuple[Path, Path]) -> None:
    _, lib = cli_library
    r = CliRunner().invoke(main, ["search", "red", "--library", str(lib), "--json", "--top-k", "2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["query"] == "red"
    first = out["results"][0]
    assert Path(first["path"]).name == "red_8_14.mp4"
    assert set(first) >= {"video_id", "path", "score", "moments", "saliency"}
    st, ed, _ = first["moments"][0]
    assert abs(st - 8) <= 1 and abs(ed - 14) <= 1
    assert len(out["results"]) == 2


def test_search_text_output_names_the_video_and_seconds(cli_library: tuple[Path, Path]) -> None:
    _, lib = cli_library
    r = CliRunner().invoke(main, ["search", "green", "--library", str(lib)])
    assert r.exit_code == 0
    first = r.stdout.splitlines()[0]
    assert "green_then_yellow.mp4" in first
    assert "moments: 0.0-5.0 s" in r.stdout or "moments: 0.0-4." in r.stdout


def test_moments_command(cli_library: tuple[Path, Path]) -> None:
    videos, lib = cli_library
    r = CliRunner().invoke(
        main,
        [
            "moments",
            str(videos / "green_then_yellow.mp4"),
            "yellow",
            "--library",
            str(lib),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    st, ed, _ = out["pred_relevant_windows"][0]
    assert abs(st - 15) <= 1 and abs(ed - 20) <= 1
    assert len(out["pred_saliency_scores"]) == 10


def test_info_json(cli_library: tuple[Path, Path]) -> None:
    _, lib = cli_library
    r = CliRunner().invoke(main, ["info", "--library", str(lib), "--json", "--videos"])
    assert r.exit_code == 0
    d = json.loads(r.stdout)
    assert (d["videos"], d["frames"]) == (3, 60)
    assert d["encoder"]["id"] == "colour-test"
    assert d["sampling"] == {"mode": "fps", "fps": 1.0, "short_side": 224}
    assert d["disk_bytes"] > 0 and d["failed"] == []
    assert sorted(Path(v["path"]).name for v in d["video_list"]) == [
        "blue_all.mp4",
        "green_then_yellow.mp4",
        "red_8_14.mp4",
    ]
    red = next(v for v in d["video_list"] if v["path"].endswith("red_8_14.mp4"))
    assert red["frames"] == 20 and red["frame_count"] == 200 and red["duration_s"] == 20.0
    assert (red["width"], red["height"], red["fps"], red["codec"]) == (64, 48, 10.0, "h264")
    assert (red["rotation"], red["start_s"], red["has_audio"]) == (0, 0.0, False)
    text = CliRunner().invoke(main, ["info", "--library", str(lib), "--videos"]).stdout
    line = next(ln for ln in text.splitlines() if ln.endswith("red_8_14.mp4"))
    assert "20.0 s" in line and "20 fr" in line and "64x48 10.00 fps h264" in line


def test_info_text_of_a_short_clip_and_an_odd_name(tmp_path: Path) -> None:
    """A 0.04-s clip read "0.0 s"; a newline in a file name split the video's line in two."""
    from videogen import write_colour_video  # type: ignore[import-not-found]

    videos = tmp_path / "videos"
    videos.mkdir()
    write_colour_video(videos / "blink.mp4", [(0.04, (220, 30, 30))], fps=25)
    odd = write_colour_video(videos / "two\nlines\x1b[31m.mp4", [(2.0, (220, 30, 30))], fps=10)
    lib = str(tmp_path / "lib")
    r = CliRunner().invoke(
        main, ["index", str(videos), "--library", lib, "--encoder", "colour-test"]
    )
    assert r.exit_code == 0, r.output
    text = CliRunner().invoke(main, ["info", "--library", lib, "--videos"]).stdout
    assert "videos    2 (2.0 s of video, 3 frames)" in text
    lines = text.splitlines()
    (blink,) = [ln for ln in lines if ln.endswith("blink.mp4")]
    assert " 0.04 s " in blink
    (two,) = [ln for ln in lines if "two" in ln]
    assert two.endswith(f"{videos}/two\\nlines\\x1b[31m.mp4") and " 2.0 s " in two
    assert len(lines) == 7, "one line per video"
    out = json.loads(
        CliRunner().invoke(main, ["info", "--library", lib, "--videos", "--json"]).stdout
    )
    assert sorted(v["path"] for v in out["video_list"]) == [str(videos / "blink.mp4"), str(odd)]
    assert min(v["duration_s"] for v in out["video_list"]) == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "red", "--library", "{missing}"], "no vidlens library"),
        (["index", "{videos}", "--library", "{lib}", "--fps", "2"], "sampling: library uses 1 fps"),
        (
            ["index", "{videos}", "--library", "{lib}", "--short-side", "112"],
            "(library short_side=224, asked short_side=112). Omit --encoder/--fps/--frames/"
            "--keyframes/--shots/--short-side",
        ),
        (
            ["index", "{videos}", "--library", "{new}", "--encoder", "nope"],
            "unknown encoder 'nope'",
        ),
        (
            ["index", "{videos}", "--library", "{new}", "--encoder", "ViT-B-32/openai"],
            "did you mean openclip:ViT-B-32/openai",
        ),
        (
            ["index", "{videos}", "--library", "{new}", "--decode-device", "gpu"],
            "decode device must be cpu, cuda or cuda:N",
        ),
        (["moments", "nope.mp4", "red", "--library", "{lib}"], "no indexed video"),
    ],
)
def test_errors_are_one_line_with_a_fix(
    cli_library: tuple[Path, Path], tmp_path: Path, args: list[str], message: str
) -> None:
    videos, lib = cli_library
    subs = {
        "{missing}": str(tmp_path / "absent"),
        "{videos}": str(videos),
        "{lib}": str(lib),
        "{new}": str(tmp_path / "new"),
    }
    r = CliRunner().invoke(main, [subs.get(a, a) for a in args])
    assert r.exit_code == 1, r.output
    err = r.stderr.strip()
    assert err.startswith("Error: ") and "\n" not in err and message in err, err
    assert "Traceback" not in r.output


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--fps", "0"),
        ("--fps", "500"),
        ("--frames", "0"),
        ("--short-side", "8"),
        ("--workers", "-1"),
        ("--batch-size", "0"),
    ],
)
def test_out_of_range_values_are_usage_errors(
    cli_library: tuple[Path, Path], tmp_path: Path, flag: str, value: str
) -> None:
    """Exit 2 (usage) naming the flag and its range; never a silent default in its place (a
    0 once gave 1 fps for --frames, 64 for --batch-size), and no library is created."""
    videos, _ = cli_library
    new = tmp_path / "new"
    r = CliRunner().invoke(main, ["index", str(videos), "--library", str(new), flag, value])
    assert r.exit_code == 2, r.output
    assert f"Invalid value for '{flag}'" in r.stderr and "range" in r.stderr, r.stderr
    assert not new.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "give a query TEXT, --image PATH, or both"),
        (["search", "red", "--not", " "], "--not needs a concept"),
        (["search", ""], "the query TEXT is empty ('')"),
        (["search", "  ", "--not", "blue"], "the query TEXT is empty ('  ')"),
        (["moments", "red_8_14.mp4", ""], "the query TEXT is empty ('')"),
        (["search", "red", "--top-k", "1001"], "1<=x<=1000"),
    ],
)
def test_search_usage_errors(cli_library: tuple[Path, Path], args: list[str], message: str) -> None:
    _, lib = cli_library
    r = CliRunner().invoke(main, [*args, "--library", str(lib)])
    assert r.exit_code == 2, r.output
    assert message in r.stderr


def test_copies_are_indexed_once_and_named(cli_library: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    videos, _ = cli_library
    shutil.copytree(videos, tmp_path / "videos")
    shutil.copy(videos / "blue_all.mp4", tmp_path / "videos" / "blue_copy.mp4")
    lib = tmp_path / "lib"
    args = ["index", str(tmp_path / "videos"), "--library", str(lib), "--encoder", "colour-test"]
    r = CliRunner().invoke(main, [*args, "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert (out["indexed"], out["skipped"]) == (3, 1)
    blue = str(tmp_path / "videos" / "blue_all.mp4")
    copy = str(tmp_path / "videos" / "blue_copy.mp4")
    assert out["duplicates"] == [{"path": copy, "same_as": blue}]
    shutil.copy(videos / "blue_all.mp4", tmp_path / "again.mp4")  # a later run: against the library
    r = CliRunner().invoke(main, ["index", str(tmp_path / "again.mp4"), "--library", str(lib)])
    assert r.exit_code == 0, r.output
    again = tmp_path / "again.mp4"
    assert f"  skipped: {again}: the same bytes as {blue}, indexed once" in r.stdout


def test_index_of_a_mistyped_path_or_an_empty_folder(tmp_path: Path) -> None:
    new = tmp_path / "lib"
    r = CliRunner().invoke(main, ["index", str(tmp_path / "typo"), "--library", str(new)])
    assert r.exit_code == 1, r.output
    assert r.stderr.strip() == f"Error: no such file or folder: {tmp_path / 'typo'}; check the path"
    assert not new.exists()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("not a video")
    args = ["index", str(tmp_path / "empty"), "--library", str(new), "--encoder", "colour-test"]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert f"no video files found in {tmp_path / 'empty'} (looked for .mp4" in r.stderr


def test_decode_device_without_a_gpu(cli_library: tuple[Path, Path], tmp_path: Path) -> None:
    """Asking for the GPU's video decoder where FFmpeg cannot open one: a one-line error before
    any library is created."""
    from vidlens.errors import ConfigError
    from vidlens.media import check_decode_device

    try:
        check_decode_device("cuda")
    except ConfigError:
        pass
    else:
        pytest.skip("FFmpeg can decode on CUDA here")
    videos, _ = cli_library
    new = tmp_path / "new"
    args = ["index", str(videos), "--library", str(new), "--decode-device", "cuda"]
    r = CliRunner().invoke(main, [*args, "--encoder", "colour-test"])
    assert r.exit_code == 1, r.output
    err = r.stderr.strip()
    assert err.startswith("Error: decode device cuda: FFmpeg cannot open CUDA device 0"), err
    assert "leave decoding on the CPU" in err and "\n" not in err
    assert not new.exists()


def test_index_bad_inputs_reports_failures_and_goes_on(tmp_path: Path) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from videogen import UNREADABLE_INPUTS, make_bad_input_corpus  # type: ignore[import-not-found]

    corpus = make_bad_input_corpus(tmp_path / "bad")
    r = CliRunner().invoke(
        main,
        [
            "index",
            str(tmp_path / "bad"),
            "--library",
            str(tmp_path / "lib"),
            "--encoder",
            "colour-test",
            "--json",
        ],
    )
    assert r.exit_code == EXIT_SOME_FAILED, r.output
    summary = json.loads(r.stdout)
    failed = {Path(f["path"]).name: f["reason"] for f in summary["failed"]}
    expected_failed = {corpus[n].name for n in UNREADABLE_INPUTS if n != "missing"}
    assert set(failed) == expected_failed, failed
    assert all(reason and "\n" not in reason for reason in failed.values())
    present = [n for n in corpus if corpus[n].exists()]
    assert summary["indexed"] == len(present) - len(expected_failed)
    info = json.loads(
        CliRunner().invoke(main, ["info", "--library", str(tmp_path / "lib"), "--json"]).stdout
    )
    assert {Path(f["path"]).name for f in info["failed"]} == expected_failed
