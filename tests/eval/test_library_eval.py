"""``vidlens eval moments|grounding|retrieval|classify --library``: predictions from a library,
scored with the official metrics, on the colour world (known content, deterministic encoder)."""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "library"))
from colour_world import (
    BLACK,
    GREEN,
    RED,
    YELLOW,
    make_world,
)

from videogen import write_colour_video
from vidlens.cli import main
from vidlens.errors import QueryError
from vidlens.eval.library_eval import (
    load_caption_pairs,
    predict_moments,
    retrieval_similarity,
)
from vidlens.library import Library
from vidlens.query.aggregate import AggregationConfig, score_videos


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(video folder, library): the colour world plus green_most / yellow_most, at 1 fps."""
    from vidlens.ingest import IngestConfig

    videos = tmp_path_factory.mktemp("videos")
    make_world(videos)
    write_colour_video(videos / "green_most.mp4", [(15.0, GREEN), (5.0, BLACK)], fps=10.0)
    write_colour_video(videos / "yellow_most.mp4", [(14.0, YELLOW), (6.0, BLACK)], fps=10.0)
    root = tmp_path_factory.mktemp("lib") / "library"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        report = lib.index([videos], config=IngestConfig(workers=1))
        assert report.indexed == 5 and not report.failed, report
    yield videos, root


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _truth(qid: int, query: str, vid: str, window: Sequence[float], duration: float = 20) -> dict:
    clips = list(range(int(window[0] // 2), int(-(-window[1] // 2))))
    return {
        "qid": qid,
        "query": query,
        "vid": vid,
        "duration": duration,
        "relevant_windows": [window],
        "relevant_clip_ids": clips,
        "saliency_scores": [[4, 4, 4]] * len(clips),
    }


CLEAN = [
    ("a red scene", "red_8_14", [8, 14]),
    ("green", "green_then_yellow", [0, 6]),
    ("yellow", "green_then_yellow", [14, 20]),
    ("blue water", "blue_all", [0, 20]),
]


def _run(args: list[str]) -> dict:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ------------------------------------------------------------------------------------- moments


def test_eval_moments_from_library(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    ann = _jsonl(tmp_path / "gt.jsonl", [_truth(i, q, v, w) for i, (q, v, w) in enumerate(CLEAN)])
    out = tmp_path / "out"
    args = ["eval", "moments", "--annotations", str(ann), "--library", str(lib)]
    record = _run([*args, "--out", str(out), "--json", "--report", "md"])
    metrics = record["metrics"]
    assert metrics["brief"]["MR-full-R1@0.5"] == 100.0
    assert metrics["brief"]["MR-full-R1@0.7"] == 100.0
    assert metrics["brief"]["HL-min-VeryGood-Hit1"] == 100.0
    # the predictions are in the official submission format, one line per query
    preds = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["qid"] for p in preds] == [0, 1, 2, 3]
    assert [p["vid"] for p in preds] == [v for _, v, _ in CLEAN]
    for p in preds:
        assert set(p) == {"qid", "query", "vid", "pred_relevant_windows", "pred_saliency_scores"}
        assert 1 <= len(p["pred_relevant_windows"]) <= 10
        assert all(len(w) == 3 for w in p["pred_relevant_windows"])
        assert len(p["pred_saliency_scores"]) == 10  # 20 s / 2-s clips
    # red frames are 8..13 s at 1 fps; each stands for the second after it: exactly 8-14 s
    assert preds[0]["pred_relevant_windows"][0][:2] == [8.0, 14.0]
    assert preds[3]["pred_relevant_windows"][0][:2] == [0.0, 20.0]
    # provenance: what produced the numbers
    prov = record["provenance"]
    assert prov["encoder"] == {"id": "colour-test", "fingerprint": "colour-test-v1", "dim": 10}
    assert prov["sampling"]["mode"] == "fps" and prov["sampling"]["fps"] == 1.0
    assert prov["moments"]["max_moments"] == 10 and "smooth_s" in prov["moments"]
    assert prov["aggregation"]["method"] == "topk-mean"
    assert prov["annotations_sha256"] == hashlib.sha256(ann.read_bytes()).hexdigest()
    assert prov["vidlens_version"] == record["vidlens_version"]
    assert record["inputs"]["predictions"]["path"] == str(out / "predictions.jsonl")
    assert json.loads((out / "metrics.json").read_text()) == record
    assert (out / "report.md").exists()


def test_wrong_annotation_lowers_r1_by_one_query(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    truths = [_truth(i, q, v, w) for i, (q, v, w) in enumerate(CLEAN)]
    truths[0] = _truth(0, "a red scene", "red_8_14", [0, 4])  # the red is at 8-14 s, not 0-4
    ann = _jsonl(tmp_path / "gt.jsonl", truths)
    record = _run(["eval", "moments", "--annotations", str(ann), "--library", str(lib), "--json"])
    assert record["metrics"]["brief"]["MR-full-R1@0.5"] == 75.0
    assert record["inputs"]["predictions"]["path"] is None  # scored, not kept without --out


def test_vid_matches_by_id_name_or_stem(world: tuple[Path, Path]) -> None:
    videos, root = world
    with Library.open(root, readonly=True) as lib:
        red = lib.video(str(videos / "red_8_14.mp4"))
        anns = [
            {"qid": "by-id", "query": "red", "vid": red.id},
            {"qid": "by-name", "query": "red", "vid": "red_8_14.mp4"},
            {"qid": "by-stem", "query": "red", "vid": "red_8_14"},
        ]
        preds = predict_moments(lib, anns)
    assert [p["vid"] for p in preds] == [red.id, "red_8_14.mp4", "red_8_14"]
    assert len({json.dumps(p["pred_relevant_windows"]) for p in preds}) == 1


@pytest.mark.parametrize(
    ("duration", "count"),
    [(None, 10), (20, 10), (21, 10), (19.9, 9), (30, 15)],
)
def test_saliency_count_follows_annotation_duration(
    world: tuple[Path, Path], duration: float | None, count: int
) -> None:
    _, root = world
    ann = {"qid": 1, "query": "red", "vid": "red_8_14"}
    if duration is not None:
        ann["duration"] = duration
    with Library.open(root, readonly=True) as lib:
        (pred,) = predict_moments(lib, [ann])
        (full,) = predict_moments(lib, [{"qid": 1, "query": "red", "vid": "red_8_14"}])
    scores = pred["pred_saliency_scores"]
    assert len(scores) == count
    assert scores[:10] == full["pred_saliency_scores"][:count]
    assert scores[10:] == [full["pred_saliency_scores"][-1]] * (count - 10)  # padding repeats


def test_unknown_vids_are_one_line_error_with_fix(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    truths = [_truth(i, "red", f"missing_{i}", [0, 2]) for i in range(7)]
    ann = _jsonl(tmp_path / "gt.jsonl", truths)
    result = CliRunner().invoke(
        main, ["eval", "moments", "--annotations", str(ann), "--library", str(lib)]
    )
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "7 video(s) not in the library" in lines[0]
    assert "'missing_4'" in lines[0] and "'missing_5'" not in lines[0] and "2 more" in lines[0]
    assert "vidlens index VIDEO_FOLDER --library" in lines[0]


def test_ambiguous_stem_is_an_error(world: tuple[Path, Path]) -> None:
    from vidlens.recognition import VideoMatcher

    _, root = world
    with Library.open(root, readonly=True) as lib:
        rec = lib.videos()[0]
    twin = type(rec)(
        **{**rec.to_dict(), "id": "other", "path": "/elsewhere/" + Path(rec.path).name}
    )
    with pytest.raises(QueryError, match="ambiguous"):
        VideoMatcher([rec, twin]).find(Path(rec.path).stem)


def test_eval_grounding_from_library(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    truths = [
        {"qid": i, "query": q, "vid": v, "relevant_windows": [w]}
        for i, (q, v, w) in enumerate(
            [
                ("red", "red_8_14", [8, 14]),
                ("green", "green_then_yellow", [0, 5]),
                ("yellow", "green_then_yellow", [15, 20]),
                ("blue", "blue_all", [0, 20]),
            ]
        )
    ]
    ann = _jsonl(tmp_path / "gt.jsonl", truths)
    record = _run(["eval", "grounding", "--annotations", str(ann), "--library", str(lib), "--json"])
    m = record["metrics"]
    assert m["R1@0.5"] == 100.0 and m["R1@0.7"] == 100.0
    # scene cuts fall on sample times, so every top-1 window is the truth itself (IoU 1)
    assert m["mIoU"] == 100.0
    assert "moments" in record["provenance"] and "saliency" not in record["provenance"]


def test_library_and_predictions_are_exclusive(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    ann = _jsonl(tmp_path / "gt.jsonl", [{"qid": 1, "relevant_windows": [[0, 1]]}])
    result = CliRunner().invoke(
        main,
        [
            *("eval", "grounding", "--annotations", str(ann), "--library", str(lib)),
            *("--predictions", str(ann)),
        ],
    )
    assert result.exit_code == 1 and "not both" in result.output


# ------------------------------------------------------------------------------------ retrieval

CLEAN_PAIRS = [
    ("red_8_14", "a red light"),
    ("blue_all", "the blue sea"),
    ("green_most", "a green field"),
    ("yellow_most", "yellow sand"),
]


def _pairs_csv(path: Path, pairs: list[tuple[str, str]]) -> Path:
    path.write_text(
        "key,video_id,sentence\n" + "".join(f"k{i},{v},{s}\n" for i, (v, s) in enumerate(pairs))
    )
    return path


def test_eval_retrieval_clean(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    pairs = _pairs_csv(tmp_path / "p.csv", CLEAN_PAIRS)
    args = ["eval", "retrieval", "--pairs", str(pairs), "--library", str(lib), "--json"]
    record = _run([*args, "--all-videos"])  # green_then_yellow is a distractor column
    m = record["metrics"]
    assert m["n_texts"] == 4 and m["n_videos"] == 5 and m["n_captioned_videos"] == 4
    perfect = {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MedR": 1.0, "MeanR": 1.0}
    assert m["t2v"] == perfect and m["v2t"] == perfect
    assert record["settings"]["aggregation"]["method"] == "mean"
    assert record["provenance"]["aggregation"]["method"] == "mean"


def test_eval_retrieval_wrong_caption(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    # green_then_yellow is only a quarter green: green_most (three quarters) ranks above it for
    # "green grass", so that text finds its video 2nd and every other text finds it 1st
    pairs = _pairs_csv(tmp_path / "p.csv", [*CLEAN_PAIRS, ("green_then_yellow", "green grass")])
    record = _run(["eval", "retrieval", "--pairs", str(pairs), "--library", str(lib), "--json"])
    t2v = record["metrics"]["t2v"]
    assert t2v == {"R@1": 80.0, "R@5": 100.0, "R@10": 100.0, "MedR": 1.0, "MeanR": 1.2}


def test_retrieval_table_and_all_videos(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    pairs = _pairs_csv(tmp_path / "p.csv", CLEAN_PAIRS[:2])
    result = CliRunner().invoke(
        main, ["eval", "retrieval", "--pairs", str(pairs), "--library", str(lib), "--all-videos"]
    )
    assert result.exit_code == 0, result.output
    assert "2 texts, 5 videos" in result.output and "t2v" in result.output


@pytest.mark.parametrize("method", ["mean", "max", "topk-mean", "xpool"])
def test_similarity_matches_score_videos(world: tuple[Path, Path], method: str) -> None:
    _, root = world
    agg = AggregationConfig(method=method)
    with Library.open(root, readonly=True) as lib:
        ids = [v.id for v in lib.videos()]
        texts = lib.encode_texts(["red", "a green and yellow thing", "blue"])
        sim = retrieval_similarity(lib, texts, ids, agg)
        vectors = [lib.frame_vectors(v) for v in ids]
    for t, q in enumerate(texts):
        expected = score_videos([v @ q for v in vectors], agg, vectors, q)
        np.testing.assert_allclose(sim[t], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_pairs_json_formats(tmp_path: Path, suffix: str) -> None:
    records = [{"video_id": "v1", "sentence": "a"}, {"video_id": "v2", "caption": "b"}]
    path = tmp_path / f"p{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"sentences": records}))
    else:
        _jsonl(path, records)
    assert load_caption_pairs(path) == [("v1", "a"), ("v2", "b")]


# ------------------------------------------------------------------------------- classification


def _labels_csv(folder: Path, rows: list[tuple[str, str]]) -> Path:
    path = folder / "labels.csv"
    path.write_text("path,label\n" + "".join(f"{p},{lab}\n" for p, lab in rows))
    return path


CLASSIFY_ROWS = [
    ("red_8_14.mp4", "red"),
    ("blue_all.mp4", "blue"),
    ("green_most.mp4", "green"),
    ("yellow_most.mp4", "yellow"),
]


@pytest.mark.parametrize("views", [1, 3])
def test_eval_classify(world: tuple[Path, Path], tmp_path: Path, views: int) -> None:
    videos, lib = world
    labels = _labels_csv(videos, CLASSIFY_ROWS)  # paths relative to the CSV's folder
    out = tmp_path / "out"
    args = ["eval", "classify", "--labels", str(labels), "--library", str(lib)]
    record = _run([*args, "--views", str(views), "--json", "--out", str(out), "--report", "html"])
    m = record["metrics"]
    assert m["top1"] == 100.0 and m["top5"] == 100.0 and m["mean_class_accuracy"] == 100.0
    assert m["n_views"] == views and m["n_classes"] == 4
    assert record["settings"]["templates"]["source"] == "kinetics"
    assert len(record["settings"]["templates"]["templates"]) == 28
    assert record["settings"]["labels"] == ["blue", "green", "red", "yellow"]
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["predicted"] for p in preds] == ["red", "blue", "green", "yellow"]
    assert (out / "report.html").exists()


def test_eval_classify_with_class_descriptions(world: tuple[Path, Path], tmp_path: Path) -> None:
    videos, lib = world
    # class names the colour encoder cannot read; their descriptions say the colour
    names = {"red": "fire", "blue": "sea", "green": "forest", "yellow": "sand"}
    labels = _labels_csv(tmp_path, [(str(videos / p), names[c]) for p, c in CLASSIFY_ROWS])
    desc = tmp_path / "descriptions.json"
    desc.write_text(json.dumps({name: [f"something {c}"] for c, name in names.items()}))
    args = ["eval", "classify", "--labels", str(labels), "--library", str(lib), "--json"]
    without = _run(args)["metrics"]["top1"]
    record = _run([*args, "--descriptions", str(desc)])
    assert record["metrics"]["top1"] == 100.0 and without < 100.0
    assert record["settings"]["descriptions"]["fire"] == ["something red"]


def test_eval_classify_wrong_label(world: tuple[Path, Path], tmp_path: Path) -> None:
    videos, lib = world
    rows = [*CLASSIFY_ROWS]
    rows[1] = ("blue_all.mp4", "red")  # mislabelled: blue is no class now
    labels = _labels_csv(tmp_path, [(str(videos / p), lab) for p, lab in rows])
    m = _run(["eval", "classify", "--labels", str(labels), "--library", str(lib), "--json"])[
        "metrics"
    ]
    # classes red, green, yellow: blue_all is called "red" but is not red
    assert m["top1"] == 75.0
    assert m["mean_class_accuracy"] == round(100 * (0.5 + 1 + 1) / 3, 2)


def test_eval_classify_unknown_path(world: tuple[Path, Path], tmp_path: Path) -> None:
    _, lib = world
    labels = _labels_csv(tmp_path, [("nowhere/cat.mp4", "cat"), ("dog.mp4", "dog")])
    result = CliRunner().invoke(
        main, ["eval", "classify", "--labels", str(labels), "--library", str(lib)]
    )
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "2 video(s) not in the library" in line and "cat.mp4" in line and "vidlens index" in line


# Two colours in one video: only the labelled stretch (time_start..time_end) says which.
SEGMENT_ROWS = [
    ("green_then_yellow.mp4", "green", 0, 5),
    ("green_then_yellow.mp4", "yellow", 15, 20),
    ("red_8_14.mp4", "red", 8, 14),
    ("blue_all.mp4", "blue", 0, 20),
]


@pytest.mark.parametrize("views", [1, 3])
def test_eval_classify_segments(world: tuple[Path, Path], tmp_path: Path, views: int) -> None:
    videos, lib = world
    labels = videos.parent / f"segments-{views}.csv"
    labels.write_text(
        "path,label,time_start,time_end\n"
        + "".join(f"{videos.name}/{p},{lab},{s},{e}\n" for p, lab, s, e in SEGMENT_ROWS)
    )
    out = tmp_path / "out"
    args = ["eval", "classify", "--labels", str(labels), "--library", str(lib), "--json"]
    record = _run([*args, "--views", str(views), "--out", str(out)])
    assert record["metrics"]["top1"] == 100.0 and record["settings"]["segments"] == 4
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [p["predicted"] for p in preds] == ["green", "yellow", "red", "blue"]
    assert [p["window"] for p in preds] == [[0, 5], [15, 20], [8, 14], [0, 20]]
    text = CliRunner().invoke(main, args[:-1]).output
    assert "4 videos, 4 of them labelled stretches" in text and "100.00" in text
    # the same rows without their times: one video cannot be both green and yellow
    whole = tmp_path / "whole.csv"
    whole.write_text("".join(f"{videos / p},{lab}\n" for p, lab, _, _ in SEGMENT_ROWS))
    assert (
        _run(["eval", "classify", "--labels", str(whole), "--library", str(lib), "--json"])[
            "metrics"
        ]["top1"]
        <= 75.0
    )


def test_eval_classify_official_kinetics_csv(tmp_path: Path) -> None:
    """label,youtube_id,time_start,time_end,split: a trimmed clip named ID_START_END is
    classified whole; a full video named ID has its time_start..time_end classified."""
    from vidlens.ingest import IngestConfig

    videos = tmp_path / "kinetics"
    videos.mkdir()
    # a full video (red at 10-20 s) and a trimmed clip of another (all green)
    write_colour_video(videos / "abcdEFGH123.mp4", [(10.0, BLACK), (10.0, RED)], fps=10.0)
    write_colour_video(videos / "zyxw_vut-98_000030_000040.mp4", [(10.0, GREEN)], fps=10.0)
    root = tmp_path / "lib"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        assert lib.index([videos], config=IngestConfig(workers=1)).indexed == 2
    labels = tmp_path / "validate.csv"
    labels.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "red,abcdEFGH123,10,20,validate\n"
        "black,abcdEFGH123,0,10,validate\n"
        "green,zyxw_vut-98,30,40,validate\n"
    )
    out = tmp_path / "out"
    args = ["eval", "classify", "--labels", str(labels), "--library", str(root), "--json"]
    record = _run([*args, "--templates", "simple", "--out", str(out)])
    assert record["metrics"]["top1"] == 100.0 and record["metrics"]["n_videos"] == 3
    preds = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    assert [Path(p["path"]).name for p in preds] == [
        "abcdEFGH123.mp4",
        "abcdEFGH123.mp4",
        "zyxw_vut-98_000030_000040.mp4",
    ]
    assert [p["window"] for p in preds] == [[10, 20], [0, 10], None]  # the clip is the segment


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label,time_start,time_end\nred_8_14.mp4,red,14,8\n", "must be before time_end"),
        ("path,label,time_start,time_end\nred_8_14.mp4,red,-1,8\n", "time_start must be seconds"),
        ("path,label,time_start,time_end\nred_8_14.mp4,red,30,40\n", "past the end of"),
        ("path,label,time_start\nred_8_14.mp4,red,3\n", "both time_start and time_end"),
        ("label,split\nred,val\n", "names no video column"),
        ("youtube_id,time_start,time_end,split\nred_8_14,8,14,test\n", "names no label column"),
        ("red_8_14.mp4,red,3\n", "expected 'path,label' or 'path,label,time_start,time_end'"),
    ],
)
def test_eval_classify_bad_segments(
    world: tuple[Path, Path], tmp_path: Path, text: str, message: str
) -> None:
    videos, lib = world
    labels = videos.parent / "bad.csv"
    labels.write_text(text.replace("red_8_14.mp4", f"{videos.name}/red_8_14.mp4"))
    result = CliRunner().invoke(
        main, ["eval", "classify", "--labels", str(labels), "--library", str(lib)]
    )
    assert result.exit_code == 1, result.output
    (line,) = result.output.strip().splitlines()
    assert message in line and "bad.csv" in line, line
