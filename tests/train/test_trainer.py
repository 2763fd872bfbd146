"""A short training run on a tiny architecture learns; checkpoints resume and export loadably."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from vidlens.synth.generate import generate
from vidlens.synth.world import WorldConfig
from vidlens.train.data import ClipSampler, FrameCache, build_cache
from vidlens.train.trainer import TrainConfig, load_train_config, train

MICRO_CFG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 64, "layers": 2, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
WORLD = WorldConfig(width=64, height=64, fps=4.0, min_duration_s=8, max_duration_s=10,
                    max_distractors=1)  # fmt: skip


@pytest.fixture(scope="module")
def micro_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("train")
    generate(root / "data", count=16, seed=11, split="train", config=WORLD)
    model = root / "micro.json"
    model.write_text(json.dumps({"model_cfg": MICRO_CFG}))
    return root / "data", model


@pytest.fixture(scope="module")
def micro_cache(
    micro_set: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> FrameCache:
    """The micro set's frames at 32 px, decoded once for the tests that only read them."""
    return build_cache(micro_set[0], tmp_path_factory.mktemp("cache"), image_size=32, fps=2.0)


def _config(data: Path, model: Path, out: Path, **kw: object) -> TrainConfig:
    base: dict[str, object] = dict(
        data=str(data), val_data=str(data), out_dir=str(out), model=str(model), head_layers=1,
        head_heads=2, epochs=20, batch_size=16, frames_per_clip=4, lr=3e-3, warmup_steps=5,
        limit_val_videos=None, seed=0, threads=1,
    )  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_batches_carry_exact_truth(micro_set: tuple[Path, Path], tmp_path: Path) -> None:
    data, _ = micro_set
    cache = build_cache(data, tmp_path / "cache", image_size=32, fps=2.0)
    assert cache.frames.shape[1:] == (32, 32, 3) and cache.frames.dtype == np.uint8
    sampler = ClipSampler(cache, batch_size=8, frames_per_clip=4, seed=0)
    a = [b.texts for b in sampler.epoch(0)]
    assert a == [b.texts for b in sampler.epoch(0)]  # a pure function of (seed, epoch)
    batch = next(iter(sampler.epoch(1)))
    assert batch.frames.shape == (8, 4, 32, 32, 3)
    assert batch.clip_pos.diagonal().all()
    assert batch.frame_pos.any(axis=0).all()  # every caption is true of some frame
    # a whole-video caption is never a positive of another video's frames
    for j in np.nonzero(~batch.is_event)[0]:
        rows = batch.frame_pos[:, j].reshape(8, 4).any(axis=1)
        assert rows[j]


def test_short_run_lowers_loss_and_lifts_recall(
    micro_set: tuple[Path, Path], tmp_path: Path
) -> None:
    data, model = micro_set
    # the shipped recipe's losses (captions, hard negatives, class sentences, action frames)
    # and precision (bfloat16 towers)
    cfg = _config(data, model, tmp_path / "run", hard_negatives=1, action_loss_weight=1.0,
                  action_classifier_weight=1.0, action_frames=16, precision="bf16")  # fmt: skip
    result = train(cfg, show_progress=False)
    first, last = result.history[0], result.history[-1]
    assert last["loss"] < 0.8 * first["loss"]
    assert 0.0 <= last["val_action_mean"] <= 1.0 and 0.0 <= last["val_action_temporal"] <= 1.0
    # 16 videos: chance R@1 is 1/16
    assert max(last["val_R@1_mean"], last["val_R@1_topk"]) >= 0.3, result.history
    out = tmp_path / "run"
    assert (out / "model.safetensors").is_file() and (out / "temporal_head.safetensors").is_file()
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["train"]["seed"] == 0 and cfg["model_cfg"] == MICRO_CFG

    # the export loads through the normal open_clip encoder path
    from vidlens.encoders import create_encoder

    enc = create_encoder(f"openclip:micro/{out / 'model.safetensors'}", dtype="float32")
    assert enc.dim == 64
    assert enc.encode_images(np.zeros((2, 64, 64, 3), np.uint8)).shape == (2, 64)
    # its temporal head knows the clip length it learned: longer stretches are pooled to it
    from vidlens.encoders.tiny import load_temporal_head

    head = load_temporal_head(out / "model.safetensors")
    assert head.cfg.layers == 1 and head.cfg.clip_frames == 4 and head.cfg.input_frames == 4


def test_resume_continues_to_the_same_weights(micro_set: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    data, model = micro_set
    kw = {"epochs": 2, "val_data": None, "cache_dir": str(tmp_path / "cache")}
    straight = train(_config(data, model, tmp_path / "a", **kw), show_progress=False)
    train(_config(data, model, tmp_path / "b", **{**kw, "epochs": 1}), show_progress=False)
    resumed = train(_config(data, model, tmp_path / "b", **kw), resume=True, show_progress=False)
    assert resumed.steps == straight.steps
    a = load_file(str(tmp_path / "a" / "model.safetensors"))
    b = load_file(str(tmp_path / "b" / "model.safetensors"))
    for k in a:
        np.testing.assert_allclose(a[k].astype(np.float32), b[k].astype(np.float32), atol=2e-3)


def test_bf16_towers_give_the_float32_loss(micro_set: tuple[Path, Path], micro_cache: FrameCache,
                                          tmp_path: Path) -> None:  # fmt: skip
    import torch

    from vidlens.train.trainer import batch_loss, build_model

    data, model = micro_set
    cfg = _config(data, model, tmp_path, hard_negatives=1, action_loss_weight=1.0,
                  action_classifier_weight=1.0, action_frames=8)  # fmt: skip
    sampler = ClipSampler(micro_cache, batch_size=8, frames_per_clip=4, seed=0, hard_negatives=1,
                          action_frames=8)  # fmt: skip
    batch = next(iter(sampler.epoch(0)))
    cpu = torch.device("cpu")
    net, s = build_model(cfg, cpu)
    with torch.no_grad():
        fp32 = batch_loss(net, batch, cfg, s.tokenizer, s.mean, s.std, cpu)
        bf16 = batch_loss(net, batch, dataclasses.replace(cfg, precision="bf16"), s.tokenizer,
                          s.mean, s.std, cpu)  # fmt: skip
    assert bf16.dtype == fp32.dtype == torch.float32
    assert abs(float(bf16) - float(fp32)) <= 0.02 * float(fp32), (float(bf16), float(fp32))
    # and it is not the same computation: bfloat16 rounding shows in the loss
    assert float(bf16) != float(fp32)


def test_config_file_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "cfg.toml"
    path.write_text('data = "d"\nout_dir = "o"\nepochs = 3\n')
    cfg = load_train_config(path, epochs=5, lr=None)
    assert cfg.epochs == 5 and cfg.data == "d" and cfg.lr == TrainConfig("d", "o").lr
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": "d", "out_dir": "o", "epoch": 3}')
    from vidlens.errors import ConfigError

    with pytest.raises(ConfigError, match="epoch"):
        load_train_config(bad)


def test_hard_negatives_are_other_actions_of_the_same_object(micro_cache: FrameCache) -> None:
    cache = micro_cache
    batch = next(iter(ClipSampler(cache, batch_size=8, frames_per_clip=4, seed=0,
                                  hard_negatives=2).epoch(0)))  # fmt: skip
    n_events = int(batch.is_event.sum())
    assert len(batch.texts) == 8 + 2 * n_events
    assert batch.clip_pos.shape == (8, len(batch.texts))
    # a counterfactual is (almost always) false of the clip it was made from
    assert batch.clip_pos[:, 8:].mean() < 0.2


def test_generic_captions_are_true_of_every_object_doing_the_action(
    micro_cache: FrameCache,
) -> None:
    from vidlens.synth.world import phrase_matches

    cache = micro_cache
    sampler = ClipSampler(cache, batch_size=8, frames_per_clip=4, seed=0, generic_captions=1.0)
    seen = 0
    for epoch in range(3):
        for batch in sampler.epoch(epoch):
            for j in np.nonzero(batch.is_event)[0]:
                text = batch.texts[j]
                assert text.split()[0] in ("something", "a", "an", "one"), text
                assert not any(s in text for s in ("circle", "square", "triangle", "star"))
                seen += 1
            # the truth table follows the world, for every clip of the batch (not only the
            # caption's own): a generic caption is true wherever any object does the action
            assert batch.frame_pos[:, np.nonzero(batch.is_event)[0]].any(axis=0).all()
    assert seen > 10
    # the per-frame truth of a generic phrase is exactly "some object does it now"
    v = cache.videos[0]
    ev = v.events[0]
    from vidlens.synth.world import Phrase

    inside = (ev.start_s + ev.end_s) / 2
    assert phrase_matches(v, Phrase(action=ev.action), inside)
    other = [e for e in v.events if e.action == ev.action]
    outside = [t for t in np.arange(0, v.duration_s, 0.5)
               if not any(e.start_s <= t <= e.end_s for e in other)]  # fmt: skip
    assert outside and not any(phrase_matches(v, Phrase(action=ev.action), t) for t in outside)


def test_config_rejects_bad_temperature_and_generic_share(tmp_path: Path) -> None:
    from vidlens.errors import ConfigError

    with pytest.raises(ConfigError, match="init_temperature"):
        TrainConfig(data="d", out_dir=str(tmp_path), init_temperature=0.001)
    with pytest.raises(ConfigError, match="generic_captions"):
        TrainConfig(data="d", out_dir=str(tmp_path), generic_captions=1.5)
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, got 'fp16'"):
        TrainConfig(data="d", out_dir=str(tmp_path), precision="fp16")


def test_batches_carry_the_exact_action_of_every_frame(micro_cache: FrameCache) -> None:
    from vidlens.synth.annotations import class_prompts
    from vidlens.synth.world import ACTION_LABELS, ACTIONS

    cache = micro_cache
    sampler = ClipSampler(cache, batch_size=8, frames_per_clip=4, seed=0)
    checked = 0
    for epoch in range(2):
        for batch in sampler.epoch(epoch):
            assert len(batch.action_texts) == len(ACTIONS)
            for a, text in zip(ACTIONS, batch.action_texts, strict=True):
                assert text in class_prompts(ACTION_LABELS[a])
            share = batch.frame_action.reshape(8, 4, -1).mean(axis=1)
            assert (batch.clip_action == (share >= 0.5)).all()
            assert not (batch.clip_action & batch.clip_action_ignore).any()
            for i in np.nonzero(batch.is_event)[0]:
                # an event clip is cut around its event: the event's action is true of the
                # frames inside it (where the object is visible) and false well outside it
                rows = batch.frame_action[i * 4 : (i + 1) * 4]
                assert rows.any(), batch.texts[i]
                checked += 1
    assert checked > 10
    # the table is the world's truth: some visible object does the action at that instant
    from vidlens.synth.world import object_state

    for batch in sampler.epoch(2):
        for row, (vi, times) in enumerate(zip(batch.videos, batch.times, strict=True)):
            v = cache.videos[int(vi)]
            for k, t in enumerate(times):
                want = np.zeros(len(ACTIONS), bool)
                for ev in v.events:
                    if ev.start_s <= t <= ev.end_s and object_state(v, ev.obj, float(t)).visible:
                        want[ACTIONS.index(ev.action)] = True
                np.testing.assert_array_equal(batch.frame_action[row * 4 + k], want)


def test_action_frames_are_augmented_and_labelled_after_the_flip(micro_cache: FrameCache) -> None:
    from itertools import permutations

    from vidlens.synth.world import ACTIONS

    cache = micro_cache
    sampler = ClipSampler(cache, batch_size=8, frames_per_clip=4, seed=0, action_frames=16)
    flips = {"h": {"move_left": "move_right", "move_right": "move_left"},
             "v": {"move_up": "move_down", "move_down": "move_up"}}  # fmt: skip
    rows = np.concatenate(sampler.action_pool)
    row_action = np.concatenate([np.full(len(p), a) for a, p in enumerate(sampler.action_pool)])
    cand = np.asarray(cache.frames)[rows]
    seen_labels: set[int] = set()
    recoloured = 0
    for batch in sampler.epoch(0):
        assert batch.action_frames is not None and batch.action_labels is not None
        assert batch.action_frames.shape == (16, 32, 32, 3)
        for frame, label in zip(batch.action_frames, batch.action_labels, strict=True):
            # the cache frame it was made from: same pixels up to channel order and mirrors
            wants = set()
            for h in (False, True):
                for v in (False, True):
                    x = cand[:, :, ::-1] if h else cand
                    x = x[:, ::-1] if v else x
                    for perm in permutations(range(3)):
                        for k in np.nonzero((x[..., list(perm)] == frame).all(axis=(1, 2, 3)))[0]:
                            want = ACTIONS[int(row_action[k])]
                            want = flips["h"].get(want, want) if h else want
                            want = flips["v"].get(want, want) if v else want
                            wants.add(want)
                            recoloured += int(perm != (0, 1, 2))
            assert wants, "an action frame is not a mirrored, recoloured cache frame"
            assert ACTIONS[int(label)] in wants
            seen_labels.add(int(label))
    assert recoloured > 0
    assert len(seen_labels) >= 8  # drawn across the actions, not from one
