"""The synthetic world: deterministic from its seed, annotations true to the pixels."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from vidlens.errors import ConfigError
from vidlens.synth.annotations import read_world, retrieval_captions
from vidlens.synth.cli import synth_command
from vidlens.synth.generate import sample_split
from vidlens.synth.render import frame_times, object_mask, render_frame, render_frames
from vidlens.synth.world import (
    ACTION_LABELS,
    ACTIONS,
    COLOURS,
    Event,
    Phrase,
    VideoSpec,
    WorldConfig,
    is_heldout_triple,
    object_state,
    phrase_matches,
    sample_video,
)

SMALL = WorldConfig(width=96, height=96, fps=4.0, min_duration_s=8, max_duration_s=10)


def _synth(out: Path, *extra: str) -> None:
    args = ["--out", str(out), "--count", "3", "--seed", "5", "--split", "test",
            "--width", "96", "--height", "96", "--fps", "4", "--min-duration", "8",
            "--max-duration", "10", *extra]  # fmt: skip
    result = CliRunner().invoke(synth_command, args)
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "set"
    _synth(out)
    return out


def test_same_seed_same_bytes_and_annotations(synth_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    _synth(again)
    for name in ("test_00000.mp4", "test_00001.mp4", "test_00002.mp4"):
        assert (synth_dir / "videos" / name).read_bytes() == (again / "videos" / name).read_bytes()
    for name in ("moments.jsonl", "retrieval.csv", "classes.csv", "world.jsonl"):
        a = (synth_dir / "annotations" / name).read_text()
        assert a == (again / "annotations" / name).read_text(), name


def test_splits_and_seeds_differ() -> None:
    a = sample_video(0, "train", 0)
    assert sample_video(0, "train", 0) == a
    assert sample_video(0, "test", 0) != a
    assert sample_video(1, "train", 0) != a


def test_annotation_files_follow_the_community_formats(synth_dir: Path) -> None:
    ann = synth_dir / "annotations"
    videos = read_world(synth_dir)
    records = [json.loads(line) for line in (ann / "moments.jsonl").read_text().splitlines()]
    assert len(records) == sum(len(v.events) for v in videos)
    assert len({r["qid"] for r in records}) == len(records)
    for rec in records:
        assert set(rec) == {"qid", "query", "duration", "vid", "relevant_windows",
                            "relevant_clip_ids", "saliency_scores"}  # fmt: skip
        ((start, end),) = rec["relevant_windows"]
        assert 0 <= start < end <= rec["duration"]
        assert rec["relevant_clip_ids"] == [c for c in range(int(rec["duration"] // 2))
                                            if c * 2 < end and (c + 1) * 2 > start]  # fmt: skip
        scores = np.array(rec["saliency_scores"])
        assert scores.shape == (len(rec["relevant_clip_ids"]), 3)
        assert scores.min() >= 0 and scores.max() <= 4
        assert (synth_dir / "videos" / f"{rec['vid']}.mp4").is_file()
    with (ann / "retrieval.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["video_id"] for r in rows} == {v.vid for v in videos}
    assert len(rows) == 3 * len(videos)
    with (ann / "classes.csv").open() as fh:
        classes = list(csv.DictReader(fh))
    for row, video in zip(classes, videos, strict=True):
        assert (synth_dir / row["path"]).is_file()
        assert row["label"] == video.label
        primary = video.events[video.primary_event]  # the labelled stretch: when it happens
        assert (float(row["time_start"]), float(row["time_end"])) == (
            primary.start_s,
            primary.end_s,
        )
    # the zero-shot prompts of every class, readable by vidlens eval classify
    from vidlens.recognition import get_templates, load_descriptions

    descriptions = load_descriptions(ann / "class_descriptions.json")
    assert sorted(descriptions) == sorted(ACTION_LABELS.values())
    assert "something moves left" in descriptions["moving left"]
    assert not any("right" in d for d in descriptions["moving left"])
    assert get_templates(ann / "class_templates.txt") == ("something {}",)


def test_written_video_has_the_annotated_duration_and_frames(synth_dir: Path) -> None:
    video = read_world(synth_dir)[0]
    with av.open(str(synth_dir / "videos" / f"{video.vid}.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(frame_times(video))
    assert frames[0].shape == (96, 96, 3)
    clean = render_frames(video, frame_times(video)[:3])
    # H.264 at crf 20 keeps the picture close to the render
    assert np.abs(clean.astype(int) - np.stack(frames[:3]).astype(int)).mean() < 6


@pytest.mark.parametrize("index", range(12))
def test_objects_are_visible_exactly_when_annotated(index: int) -> None:
    video = sample_video(3, "train", index, SMALL)
    for ev in video.events:
        before = object_mask(video, ev.obj, max(0.0, ev.start_s - 0.5))
        during = object_mask(video, ev.obj, (ev.start_s + ev.end_s) / 2)
        after = object_mask(video, ev.obj, min(video.duration_s, ev.end_s + 0.5))
        if ev.action == "appear":
            assert not before.any() and during.any() and after.any()
        elif ev.action == "disappear":
            assert before.any() and not after.any()
        else:
            assert before.any() and during.any() and after.any()
        if ev.action in ("move_left", "move_right", "move_up", "move_down"):
            ys0, xs0 = np.nonzero(before)
            ys1, xs1 = np.nonzero(after)
            dx, dy = xs1.mean() - xs0.mean(), ys1.mean() - ys0.mean()
            expect = {"move_left": -dx, "move_right": dx, "move_up": -dy, "move_down": dy}
            assert expect[ev.action] > 5, (ev, dx, dy)
        if ev.action in ("grow", "shrink"):
            ratio = after.sum() / before.sum()
            assert (ratio > 1.5) if ev.action == "grow" else (ratio < 0.6)


@pytest.mark.parametrize("index", range(6))
def test_rendered_pixels_show_the_object_where_its_mask_is(index: int) -> None:
    video = sample_video(4, "test", index, SMALL)
    # before any event, and in the middle of each (where the comet trail is drawn)
    times = [0.25] + [(ev.start_s + ev.end_s) / 2 for ev in video.events]
    no_trail = dataclasses.replace(video, config=dataclasses.replace(
        video.config, trail_s=(), trail_alpha=()))  # fmt: skip
    checked = 0
    for t in times:
        frame = render_frame(video, t).astype(int)
        plain = render_frame(no_trail, t).astype(int)
        for i, spec in enumerate(video.objects):
            st = object_state(video, i, t)
            if not st.visible or st.alpha < 1 or st.dissolve > 0:
                continue
            mask = object_mask(video, i, t)
            later = [object_mask(video, j, t) for j in range(i + 1, len(video.objects))]
            covered = mask & ~np.any(later, axis=0) if later else mask
            # the trail never shows through an opaque object...
            assert (frame[covered] == plain[covered]).all(), (video.vid, t, i)
            if spec.texture == "solid" and st.wipe == 0:  # ...which has its exact colour
                assert np.abs(frame[covered] - np.array(COLOURS[st.colour])).max() <= 1
            checked += 1
    assert checked >= 2


def _first_event(action: str, split: str = "val") -> tuple[VideoSpec, Event]:
    for i in range(200):
        video = sample_video(1, split, i)
        for ev in video.events:
            if ev.action == action and len(video.objects) == 1:
                return video, ev
    raise AssertionError(f"no {action} event found")


@pytest.mark.parametrize("action", ["move_left", "move_right", "move_up", "move_down"])
def test_one_frame_shows_which_way_an_object_moves(action: str) -> None:
    video, ev = _first_event(action)
    t = (ev.start_s + ev.end_s) / 2
    no_trail = dataclasses.replace(video, config=dataclasses.replace(
        video.config, trail_s=(), trail_alpha=()))  # fmt: skip
    trail = np.abs(render_frame(video, t).astype(int) - render_frame(no_trail, t)).sum(-1) > 30
    now = object_mask(video, ev.obj, t)
    assert not (trail & now).any()  # the object itself is drawn exactly as it is now
    ys, xs = np.nonzero(trail)
    oy, ox = np.nonzero(now)
    dx, dy = xs.mean() - ox.mean(), ys.mean() - oy.mean()  # from the object to its trail
    behind = {"move_left": dx, "move_right": -dx, "move_up": dy, "move_down": -dy}[action]
    # the trail lies behind the object, several pixels of a 128-px frame out
    assert behind > 3, (video.vid, ev, behind)
    assert trail.sum() > 40
    # before the move starts nothing trails
    quiet = max(0.0, ev.start_s - 0.1)
    if not any(e.start_s < quiet < e.end_s + 1.5 for e in video.events if e is not ev):
        assert (render_frame(video, quiet) == render_frame(no_trail, quiet)).all()


def test_phrases_are_true_only_inside_their_event() -> None:
    video = next(v for v in (sample_video(0, "val", i) for i in range(50))
                 if any(e.action == "spin" for e in v.events))  # fmt: skip
    ev = next(e for e in video.events if e.action == "spin")
    spec = video.objects[ev.obj]
    phrase = Phrase(shape=spec.shape, colour=object_state(video, ev.obj, ev.start_s).colour,
                    action="spin")  # fmt: skip
    assert phrase_matches(video, phrase, (ev.start_s + ev.end_s) / 2)
    assert not phrase_matches(video, phrase, max(0.0, ev.start_s - 0.5))
    assert not phrase_matches(video, dataclasses.replace(phrase, action="grow"), ev.start_s + 0.1)
    assert phrase_matches(video, dataclasses.replace(phrase, action=None), ev.start_s + 0.1)


def test_compositional_split_holds_only_unseen_triples() -> None:
    train = sample_split(0, "train", 60)
    comp = sample_split(0, "compositional", 30)
    for v in train:
        for ev in v.events:
            spec = v.objects[ev.obj]
            assert not is_heldout_triple(spec.colour, spec.shape, ev.action)
    for v in comp:
        ev = v.events[v.primary_event]
        spec = v.objects[ev.obj]
        assert is_heldout_triple(spec.colour, spec.shape, ev.action)
    assert {ev.action for v in train for ev in v.events} == set(ACTIONS)


def test_captions_name_the_main_object() -> None:
    video = sample_video(0, "test", 7)
    main = video.objects[video.main_object]
    for cap in retrieval_captions(video):
        assert main.colour in cap.text and main.shape in cap.text
        assert video.shots[0].background in cap.text


def test_a_set_from_another_version_is_refused_with_what_to_do(tmp_path: Path) -> None:
    record = json.loads(json.dumps(dataclasses.asdict(sample_video(0, "val", 0))))
    record["config"]["trail_weights"] = [0.5, 0.25, 0.15, 0.1]  # a setting of older worlds
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "world.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(ConfigError, match=r"trail_weights.*render the set again"):
        read_world(tmp_path)
