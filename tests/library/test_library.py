"""End-to-end behaviour of a library: index colour videos, then search and cut moments."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from colour_world import RED, make_world  # type: ignore[import-not-found]

from videogen import write_colour_video  # type: ignore[import-not-found]
from vidlens.errors import LibraryError, QueryError
from vidlens.ingest import IngestConfig
from vidlens.library import Library


def _names(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [Path(h.path).name for h in res.results]


@pytest.mark.parametrize(
    ("query", "video", "window"),
    [
        ("a red scene", "red_8_14.mp4", (8.0, 14.0)),
        ("green", "green_then_yellow.mp4", (0.0, 5.0)),
        ("something yellow", "green_then_yellow.mp4", (15.0, 20.0)),
        ("blue", "blue_all.mp4", (0.0, 20.0)),
    ],
)
def test_search_ranks_the_right_video_with_the_right_seconds(
    world_library: Path, query: str, video: str, window: tuple[float, float]
) -> None:
    with Library.open(world_library, readonly=True) as lib:
        res = lib.search(query, top_k=3)
    assert _names(res)[0] == video
    best = res.results[0]
    start, end, _ = best.moments[0]
    # a 1 fps frame stands for the second after it, so scene cuts on whole seconds are exact
    assert abs(start - window[0]) <= 0.25 and abs(end - window[1]) <= 0.25, best.moments
    assert len(best.saliency) == math.ceil(best.duration_s / 2)
    assert best.score > res.results[1].score


def test_saliency_peaks_inside_the_moment(world_library: Path) -> None:
    with Library.open(world_library, readonly=True) as lib:
        hit = lib.search("red", top_k=1).results[0]
    sal = np.array(hit.saliency)
    inside = sal[4:7]  # clips 8-10, 10-12, 12-14 s
    outside = np.concatenate([sal[:3], sal[8:]])
    assert inside.min() > outside.max()


def test_negative_concept_pushes_results_away(world_library: Path) -> None:
    with Library.open(world_library, readonly=True) as lib:
        away_from_blue = _names(lib.search("red and blue", negative="blue", top_k=3))
        away_from_red = _names(lib.search("red and blue", negative="red", top_k=3))
    assert away_from_blue[0] == "red_8_14.mp4"
    assert away_from_red[0] == "blue_all.mp4"


def test_query_by_example_image(world_library: Path, tmp_path: Path) -> None:
    from PIL import Image

    img = tmp_path / "green.png"
    Image.new("RGB", (40, 30), (30, 200, 30)).save(img)
    with Library.open(world_library, readonly=True) as lib:
        res = lib.search(image=img, top_k=3)
    assert _names(res)[0] == "green_then_yellow.mp4"
    s, e, _ = res.results[0].moments[0]
    assert abs(s - 0.0) <= 1.0 and abs(e - 5.0) <= 1.0


def test_query_by_a_frame_of_a_video(world_library: Path, world_dir: Path) -> None:
    video = world_dir / "green_then_yellow.mp4"  # green 0-5 s, yellow 15-20 s
    with Library.open(world_library, readonly=True) as lib:
        yellow = lib.search(image=f"{video}@17.5", top_k=3)
        green = lib.search(image=f"{video}@2", top_k=3)
        with pytest.raises(QueryError, match=r"is a video; .*@SECONDS"):
            lib.search(image=video)
        with pytest.raises(QueryError, match=r"20\.00 s long"):
            lib.search(image=f"{video}@25")
        end = lib.search(image=f"{video}@20", top_k=1)  # the very end: the last frame
    assert _names(end) == ["green_then_yellow.mp4"]
    assert end.results[0].moments[0][1] == pytest.approx(20.0, abs=1.0)
    assert _names(yellow)[0] == _names(green)[0] == "green_then_yellow.mp4"
    s, e, _ = yellow.results[0].moments[0]
    assert abs(s - 15.0) <= 1.0 and abs(e - 20.0) <= 1.0
    s, e, _ = green.results[0].moments[0]
    assert abs(s - 0.0) <= 1.0 and abs(e - 5.0) <= 1.0


def test_query_by_a_stored_frame_of_an_indexed_video(
    world_library: Path, world_dir: Path, tmp_path: Path
) -> None:
    """``ID@SECONDS`` takes the frame the library sampled there: no file is read."""
    with Library.open(world_library, readonly=True) as lib:
        rec = lib.video(str(world_dir / "green_then_yellow.mp4"))
        by_id = lib.search(image=f"{rec.id[:8]}@17.4", top_k=3)
        by_file = lib.search(image=f"{world_dir / 'green_then_yellow.mp4'}@17", top_k=3)
        red_id = lib.video(str(world_dir / "red_8_14.mp4")).id
        red = lib.search(image=f"{red_id}@10", top_k=1)
        both = lib.search("red", image=f"{red_id}@10", negative="blue", top_k=1)
        with pytest.raises(QueryError, match=r"20\.00 s long; give a time in 0\.\.20\.00"):
            lib.search(image=f"{rec.id}@31")
        with pytest.raises(QueryError, match="neither a video file nor a video of this library"):
            lib.search(image=f"{tmp_path / 'gone.mp4'}@3")
    assert by_id.query == f"image:{rec.id[:8]}@17.4"
    assert _names(by_id)[0] == "green_then_yellow.mp4"
    s, e, _ = by_id.results[0].moments[0]
    assert abs(s - 15.0) <= 1.0 and abs(e - 20.0) <= 1.0
    assert by_id.results[0].score == pytest.approx(by_file.results[0].score, abs=1e-3)
    assert _names(red) == ["red_8_14.mp4"] == _names(both)
    assert both.query == f"red + image:{red_id}@10 --not blue"  # what was asked, all of it
    s, e, _ = red.results[0].moments[0]
    assert abs(s - 8.0) <= 1.0 and abs(e - 14.0) <= 1.0


def test_moments_in_qvhighlights_fields(world_library: Path, world_dir: Path) -> None:
    with Library.open(world_library, readonly=True) as lib:
        out = lib.moments(str(world_dir / "red_8_14.mp4"), "red", qid=7)
    assert set(out) >= {"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}
    st, ed, score = out["pred_relevant_windows"][0]
    assert abs(st - 8.0) <= 0.25 and abs(ed - 14.0) <= 0.25
    assert all(isinstance(x, float) for x in (st, ed, score))
    assert len(out["pred_saliency_scores"]) == 10


def test_frame_times_are_presentation_times(world_library: Path, world_dir: Path) -> None:
    with Library.open(world_library, readonly=True) as lib:
        rec = lib.video(str(world_dir / "blue_all.mp4"))
        times = lib.frame_times(rec.id)
        thumb = lib.thumbnail(rec.id, 3)
    np.testing.assert_allclose(times, np.arange(20.0), atol=0.051)
    assert rec.row_count == 20 and rec.duration_s == pytest.approx(20.0, abs=0.11)
    assert thumb[:2] == b"\xff\xd8"  # a JPEG


def test_empty_query_and_unknown_video_are_clear_errors(world_library: Path) -> None:
    with Library.open(world_library, readonly=True) as lib:
        with pytest.raises(QueryError, match="empty query"):
            lib.search("   ")
        with pytest.raises(QueryError, match="no indexed video"):
            lib.moments("nope.mp4", "red")


def test_reindex_skips_unchanged_reindexes_changed_and_follows_moves(tmp_path: Path) -> None:
    src = tmp_path / "videos"
    paths = make_world(src)
    root = tmp_path / "lib"
    cfg = IngestConfig(workers=1)
    with Library.open(root, encoder="colour-test", create=True) as lib:
        assert lib.index([src], config=cfg).indexed == 3
        again = lib.index([src], config=cfg)
        assert (again.indexed, again.skipped) == (0, 3)
        # change one file's content: it is re-indexed in place
        write_colour_video(paths["blue_all.mp4"], [(10.0, RED)], fps=10.0)
        changed = lib.index([src], config=cfg)
        assert (changed.indexed, changed.skipped) == (1, 2)
        assert len(lib.videos()) == 3
        assert _names(lib.search("red", top_k=1))[0] == "blue_all.mp4"
        # move a file: recognised by content, not decoded again
        moved = src / "sub" / "moved.mp4"
        moved.parent.mkdir()
        shutil.move(paths["green_then_yellow.mp4"], moved)
        report = lib.index([src], config=cfg)
        assert (report.indexed, report.skipped) == (0, 3)
        assert _names(lib.search("green", top_k=1))[0] == "moved.mp4"
        # forget one video
        removed = lib.remove([str(paths["red_8_14.mp4"])])
        assert [Path(r.path).name for r in removed] == ["red_8_14.mp4"]
        assert "red_8_14.mp4" not in _names(lib.search("black", top_k=5))
        assert len(lib.videos()) == 2
        # no file is left behind by replaced or removed videos
        shards = {p.name for p in (root / "vectors").iterdir()}
        assert shards == {v.row_start.__format__("012d") + ".npy" for v in lib.videos()}


def test_remove_missing_forgets_deleted_files(tmp_path: Path) -> None:
    src = tmp_path / "videos"
    paths = make_world(src)
    with Library.open(tmp_path / "lib", encoder="colour-test", create=True) as lib:
        lib.index([src], config=IngestConfig(workers=1))
        paths["blue_all.mp4"].unlink()
        removed = lib.remove(missing=True)
        assert [Path(r.path).name for r in removed] == ["blue_all.mp4"]
        assert len(lib.videos()) == 2


def test_open_with_a_different_recipe_or_encoder_says_what_differs(world_library: Path) -> None:
    from vidlens.config import SamplingConfig

    with pytest.raises(LibraryError, match="sampling: library uses 1 fps"):
        Library.open(world_library, sampling=SamplingConfig(fps=2.0))
    with pytest.raises(LibraryError, match="encoder: library has 'colour-test'"):
        Library.open(world_library, encoder="openclip:ViT-B-32/openai")


def test_missing_library_and_non_library_folder(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no vidlens library"):
        Library.open(tmp_path / "absent")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("mine")
    with pytest.raises(LibraryError, match="not empty"):
        Library.open(tmp_path / "full", encoder="colour-test", create=True)
    assert (tmp_path / "full" / "notes.txt").read_text() == "mine"


def test_one_writer_at_a_time(world_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    with Library.open(root, encoder="colour-test", create=True) as a:
        a.index([world_dir / "blue_all.mp4"], config=IngestConfig(workers=1))
        with Library.open(root) as b, pytest.raises(LibraryError, match="another vidlens process"):
            b.remove([str(world_dir / "blue_all.mp4")])


def test_reader_sees_new_videos_once_committed(world_dir: Path, tmp_path: Path) -> None:
    root = tmp_path / "lib"
    with Library.open(root, encoder="colour-test", create=True) as writer:
        writer.index([world_dir / "blue_all.mp4"], config=IngestConfig(workers=1))
        with Library.open(root, readonly=True) as reader:
            assert _names(reader.search("red", top_k=5)) == ["blue_all.mp4"]
            writer.index([world_dir / "red_8_14.mp4"], config=IngestConfig(workers=1))
            assert _names(reader.search("red", top_k=5))[0] == "red_8_14.mp4"


def test_sampling_modes_record_their_recipe(world_dir: Path, tmp_path: Path) -> None:
    from vidlens.config import SamplingConfig

    with Library.open(
        tmp_path / "lib",
        encoder="colour-test",
        sampling=SamplingConfig(mode="frames", frames=5),
        create=True,
    ) as lib:
        lib.index([world_dir], config=IngestConfig(workers=1))
        assert {v.row_count for v in lib.videos()} == {5}
        assert lib.info()["sampling"] == {"mode": "frames", "frames": 5, "short_side": 224}
        assert _names(lib.search("red", top_k=1))[0] == "red_8_14.mp4"


def test_odd_names_and_links_fail_alone_or_are_followed(world_dir: Path, tmp_path: Path) -> None:
    """A name that is not UTF-8 and a broken link fail by their own names; linked folders count."""
    import os

    src = tmp_path / "videos"
    src.mkdir()
    shutil.copy(world_dir / "red_8_14.mp4", src / "ok.mp4")
    latin1 = os.fsencode(src) + b"/caf\xe9.mp4"  # 'café' written by a Latin-1 system
    shutil.copy(world_dir / "blue_all.mp4", latin1)
    (src / "broken.mp4").symlink_to(tmp_path / "nowhere.mp4")
    linked = tmp_path / "elsewhere"
    linked.mkdir()
    shutil.copy(world_dir / "green_then_yellow.mp4", linked / "green.mp4")
    (src / "linked").symlink_to(linked)
    (src / "loop").symlink_to(src)  # a link back up the tree is walked once
    with Library.open(tmp_path / "lib", encoder="colour-test", create=True) as lib:
        report = lib.index([src], config=IngestConfig(workers=1))
        assert report.indexed == 2
        assert sorted(Path(v.path).name for v in lib.videos()) == ["green.mp4", "ok.mp4"]
        failed = {Path(f.path).name: f.reason for f in report.failed}
        assert set(failed) == {"caf\\xe9.mp4", "broken.mp4"}
        assert "not valid UTF-8" in failed["caf\\xe9.mp4"] and "rename" in failed["caf\\xe9.mp4"]
        assert failed["broken.mp4"].startswith("broken link: it points to ")
        assert str(tmp_path / "nowhere.mp4") in failed["broken.mp4"]
        # `vidlens info` lists them too
        assert {Path(f.path).name for f in lib.failures()} == set(failed)
        assert _names(lib.search("green", top_k=1)) == ["green.mp4"]
        # the link's target appears: the link is indexed and its failure forgotten
        shutil.copy(world_dir / "blue_all.mp4", tmp_path / "nowhere.mp4")
        (src / "loop1.mp4").symlink_to("loop2.mp4")
        (src / "loop2.mp4").symlink_to("loop1.mp4")
        again = lib.index([src], config=IngestConfig(workers=1))
        assert again.indexed == 1
        assert {Path(f.path).name for f in lib.failures()} == {
            "caf\\xe9.mp4",
            "loop1.mp4",
            "loop2.mp4",
        }
        loop = {Path(f.path).name: f.reason for f in again.failed}["loop1.mp4"]
        assert loop == "broken link: it points to loop2.mp4, which leads back to itself (a loop)"


def test_a_database_without_its_manifest_is_not_overwritten(
    world_dir: Path, tmp_path: Path
) -> None:
    """A deleted manifest.json must not be replaced by one (another encoder) over old vectors."""
    root = tmp_path / "lib"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        lib.index([world_dir / "blue_all.mp4"], config=IngestConfig(workers=1))
    (root / "manifest.json").unlink()
    for kwargs in ({"create": True, "encoder": "vidlens-tiny"}, {"readonly": True}):
        with pytest.raises(LibraryError, match=r"1 indexed video\(s\) but no manifest.json"):
            Library.open(root, **kwargs)  # type: ignore[arg-type]
    assert not (root / "manifest.json").exists()


def test_creating_a_library_is_one_writer_at_a_time(tmp_path: Path) -> None:
    """Two first `vidlens index` runs at once: one creates the library, the other one fails."""
    from vidlens.config import SamplingConfig
    from vidlens.library._lock import WriteLock

    root = tmp_path / "lib"
    root.mkdir()
    with WriteLock(root), pytest.raises(LibraryError, match="another vidlens process"):
        Library.open(root, encoder="colour-test", create=True)  # while the other one creates
    assert not (root / "manifest.json").exists()
    Library.open(root, encoder="colour-test", create=True).close()
    made = (root / "manifest.json").read_bytes()
    # the other run, with another recipe, checked for a manifest before this one wrote it
    with pytest.raises(LibraryError, match="built differently"):
        Library._create(root, "colour-test", SamplingConfig(fps=2.0), None)
    assert (root / "manifest.json").read_bytes() == made


def test_search_shows_only_moments_that_stand_out(world_library: Path) -> None:
    """A hit lists its best window and those scored above the rest of the video; the ranked list
    for benchmarks (QVHighlights' pred_relevant_windows) keeps every window."""
    with Library.open(world_library, readonly=True) as lib:
        hit = lib.search("a red scene", top_k=1).results[0]
        assert [tuple(m[:2]) for m in hit.moments] == [(8.0, 14.0)]
        ranked = lib.moments(hit.video_id, "a red scene")["pred_relevant_windows"]
        assert tuple(ranked[0][:2]) == (8.0, 14.0)
        assert (0.0, 20.0) in {tuple(w[:2]) for w in ranked[1:]}  # the event and the rest
        for h in lib.search("something yellow", top_k=3).results:
            assert all(score > 0 for _, _, score in h.moments[1:]), h
