"""A damaged, read-only or half-deleted library: users get one line saying what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from vidlens.cli import main
from vidlens.errors import LibraryError
from vidlens.ingest import IngestConfig
from vidlens.library import Library


@pytest.fixture()
def small_library(world_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        lib.index([world_dir], config=IngestConfig(workers=1))
    return root


def test_a_database_that_is_not_sqlite_is_a_one_line_error(
    small_library: Path, world_dir: Path
) -> None:
    (small_library / "library.db").write_bytes(b"not a database " * 400)
    for name in ("library.db-wal", "library.db-shm"):
        (small_library / name).unlink(missing_ok=True)
    for args in (["search", "red"], ["info"], ["index", str(world_dir / "blue_all.mp4")]):
        r = CliRunner().invoke(main, [*args, "--library", str(small_library)])
        assert r.exit_code == 1, (args, r.output)
        assert "is not a vidlens library database" in r.stderr, (args, r.stderr)
        assert r.exception is None or isinstance(r.exception, SystemExit)


def _read_only_mount_works() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind -o ro /tmp /tmp"], capture_output=True
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _read_only_mount_works(), reason="needs unshare + mount (a read-only bind mount)"
)
def test_a_library_on_read_only_storage_is_searchable(small_library: Path, world_dir: Path) -> None:
    """A library copied to a read-only share: search and info work, index says why it cannot."""
    for name in ("library.db-wal", "library.db-shm"):  # as after a clean close or a plain copy
        assert not (small_library / name).exists()
    vidlens = [str(Path(sys.executable).parent / "vidlens")]
    lib = str(small_library)
    script = (
        f"mount --bind -o ro {lib} {lib} && "
        f"{' '.join(vidlens)} search red --library {lib} --json > {lib}.search.json; "
        f"echo search=$?; {' '.join(vidlens)} info --library {lib} --json > /dev/null; "
        f"echo info=$?; {' '.join(vidlens)} index {world_dir / 'blue_all.mp4'} --library {lib}; "
        "echo index=$?"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    r = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, env=env
    )
    assert "search=0" in r.stdout and "info=0" in r.stdout, r.stdout + r.stderr
    assert "index=1" in r.stdout, r.stdout + r.stderr
    assert "cannot write to the library" in r.stderr and "Read-only file system" in r.stderr
    assert "Traceback" not in r.stderr
    hits = json.loads(Path(f"{lib}.search.json").read_text())["results"]
    assert Path(hits[0]["path"]).name == "red_8_14.mp4"


def test_a_library_folder_that_cannot_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(LibraryError, match="cannot create the library folder"):
        Library.open(tmp_path / "file" / "lib", encoder="colour-test", create=True)


@pytest.mark.parametrize("damage", ["deleted", "cut short", "zeroed"])
def test_a_damaged_vector_file_costs_one_video_and_index_repairs_it(
    small_library: Path, world_dir: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Library.open(small_library, readonly=True) as lib:
        red = lib.video(str(world_dir / "red_8_14.mp4"))
    shard = small_library / "vectors" / f"{red.row_start:012d}.npy"
    if damage == "deleted":
        shard.unlink()
    elif damage == "cut short":
        shard.write_bytes(shard.read_bytes()[:200])
    else:  # the right size, all zeros (what a crash or power loss can leave)
        shard.write_bytes(bytes(shard.stat().st_size))
    with Library.open(small_library, readonly=True) as lib:
        with caplog.at_level("WARNING"):
            hits = lib.search("red", top_k=5).results
        # the other videos are still searched; the damaged one is named, with the fix
        assert sorted(Path(h.path).name for h in hits) == ["blue_all.mp4", "green_then_yellow.mp4"]
        warned = [
            r.getMessage() for r in caplog.records if "left out of searches" in r.getMessage()
        ]
        assert len(warned) == 1 and "red_8_14.mp4" in warned[0] and "vidlens index" in warned[0]
        assert [d["path"] for d in lib.info()["damaged"]] == [red.path]
        with pytest.raises(LibraryError, match=r"red_8_14\.mp4.*vidlens index"):
            lib.moments(red.id, "red")
    with Library.open(small_library) as lib:
        report = lib.index([world_dir], config=IngestConfig(workers=1))
        assert (report.indexed, report.skipped) == (1, 2)
        assert lib.info()["damaged"] == []
        first = lib.search("red", top_k=1).results[0]
        assert Path(first.path).name == "red_8_14.mp4"
        assert tuple(first.moments[0][:2]) == (8.0, 14.0)


def test_info_names_damaged_videos(small_library: Path, world_dir: Path) -> None:
    with Library.open(small_library, readonly=True) as lib:
        blue = lib.video(str(world_dir / "blue_all.mp4"))
    (small_library / "thumbs" / f"{blue.id}-{blue.row_start}.jpgs").unlink()  # thumbnails lost
    r = CliRunner().invoke(main, ["info", "--library", str(small_library)])
    assert r.exit_code == 0, r.output
    assert "damaged   1 video(s) whose files in the library are missing or cut short" in r.stdout
    line = r.stdout.splitlines()[-1]
    assert line.startswith(f"  {blue.id[:12]}  {blue.path}: its thumbnail file ")
    assert line.endswith("is missing")
    with Library.open(small_library) as lib:
        assert lib.index([world_dir], config=IngestConfig(workers=1)).indexed == 1
    r = CliRunner().invoke(main, ["info", "--library", str(small_library)])
    assert "\ndamaged " not in r.stdout


def test_a_damaged_video_that_moved_is_repaired_in_one_run(
    small_library: Path, world_dir: Path, tmp_path: Path
) -> None:
    with Library.open(small_library, readonly=True) as lib:
        red = lib.video(str(world_dir / "red_8_14.mp4"))
    (small_library / "vectors" / f"{red.row_start:012d}.npy").write_bytes(b"\x93NUMPY")
    moved = tmp_path / "moved" / "red.mp4"
    moved.parent.mkdir()
    shutil.copy(world_dir / "red_8_14.mp4", moved)  # same bytes, new path (the old one stays)
    (world_dir / "red_8_14.mp4").rename(tmp_path / "red_8_14.mp4")
    try:
        with Library.open(small_library) as lib:
            report = lib.index([moved.parent], config=IngestConfig(workers=1))
            assert (report.indexed, report.skipped) == (1, 0)
            assert lib.info()["damaged"] == []
            assert lib.video(red.id).path == str(moved)
            assert Path(lib.search("red", top_k=1).results[0].path) == moved
    finally:
        (tmp_path / "red_8_14.mp4").rename(world_dir / "red_8_14.mp4")


def _without_root_powers() -> list[str] | None:
    """A command prefix that drops root's power to ignore file permissions, or None."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return None
    prefix = [
        "setpriv",
        "--bounding-set=-dac_override,-dac_read_search,-fowner",
        "--inh-caps=-all",
        "--",
    ]
    if subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        return None
    return prefix


@pytest.mark.skipif(_without_root_powers() is None, reason="needs root and setpriv")
def test_a_library_the_user_cannot_write_is_searchable(
    small_library: Path, world_dir: Path
) -> None:
    """Someone else's library (readable, not writable): search works, index says why not."""
    prefix = _without_root_powers()
    assert prefix is not None
    for p in [small_library, *small_library.rglob("*")]:
        os.chown(p, 65534, 65534)  # nobody
        p.chmod(0o755 if p.is_dir() else 0o644)
    vidlens = str(Path(sys.executable).parent / "vidlens")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    lib = str(small_library)
    r = subprocess.run(
        [*prefix, vidlens, "search", "red", "--library", lib, "--json"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert Path(json.loads(r.stdout)["results"][0]["path"]).name == "red_8_14.mp4"
    r = subprocess.run(
        [*prefix, vidlens, "index", str(world_dir), "--library", lib],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert r.returncode == 1
    assert "cannot write to the library" in r.stderr and "Permission denied" in r.stderr
    assert "Traceback" not in r.stderr
