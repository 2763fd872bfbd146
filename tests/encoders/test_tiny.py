"""The shipped vidlens-tiny model: loads through the registry, is the offline default, and
reproduces its stored figures on a fixed synthetic subset."""

from __future__ import annotations

import json
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


def test_is_the_default_without_pretrained_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    import vidlens.encoders.openclip as oc

    monkeypatch.setattr(oc, "weights_available", lambda arch, tag: False)
    assert default_encoder_id() == "vidlens-tiny"


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
        data, tmp_path / "lib", temporal_head=load_temporal_head(), aggregations=("topk-mean",)
    )
    for key, value in ref["metrics"].items():
        assert abs(got[key] - value) <= TOLERANCE, (key, got[key], value)
