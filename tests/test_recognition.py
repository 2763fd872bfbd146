"""Zero- and few-shot recognition (``vidlens.recognition``, ``vidlens classify``) on colour
videos with the deterministic colour encoder."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent / "library"))
from colour_world import BLACK, BLUE, WHITE, make_world

from videogen import write_colour_video
from vidlens.classify_cli import classify
from vidlens.errors import ConfigError, QueryError
from vidlens.library import Library
from vidlens.recognition import (
    GDA,
    KINETICS_TEMPLATES,
    SIMPLE_TEMPLATES,
    TipAdapter,
    ZeroShotClassifier,
    create_few_shot,
    get_templates,
    match_labelled_videos,
    pool_frames,
    view_windows,
)

ORANGE = (250, 140, 20)
COLOURS = ["red", "green", "blue", "yellow"]

# Few-shot material: two examples of each class with some spread, and two held-out videos.
FEW_SHOT_VIDEOS = {
    "examples/sunset_a.mp4": [(10.0, ORANGE)],
    "examples/sunset_b.mp4": [(7.0, ORANGE), (3.0, BLACK)],
    "examples/ocean_a.mp4": [(10.0, BLUE)],
    "examples/ocean_b.mp4": [(7.0, BLUE), (3.0, WHITE)],
    "dusk.mp4": [(6.0, ORANGE), (4.0, BLACK)],
    "sea.mp4": [(8.0, BLUE), (2.0, WHITE)],
    "examples/dawn_then_bay.mp4": [(5.0, ORANGE), (5.0, BLUE)],  # one example of each, by time
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """(video folder, library) of the colour world plus the few-shot videos, at 1 fps."""
    from vidlens.ingest import IngestConfig

    videos = tmp_path_factory.mktemp("videos")
    make_world(videos)
    for name, segments in FEW_SHOT_VIDEOS.items():
        (videos / name).parent.mkdir(exist_ok=True)
        write_colour_video(videos / name, segments, fps=10.0)
    root = tmp_path_factory.mktemp("lib") / "library"
    with Library.open(root, encoder="colour-test", create=True) as lib:
        report = lib.index([videos], config=IngestConfig(workers=1))
        assert report.indexed == 10 and not report.failed, report
    yield videos, root


@pytest.fixture
def lib(world: tuple[Path, Path]) -> Iterator[Library]:
    with Library.open(world[1], readonly=True) as library:
        yield library


def _id(lib: Library, videos: Path, name: str) -> str:
    return lib.video(str(videos / name)).id


def _examples_csv(videos: Path) -> Path:
    path = videos / "examples.csv"
    rows = [f"examples/{n}.mp4,{n.split('_')[0]}" for n in ("sunset_a", "sunset_b")]
    rows += [f"examples/{n}.mp4,{n.split('_')[0]}" for n in ("ocean_a", "ocean_b")]
    path.write_text("path,label\n" + "\n".join(rows) + "\n")
    return path


# ---------------------------------------------------------------------------------- zero-shot


@pytest.mark.parametrize(
    ("name", "label"),
    [("red_8_14.mp4", "red"), ("blue_all.mp4", "blue")],
)
def test_zero_shot_whole_video(
    world: tuple[Path, Path], lib: Library, name: str, label: str
) -> None:
    clf = ZeroShotClassifier(lib, COLOURS)
    ranked = clf.classify(_id(lib, world[0], name))
    assert ranked[0][0] == label and ranked[0][1] > 0.99
    assert sum(p for _, p in ranked) == pytest.approx(1.0)
    assert [lab for lab, _ in ranked] == sorted(
        COLOURS, key=lambda c: (c != label, COLOURS.index(c))
    )


@pytest.mark.parametrize(
    ("window", "label"),
    [((0.0, 5.0), "green"), ((15.0, 20.0), "yellow"), ((14.6, 14.9), "yellow")],
)
def test_window_classifies_a_segment(
    world: tuple[Path, Path], lib: Library, window: tuple[float, float], label: str
) -> None:
    clf = ZeroShotClassifier(lib, COLOURS, templates="kinetics")
    vid = _id(lib, world[0], "green_then_yellow.mp4")
    # the window 14.6-14.9 s holds no sampled frame: the one nearest its middle (15 s) decides
    assert clf.classify(vid, window)[0][0] == label


def test_scores_and_views(world: tuple[Path, Path], lib: Library) -> None:
    clf = ZeroShotClassifier(lib, COLOURS)
    ids = [_id(lib, world[0], n) for n in ("red_8_14.mp4", "blue_all.mp4")]
    single = clf.scores(ids)
    assert single.shape == (2, 4)
    np.testing.assert_allclose(single.sum(axis=1), 1.0)
    per_view = clf.view_scores(ids, views=3)
    assert per_view.shape == (2, 3, 4)
    # red_8_14: black, then red (8-13 s), then black: only the middle view sees red
    assert per_view[0, 1].argmax() == COLOURS.index("red")
    np.testing.assert_allclose(per_view[0, 0], 0.25, atol=1e-6)  # all-black view: no evidence
    np.testing.assert_allclose(clf.scores(ids, views=3), per_view.mean(axis=1))


def test_prompt_ensemble_is_mean_of_normalised_prompts(lib: Library) -> None:
    clf = ZeroShotClassifier(lib, ["big_red"], templates=["a video of {}.", "{}"])
    prompts = lib.encode_texts(["a video of big red.", "big red"])
    expected = prompts.mean(axis=0)
    np.testing.assert_allclose(clf.class_vectors[0], expected / np.linalg.norm(expected), atol=1e-6)
    logits = clf.logits(clf.class_vectors)
    assert logits[0, 0] == pytest.approx(100.0)  # logit scale 100 times cosine 1


def test_descriptions_resolve_ambiguous_names(world: tuple[Path, Path], lib: Library) -> None:
    dusk = _id(lib, world[0], "dusk.mp4")
    plain = ZeroShotClassifier(lib, ["sunset", "ocean"])
    # neither name is a colour word: the encoder cannot tell the classes apart
    assert [p for _, p in plain.classify(dusk)] == pytest.approx([0.5, 0.5])
    described = ZeroShotClassifier(
        lib, ["sunset", "ocean"], descriptions={"sunset": ["an orange sky"], "ocean": ["blue"]}
    )
    assert described.classify(dusk)[0][0] == "sunset"


def test_templates(tmp_path: Path) -> None:
    assert get_templates("simple") == SIMPLE_TEMPLATES
    assert len(get_templates("kinetics")) == 28 and "a video of a person {}." in KINETICS_TEMPLATES
    path = tmp_path / "t.txt"
    path.write_text("# mine\na clip of {}.\n\n{} in action\n")
    assert get_templates(path) == ("a clip of {}.", "{} in action")
    path.write_text("no placeholder\n")
    with pytest.raises(ConfigError, match="exactly one"):
        get_templates(path)
    with pytest.raises(ConfigError, match="kinetics, simple"):
        get_templates("imagenet")


def test_pooling_without_a_temporal_head(lib: Library) -> None:
    auto = ZeroShotClassifier(lib, COLOURS)  # colour-test has no head: auto is mean pooling
    assert auto.temporal_head is None
    assert auto.describe()["video_pooling"].startswith("mean of L2-normalised frame embeddings")
    with pytest.raises(ConfigError, match="colour-test has no temporal head"):
        ZeroShotClassifier(lib, COLOURS, pooling="temporal")
    with pytest.raises(ConfigError, match="unknown video pooling 'max'; choose one of auto"):
        ZeroShotClassifier(lib, COLOURS, pooling="max")


def test_pooling_and_views_helpers() -> None:
    v = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    t = np.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(pool_frames(v, t), np.array([1.0, 2.0]) / np.sqrt(5))
    np.testing.assert_allclose(pool_frames(v, t, (0.5, 2.0)), [0.0, 1.0])
    assert view_windows(9.0, 3) == [(0.0, 3.0), (3.0, 6.0), (6.0, 9.0)]


# ---------------------------------------------------------------------------------- few-shot


@pytest.mark.parametrize("method", ["tip-adapter", "gda"])
def test_few_shot_fixes_an_ambiguous_zero_shot(
    world: tuple[Path, Path], lib: Library, method: str
) -> None:
    videos = world[0]
    zero = ZeroShotClassifier(lib, ["sunset", "ocean"])
    rows = match_labelled_videos(lib, _examples_csv(videos))
    examples = [(rec.id, label) for rec, label, _ in rows]
    assert len(examples) == 4
    few = create_few_shot(zero, examples, method)
    assert isinstance(few, TipAdapter if method == "tip-adapter" else GDA)
    for name, label in (("dusk.mp4", "sunset"), ("sea.mp4", "ocean")):
        vid = _id(lib, videos, name)
        assert [p for _, p in zero.classify(vid)] == pytest.approx([0.5, 0.5])
        best, prob = few.classify(vid)[0]
        assert best == label and prob > 0.7, (name, few.classify(vid))
    assert few.describe()["examples_per_class"] == {"sunset": 2, "ocean": 2}


def test_few_shot_examples_are_stretches_of_a_video(world: tuple[Path, Path], lib: Library) -> None:
    videos = world[0]
    path = videos / "stretches.csv"
    both = "examples/dawn_then_bay.mp4"
    path.write_text(f"path,label,time_start,time_end\n{both},sunset,0,5\n{both},ocean,5,10\n")
    rows = match_labelled_videos(lib, path)
    assert [(label, window) for _, label, window in rows] == [
        ("sunset", (0.0, 5.0)),
        ("ocean", (5.0, 10.0)),
    ]
    zero = ZeroShotClassifier(lib, ["sunset", "ocean"])
    ids = [rec.id for rec, _, _ in rows]
    few = create_few_shot(zero, list(zip(ids, ["sunset", "ocean"], strict=True)),
                          windows=[w for _, _, w in rows])  # fmt: skip
    whole = create_few_shot(zero, list(zip(ids, ["sunset", "ocean"], strict=True)))
    for name, label in (("dusk.mp4", "sunset"), ("sea.mp4", "ocean")):
        vid = _id(lib, videos, name)
        assert few.classify(vid)[0][0] == label
        # the whole video is both: as examples they cannot tell the classes apart
        assert [p for _, p in whole.classify(vid)] == pytest.approx([0.5, 0.5])


def test_labels_csv_layouts(tmp_path: Path) -> None:
    from vidlens.recognition import read_labelled_csv

    (tmp_path / "a.csv").write_text("clips/x.mp4,dog\n/abs/y.mp4,cat\n")
    rows = read_labelled_csv(tmp_path / "a.csv")
    assert [(r.path, r.label, r.window) for r in rows] == [
        ((tmp_path / "clips/x.mp4").resolve(), "dog", None),
        (Path("/abs/y.mp4"), "cat", None),
    ]
    (tmp_path / "b.csv").write_text("x.mp4,dog,1.5,4\n")  # headerless, with times
    assert read_labelled_csv(tmp_path / "b.csv")[0].window == (1.5, 4.0)
    (tmp_path / "c.csv").write_text("split,time_end,video,label,time_start\nval,9,x.mp4,dog,2\n")
    (row,) = read_labelled_csv(tmp_path / "c.csv")  # named columns, any order
    assert (row.path, row.label, row.window) == ((tmp_path / "x.mp4").resolve(), "dog", (2.0, 9.0))
    (tmp_path / "k.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "abseiling,--07WQ2iBlw,1,11,train,0\nair drumming,-0NXNIU9uyk,0.5,10.5,train,0\n"
    )
    k = read_labelled_csv(tmp_path / "k.csv")
    assert [(r.youtube_id, r.label, r.window, r.path) for r in k] == [
        ("--07WQ2iBlw", "abseiling", (1.0, 11.0), None),
        ("-0NXNIU9uyk", "air drumming", (0.5, 10.5), None),
    ]
    assert k[0].clip_stem() == "--07WQ2iBlw_000001_000011"  # the downloaders' file name
    assert k[1].clip_stem() is None  # no integer times, no such file name


def test_tip_adapter_formula(lib: Library) -> None:
    zero = ZeroShotClassifier(lib, ["red", "blue"])
    keys = np.eye(10)[[2, 4]]  # one example per class: pure red, pure blue
    tip = TipAdapter(zero, keys, [0, 1])
    x = np.eye(10)[[2]]
    expected = zero.logits(x) + np.array([[1.0, np.exp(-5.5)]])  # alpha 1, beta 5.5
    np.testing.assert_allclose(tip.logits(x), expected)


def test_few_shot_errors(world: tuple[Path, Path], lib: Library, tmp_path: Path) -> None:
    zero = ZeroShotClassifier(lib, ["sunset", "ocean"])
    with pytest.raises(ConfigError, match="not among the labels: forest"):
        create_few_shot(zero, [(_id(lib, world[0], "dusk.mp4"), "forest")])
    with pytest.raises(ConfigError, match="choose one of tip-adapter, gda"):
        create_few_shot(zero, [], "knn")
    csv = tmp_path / "ex.csv"
    csv.write_text("gone.mp4,sunset\n")
    with pytest.raises(QueryError, match=r"not in the library .*'.*gone.mp4'.*vidlens index"):
        match_labelled_videos(lib, csv)


# ---------------------------------------------------------------------------------- CLI


def _cli() -> click.Group:
    """The main CLI when it mounts ``classify``, else a fresh group holding it."""
    from vidlens.cli import main

    if "classify" in main.commands:
        return main
    return click.Group(commands={"classify": classify})


def test_cli_classify_json(world: tuple[Path, Path]) -> None:
    videos, lib = world
    result = CliRunner().invoke(
        _cli(),
        [
            *("classify", str(videos / "red_8_14.mp4"), str(videos / "green_then_yellow.mp4")),
            *("--labels", "red, green, blue, yellow", "--library", str(lib), "--json"),
            *("--window", "15", "20"),
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["classifier"]["labels"] == COLOURS
    assert out["classifier"]["templates"]["source"] == "simple"
    first, second = out["results"]
    # 15-20 s of red_8_14 is black: no evidence, every class equally likely
    assert [p["probability"] for p in first["predictions"]] == pytest.approx([0.25] * 4)
    assert second["predictions"][0]["label"] == "yellow" and second["window"] == [15.0, 20.0]


def test_cli_classify_few_shot_text(world: tuple[Path, Path], tmp_path: Path) -> None:
    videos, lib = world
    labels = tmp_path / "labels.txt"
    labels.write_text("sunset\nocean\n")
    result = CliRunner().invoke(
        _cli(),
        [
            *("classify", str(videos / "sea.mp4"), "--labels-file", str(labels)),
            *("--few-shot", str(_examples_csv(videos)), "--few-shot-method", "gda"),
            *("--library", str(lib), "--top-k", "1"),
        ],
    )
    assert result.exit_code == 0, result.output
    line = result.output.strip()
    assert line.startswith(f"{videos / 'sea.mp4'}: ocean ") and "sunset" not in line


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.mp4", "--labels", "a,b"], "or index it first: vidlens index nowhere.mp4"),
        (["VIDEO", "--labels", "a"], "at least two class labels"),
        (["VIDEO"], 'give the classes with --labels "a,b,c" or --labels-file FILE'),
        (["VIDEO", "--labels", "a,b", "--templates", "odd"], "unknown template set 'odd'"),
        (["VIDEO", "--labels", "a,b", "--alpha", "2"], "add --few-shot FILE.csv"),
        (
            ["VIDEO", "--labels", "a,b", "--pooling", "temporal"],
            "the library's encoder colour-test has no temporal head",
        ),
        (
            ["VIDEO", "--labels", "a,b", "--window", "50", "60"],
            "starts after the end of",
        ),
    ],
)
def test_cli_classify_errors(world: tuple[Path, Path], args: list[str], message: str) -> None:
    videos, lib = world
    args = [str(videos / "blue_all.mp4") if a == "VIDEO" else a for a in args]
    result = CliRunner().invoke(_cli(), ["classify", *args, "--library", str(lib)])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: ") and message in line
