"""The shipped vidlens-tiny model: loads through the registry, is the offline default, and
reproduces its stored figures on a fixed synthetic subset."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vidlens.encoders import (
    create_encoder,
    default_encoder_id,
    list_encoders,
    register_encoder,
    unregister_encoder,
)
from vidlens.encoders.tiny import (
    create_tiny_encoder,
    load_temporal_head,
    model_available,
    model_path,
    temporal_head_for,
    temporal_video_embeddings,
    temporal_video_scores,
)

REFERENCE = Path(__file__).with_name("tiny_reference.json")
TOLERANCE = 0.02

pytestmark = pytest.mark.skipif(not model_available(), reason="vidlens-tiny is not installed")


@pytest.fixture(scope="module", autouse=True)
def registered() -> Iterator[None]:
    """Register the factory when the package's entry point is not installed (editable checkout
    before reinstall); leave the registry as found."""
    added = "vidlens-tiny" not in list_encoders()
    if added:
        register_encoder("vidlens-tiny", create_tiny_encoder)
    yield
    if added:
        unregister_encoder("vidlens-tiny")


def test_loads_through_the_encoder_registry() -> None:
    enc = create_encoder("vidlens-tiny", dtype="float32")
    assert enc.id == "vidlens-tiny"
    assert enc.dim == 256 and enc.image_size == 96  # type: ignore[attr-defined]
    assert enc.encode_images(np.zeros((3, 128, 128, 3), np.uint8)).shape == (3, 256)
    assert enc.encode_texts(["a red circle moves left"]).shape == (1, 256)
    assert model_path().stat().st_size + model_path().with_name(
        "vidlens-tiny.temporal.safetensors").stat().st_size < 25 * 2**20  # fmt: skip


def test_is_the_default_without_pretrained_weights(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import vidlens.encoders.openclip as oc

    monkeypatch.setattr(oc, "weights_available", lambda arch, tag: False)
    with caplog.at_level(logging.WARNING, logger="vidlens.encoders"):
        assert default_encoder_id() == "vidlens-tiny"
    # said at the default log level: real footage gets no meaningful results from it
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "knows only vidlens' synthetic world" in record.getMessage()
    assert "--encoder openclip:ViT-B-32//path/to/open_clip_model.safetensors" in record.getMessage()


def test_tells_colours_and_shapes_apart() -> None:
    from vidlens.synth.render import render_frame
    from vidlens.synth.world import sample_video

    enc = create_encoder("vidlens-tiny", dtype="float32")
    videos = [sample_video(99, "test", i) for i in range(8)]
    frames = np.stack([render_frame(v, 0.0) for v in videos])
    texts = []
    for v in videos:
        o = v.objects[v.main_object]
        texts.append(f"a {o.colour} {o.shape} on a {v.shots[0].background} background")
    img = enc.encode_images(frames)
    txt = enc.encode_texts(texts)
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    txt /= np.linalg.norm(txt, axis=1, keepdims=True)
    hits = (np.argmax(txt @ img.T, axis=1) == np.arange(len(videos))).mean()
    assert hits >= 0.75


def test_temporal_head_scores_videos() -> None:
    head = load_temporal_head()
    assert head is not None
    rng = np.random.default_rng(0)
    s = temporal_video_scores(head, [rng.normal(size=(t, 256)) for t in (3, 9)],
                              rng.normal(size=(4, 256)))  # fmt: skip
    assert s.shape == (4, 2) and np.all(np.abs(s) <= 1.0 + 1e-6)


def test_temporal_head_takes_any_video_as_the_clip_length_it_was_trained_on() -> None:
    import torch

    from vidlens.encoders.tiny import temporal_video_embeddings

    head = load_temporal_head()
    assert head.cfg.clip_frames == 4 and head.cfg.input_frames == 4  # frames_per_clip of the recipe
    rng = np.random.default_rng(1)
    frames = rng.normal(size=(1000, 256)).astype(np.float32)
    unit = frames / np.linalg.norm(frames, axis=1, keepdims=True)
    # 1000 frames -> 4 consecutive runs of 250 frames, each averaged and re-normalised
    for n in (1000, 7):
        runs = np.stack([r.mean(axis=0) for r in np.array_split(unit[:n], 4)])
        runs /= np.linalg.norm(runs, axis=1, keepdims=True)
        with torch.inference_mode():
            expected = head(torch.from_numpy(runs)[None])[0].numpy()
        expected /= np.linalg.norm(expected)
        got = temporal_video_embeddings(head, [frames[:n]])[0]
        np.testing.assert_allclose(got, expected, atol=1e-5)
    # a stretch of up to 4 frames goes in frame by frame
    short = temporal_video_embeddings(head, [frames[:3]])[0]
    with torch.inference_mode():
        direct = head(torch.from_numpy(unit[:3])[None])[0].numpy()
    np.testing.assert_allclose(short, direct / np.linalg.norm(direct), atol=1e-5)


def test_head_exported_before_clip_frames_takes_it_from_the_recipe(tmp_path: Path) -> None:
    from vidlens.encoders.tiny import model_path

    src = tmp_path / "export"
    src.mkdir()
    side = json.loads(model_path().with_name(model_path().name + ".json").read_text())
    del side["vidlens_temporal_head"]["clip_frames"]  # as session-6 exports wrote it
    side["vidlens_temporal_head"]["file"] = "temporal_head.safetensors"
    (src / "model.safetensors.json").write_text(json.dumps(side))
    shutil.copyfile(model_path(), src / "model.safetensors")
    shutil.copyfile(model_path().with_name("vidlens-tiny.temporal.safetensors"),
                    src / "temporal_head.safetensors")  # fmt: skip
    assert load_temporal_head(src / "model.safetensors").cfg.input_frames == 4
    side["vidlens_training"]["config"].pop("frames_per_clip")  # no recipe: every position
    (src / "model.safetensors.json").write_text(json.dumps(side))
    assert load_temporal_head(src / "model.safetensors").cfg.input_frames == 64


@pytest.mark.slow
def test_figures_on_a_fixed_subset_match_the_stored_ones(tmp_path: Path) -> None:
    import torch

    from vidlens.synth.benchmark import evaluate_encoder_on_synth
    from vidlens.synth.generate import generate

    ref = json.loads(REFERENCE.read_text())
    torch.set_num_threads(1)
    data = tmp_path / "set"
    generate(data, count=ref["count"], seed=ref["seed"], split=ref["split"])
    got = evaluate_encoder_on_synth(
        data,
        tmp_path / "lib",
        temporal_head=load_temporal_head(),
        aggregations=("topk-mean", "temporal"),
    )
    for key, value in ref["metrics"].items():
        assert abs(got[key] - value) <= TOLERANCE, (key, got[key], value)


def test_classifiers_pool_videos_with_the_temporal_head(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from vidlens.classify_cli import classify
    from vidlens.encoders.tiny import temporal_head_for, temporal_video_embeddings
    from vidlens.library import Library
    from vidlens.recognition import ZeroShotClassifier, create_few_shot
    from vidlens.synth.generate import generate
    from vidlens.synth.world import ACTION_LABELS

    generate(tmp_path / "set", count=6, seed=5, split="test")
    labels = sorted(ACTION_LABELS.values())
    with Library.open(tmp_path / "lib", encoder="vidlens-tiny", create=True) as lib:
        assert lib.index([tmp_path / "set" / "videos"]).indexed == 6
        ids = [v.id for v in lib.videos()]
        auto = ZeroShotClassifier(lib, labels, templates=["something {}"])
        mean = ZeroShotClassifier(lib, labels, templates=["something {}"], pooling="mean")
        assert auto.temporal_head is not None and mean.temporal_head is None
        assert auto.describe()["video_pooling"].startswith("temporal head of vidlens-tiny")
        head = temporal_head_for("vidlens-tiny")
        for vid in ids[:2]:
            frames = lib.frame_vectors(vid)
            expected = temporal_video_embeddings(head, [frames])[0]
            np.testing.assert_allclose(auto.embed(vid), expected, atol=1e-5)
            # a window is pooled by the head too, over the frames inside it
            t = lib.frame_times(vid)
            inside = (t >= 2.0) & (t <= 6.0)
            window = temporal_video_embeddings(head, [frames[inside]])[0]
            np.testing.assert_allclose(auto.embed(vid, (2.0, 6.0)), window, atol=1e-5)
            assert float(auto.embed(vid) @ mean.embed(vid)) < 0.999  # not the mean in disguise
        # few-shot examples are pooled the way the videos they are compared with are
        few = create_few_shot(auto, [(ids[0], labels[0]), (ids[1], labels[1])], "tip-adapter")
        np.testing.assert_allclose(few.keys[0], auto.embed(ids[0]), atol=1e-6)
        # a `vidlens train` export brings its head along; a plain open_clip id has none
        assert temporal_head_for("openclip:ViT-B-32/random") is None

    cli = CliRunner()
    args = ["classify", ids[0], "--labels", ",".join(labels), "--library", str(tmp_path / "lib")]
    out = cli.invoke(classify, [*args[1:], "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["classifier"]["video_pooling"].startswith("temporal head")
    out = cli.invoke(classify, [*args[1:], "--json", "--pooling", "mean"])
    assert json.loads(out.stdout)["classifier"]["video_pooling"].startswith("mean of")


def test_search_ranks_videos_by_the_temporal_head(tmp_path: Path) -> None:
    import csv

    from click.testing import CliRunner

    from vidlens.cli import main
    from vidlens.library import Library, SearchConfig
    from vidlens.query import AggregationConfig
    from vidlens.synth.generate import generate

    generate(tmp_path / "set", count=8, seed=7, split="test")
    with (tmp_path / "set" / "annotations" / "retrieval.csv").open() as fh:
        pairs = [(r["video_id"], r["sentence"]) for r in csv.DictReader(fh)]
    temporal = SearchConfig(aggregation=AggregationConfig(method="temporal"))
    head = temporal_head_for("vidlens-tiny")
    with Library.open(tmp_path / "lib", encoder="vidlens-tiny", create=True) as lib:
        assert lib.index([tmp_path / "set" / "videos"]).indexed == 8
        stem = {v.id: Path(v.path).stem for v in lib.videos()}
        pooled = {v.id: temporal_video_embeddings(head, [lib.frame_vectors(v.id)])[0]
                  for v in lib.videos()}  # fmt: skip
        hits_at_1 = 0
        for vid, sentence in pairs:
            results = lib.search(sentence, top_k=8, config=temporal).results
            text = lib.encode_texts([sentence])[0]
            text /= np.linalg.norm(text)
            for hit in results:  # the score is the cosine with the head's video embedding
                assert hit.score == pytest.approx(float(text @ pooled[hit.video_id]), abs=1e-5)
                assert hit.moments  # moments still come from the frame curve
            hits_at_1 += stem[results[0].video_id] == vid
    assert hits_at_1 / len(pairs) >= 0.5, hits_at_1  # chance: 1/8

    # the CLI takes it, and eval retrieval ranks the same way
    lib_dir = str(tmp_path / "lib")
    out = CliRunner().invoke(main, ["search", pairs[0][1], "--aggregation", "temporal",
                                    "--library", lib_dir, "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    pairs_csv = str(tmp_path / "set" / "annotations" / "retrieval.csv")
    out = CliRunner().invoke(main, ["eval", "retrieval", "--pairs", pairs_csv, "--library",
                                    lib_dir, "--aggregation", "temporal", "--json"])  # fmt: skip
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["metrics"]["t2v"]["R@1"] == round(100 * hits_at_1 / len(pairs), 2)


def test_temporal_search_needs_an_encoder_with_a_head(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from videogen import write_colour_video
    from vidlens.cli import main
    from vidlens.library import Library

    (tmp_path / "v").mkdir()
    write_colour_video(tmp_path / "v" / "red.mp4", [(3.0, (220, 30, 30))], fps=5.0)
    with Library.open(tmp_path / "lib", encoder="colour-test", create=True) as lib:
        assert lib.index([tmp_path / "v"]).indexed == 1
    out = CliRunner().invoke(main, ["search", "red", "--aggregation", "temporal", "--library",
                                    str(tmp_path / "lib")])  # fmt: skip
    assert out.exit_code != 0
    (line,) = out.output.strip().splitlines()
    assert "encoder colour-test has none" in line and "use --aggregation mean" in line, line


def test_moments_are_reranked_by_the_temporal_head(tmp_path: Path) -> None:
    from vidlens.eval.qvhighlights import load_jsonl
    from vidlens.library import Library, SearchConfig
    from vidlens.query import MomentConfig
    from vidlens.query.moments import rerank_moments
    from vidlens.synth.generate import generate

    generate(tmp_path / "set", count=6, seed=11, split="test")
    queries = load_jsonl(tmp_path / "set" / "annotations" / "moments.jsonl")
    plain = SearchConfig(moments=MomentConfig(head_weight=0.0))
    head = temporal_head_for("vidlens-tiny")
    moved = 0
    with Library.open(tmp_path / "lib", encoder="vidlens-tiny", create=True) as lib:
        assert lib.index([tmp_path / "set" / "videos"]).indexed == 6
        by_stem = {Path(v.path).stem: v.id for v in lib.videos()}
        for q in queries:
            vid = by_stem[q["vid"]]
            got = lib.moments(vid, q["query"])["pred_relevant_windows"]
            base = lib.moments(vid, q["query"], config=plain)["pred_relevant_windows"]
            # the same windows; each window's frames (cells 1 s from its frame) through the head
            text = lib.encode_texts([q["query"]])[0]
            t = lib.frame_times(vid) + 0.5
            frames = lib.frame_vectors(vid)
            match = np.array([
                float(temporal_video_embeddings(head, [frames[(t >= s) & (t <= e)]])[0] @ text)
                for s, e, _ in base
            ])  # fmt: skip
            duration = lib.video(vid).duration_s
            expected = rerank_moments([tuple(w) for w in base], match, 1.0, duration)
            assert [(s, e) for s, e, _ in got] == [(s, e) for s, e, _ in expected]
            np.testing.assert_allclose([w[2] for w in got], [w[2] for w in expected], atol=1e-5)
            moved += got[0][:2] != base[0][:2]
        # search hits carry the same re-ranked moments
        hit = lib.search(queries[0]["query"], top_k=6).results
        first = next(h for h in hit if h.video_id == by_stem[queries[0]["vid"]])
        again = lib.moments(first.video_id, queries[0]["query"])["pred_relevant_windows"]
        assert [tuple(m[:2]) for m in first.moments] == [tuple(w[:2]) for w in again]
    assert moved >= 1  # the head changed some video's best moment
