"""The open_clip backend, loaded through the real checkpoint path with a tiny random architecture.

Nothing is downloaded: checkpoints are written by the tests (``save_random_checkpoint``), the
model hub is switched off, and the one test with real weights runs only where they are on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from vidlens.encoders import create_encoder
from vidlens.encoders import openclip as openclip_module
from vidlens.encoders.openclip import (
    CONFIG_FILENAME,
    OpenClipEncoder,
    _TrimmableText,
    parse_openclip_spec,
    save_random_checkpoint,
    weights_available,
)
from vidlens.errors import EncoderError

# A CLIP small enough to load in a fraction of a second (the vocabulary dominates its 3.4M params).
TINY: dict[str, object] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}
TEXTS = ["a dog", "", "a red car driving along a coastal road at sunset", "two people", "x"]
LOCAL_HINT = "--encoder openclip:ViT-B-32//path/to/open_clip_model.safetensors"


def load(encoder_id: str, **overrides: Any) -> OpenClipEncoder:
    """``create_encoder`` through the registry, typed as what the openclip factory returns."""
    enc = create_encoder(encoder_id, **overrides)
    assert isinstance(enc, OpenClipEncoder)
    return enc


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_checkpoint(TINY, tmp_path_factory.mktemp("tiny") / "tiny.safetensors")


@pytest.fixture(scope="module")
def tiny(tiny_ckpt: Path) -> OpenClipEncoder:
    return load(f"openclip:tiny/{tiny_ckpt}", dtype="float32")


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No model hub, and empty Hugging Face and open_clip caches."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # ~/.cache/clip
    return tmp_path


def smooth_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """One smooth RGB frame, uint8 ``(height, width, 3)``: the same picture at any size."""
    low = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, 3, 3, 4)) * 1.0)
    up = torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear")
    frame: np.ndarray = up.round().clamp(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()
    return frame


def unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.linalg.norm(x, axis=-1, keepdims=True)
    return out


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((unit(a) * unit(b)).sum(-1).min())


# --------------------------------------------------------------------------- loading


def test_loads_through_the_registry(tiny: OpenClipEncoder, tiny_ckpt: Path) -> None:
    assert tiny.id == f"openclip:tiny/{tiny_ckpt}"  # absolute path: "tiny//tmp/..."
    assert tiny.id.startswith("openclip:tiny//")
    assert (tiny.dim, tiny.image_size) == (32, 64)
    assert tiny.fingerprint.startswith("sha256:") and len(tiny.fingerprint) == 71
    frames = np.stack([smooth_frame(48, 80, seed) for seed in range(3)])
    images = tiny.encode_images(frames)
    texts = tiny.encode_texts(TEXTS)
    assert images.shape == (3, 32) and images.dtype == np.float32
    assert texts.shape == (len(TEXTS), 32) and texts.dtype == np.float32
    assert np.isfinite(images).all() and np.isfinite(texts).all()
    assert tiny.encode_images(np.zeros((0, 10, 10, 3), np.uint8)).shape == (0, 32)
    assert tiny.encode_texts([]).shape == (0, 32)


def test_batches_do_not_change_results(tiny_ckpt: Path, tiny: OpenClipEncoder) -> None:
    one = load(f"openclip:tiny/{tiny_ckpt}", dtype="float32", batch_size=1)
    frames = np.stack([smooth_frame(64, 64, seed) for seed in range(3)])
    np.testing.assert_allclose(one.encode_images(frames), tiny.encode_images(frames), atol=1e-5)
    np.testing.assert_allclose(one.encode_texts(TEXTS), tiny.encode_texts(TEXTS), atol=1e-5)


def test_read_only_frames_encode_without_a_warning(tiny: OpenClipEncoder) -> None:
    """A picture opened with PIL and np.asarray is read-only; torch warned on every such query."""
    import warnings

    frame = smooth_frame(48, 64)
    locked = frame.copy()
    locked.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tiny.encode_images(locked[None])
    np.testing.assert_array_equal(out, tiny.encode_images(frame[None]))


def test_texts_past_the_context_are_named(
    tiny: OpenClipEncoder, caplog: pytest.LogCaptureFixture
) -> None:
    """CLIP reads 77 tokens; a longer query loses its tail, and the user is told so."""
    import logging

    long = "a red car driving along a coast road at sunset " * 12
    with caplog.at_level(logging.WARNING, logger="vidlens.encoders"):
        tiny.encode_texts(["a red car", "a dog"])
        assert not caplog.records
        tiny.encode_texts(["a red car", long])
    (record,) = caplog.records
    assert "1 text(s) longer than the text encoder's 77 tokens" in record.getMessage()
    assert "'a red car driving along" in record.getMessage()


def test_two_loads_agree_exactly(tiny_ckpt: Path, tiny: OpenClipEncoder) -> None:
    again = load(f"openclip:tiny/{tiny_ckpt}", dtype="float32")
    frames = np.stack([smooth_frame(64, 64, 1)])
    assert again.fingerprint == tiny.fingerprint
    np.testing.assert_array_equal(again.encode_images(frames), tiny.encode_images(frames))
    np.testing.assert_array_equal(again.encode_texts(TEXTS), tiny.encode_texts(TEXTS))


def test_fingerprint_follows_weights_not_file(
    tiny_ckpt: Path, tiny: OpenClipEncoder, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    moved = tmp_path / "elsewhere" / "renamed.pt"  # another place and format, same weights
    moved.parent.mkdir()
    torch.save({"state_dict": load_file(str(tiny_ckpt))}, moved)
    shutil.copy(f"{tiny_ckpt}.json", f"{moved}.json")
    assert load(f"openclip:tiny/{moved}").fingerprint == tiny.fingerprint
    other = save_random_checkpoint(TINY, tmp_path / "seed1.safetensors", seed=1)
    assert load(f"openclip:tiny/{other}").fingerprint != tiny.fingerprint


def test_relative_path_is_kept_as_given(
    tiny_ckpt: Path, tiny: OpenClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tiny_ckpt.parent)
    enc = load("openclip:tiny/tiny.safetensors")
    assert enc.id == "openclip:tiny/tiny.safetensors"
    assert enc.fingerprint == tiny.fingerprint


def test_folder_with_open_clip_config(
    tiny_ckpt: Path, tiny: OpenClipEncoder, tmp_path: Path
) -> None:
    # the layout open_clip pushes to the model hub: open_clip_config.json + the weights
    folder = tmp_path / "snapshot"
    folder.mkdir()
    shutil.copy(tiny_ckpt, folder / "open_clip_model.safetensors")
    shutil.copy(f"{tiny_ckpt}.json", folder / CONFIG_FILENAME)
    for spec in (f"tiny/{folder}", f"tiny/{folder}/open_clip_model.safetensors"):
        assert load(f"openclip:{spec}").fingerprint == tiny.fingerprint


def test_preprocess_cfg_of_the_sidecar_is_used(tmp_path: Path) -> None:
    cfg = {"model_cfg": TINY, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    enc = load(f"openclip:t/{save_random_checkpoint(cfg, tmp_path / 'm.safetensors')}")
    x = enc._to_model_input(np.full((1, 64, 64, 3), 255, np.uint8))
    assert torch.allclose(x.float(), torch.ones_like(x.float()))  # (1 - 0.5) / 0.5


# --------------------------------------------------------------------------- precision


def test_bfloat16_stays_within_1e2_cosine(tiny_ckpt: Path, tiny: OpenClipEncoder) -> None:
    bf16 = load(f"openclip:tiny/{tiny_ckpt}", dtype="bfloat16")
    assert bf16.dtype == "bfloat16"
    frames = np.stack([smooth_frame(96, 128, seed) for seed in range(4)])
    out = bf16.encode_images(frames)
    assert out.dtype == np.float32
    assert min_cosine(out, tiny.encode_images(frames)) > 0.99
    assert min_cosine(bf16.encode_texts(TEXTS), tiny.encode_texts(TEXTS)) > 0.99
    assert bf16.fingerprint == tiny.fingerprint  # computed on the float32 weights


def test_auto_keeps_low_precision_that_passes_the_check(
    tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openclip_module, "_auto_low_precision", lambda device: "bfloat16")
    enc = load(f"openclip:tiny/{tiny_ckpt}")  # dtype="auto"
    assert enc.dtype == "bfloat16"
    assert enc.precision_cosine is not None and enc.precision_cosine >= 0.99


def test_auto_falls_back_to_float32_when_the_check_fails(
    tiny_ckpt: Path, tiny: OpenClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openclip_module, "_auto_low_precision", lambda device: "bfloat16")
    monkeypatch.setattr(openclip_module, "MIN_LOW_PRECISION_COSINE", 1.01)  # nothing passes
    enc = load(f"openclip:tiny/{tiny_ckpt}")
    assert enc.dtype == "float32" and enc.precision_cosine is not None
    frames = np.stack([smooth_frame(64, 64, 2)])
    # reloaded, not cast back from bfloat16: exactly the float32 results
    np.testing.assert_array_equal(enc.encode_images(frames), tiny.encode_images(frames))
    np.testing.assert_array_equal(enc.encode_texts(TEXTS), tiny.encode_texts(TEXTS))


def test_auto_on_this_machine(tiny_ckpt: Path) -> None:
    enc = load(f"openclip:tiny/{tiny_ckpt}")
    assert enc.dtype in ("float32", "bfloat16")
    if enc.dtype == "bfloat16":  # this CPU has native bf16: the check ran and passed
        assert enc.precision_cosine is not None and enc.precision_cosine >= 0.99


# --------------------------------------------------------------------------- text trimming


def test_text_trimming_is_exact_and_shorter(
    tiny: OpenClipEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tiny.trim_text_padding
    assert tiny.text_trim_error is not None and tiny.text_trim_error <= 1e-5
    lengths: list[int] = []
    forward = _TrimmableText.forward

    def spy(self: _TrimmableText, tokens: torch.Tensor) -> torch.Tensor:
        lengths.append(tokens.shape[1])
        return forward(self, tokens)

    monkeypatch.setattr(_TrimmableText, "forward", spy)
    trimmed = tiny.encode_texts(TEXTS)
    assert lengths and max(lengths) < 77
    monkeypatch.setattr(tiny, "trim_text_padding", False)
    full = tiny.encode_texts(TEXTS)
    assert np.abs(unit(trimmed) - unit(full)).max() <= 1e-5


def test_no_trimming_when_padding_matters(tmp_path: Path) -> None:
    # bidirectional text tower with last-token pooling (SigLIP-like): padding changes the result
    cfg = json.loads(json.dumps(TINY))
    cfg["text_cfg"].update(no_causal_mask=True, pool_type="last")
    enc = load(f"openclip:bidir/{save_random_checkpoint(cfg, tmp_path / 'b.safetensors')}")
    assert not enc.trim_text_padding
    assert enc.encode_texts(TEXTS).shape == (len(TEXTS), 32)


# --------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("resize_mode", "interpolation", "height", "width"),
    [
        ("shortest", "bicubic", 90, 160),  # landscape, downscale
        ("shortest", "bicubic", 120, 70),  # portrait
        ("shortest", "bilinear", 40, 50),  # upscale
        ("squash", "bicubic", 90, 160),
        ("longest", "bicubic", 90, 160),  # letterbox padding
        ("shortest", "bicubic", 64, 64),  # already the model's size: no resize
    ],
)
def test_preprocessing_matches_open_clip(
    tmp_path: Path, resize_mode: str, interpolation: str, height: int, width: int
) -> None:
    from open_clip.transform import PreprocessCfg, image_transform_v2
    from PIL import Image

    pp = {"resize_mode": resize_mode, "interpolation": interpolation}
    ckpt = save_random_checkpoint(
        {"model_cfg": TINY, "preprocess_cfg": pp}, tmp_path / "p.safetensors"
    )
    enc = load(f"openclip:tiny/{ckpt}", dtype="float32")
    frame = np.ascontiguousarray(
        np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    )
    ours = enc._to_model_input(frame[None])[0]
    theirs = image_transform_v2(PreprocessCfg(size=64, **pp), is_train=False)(
        Image.fromarray(frame)
    )
    assert ours.shape == theirs.shape == (3, 64, 64)
    diff = (ours - theirs).abs()
    # both resize in uint8; torch's kernels may round a few pixels one level differently from PIL
    assert float(diff.mean()) < 2e-3 and float(diff.max()) < 0.1


def test_same_picture_at_two_resolutions(tiny: OpenClipEncoder) -> None:
    small, large = smooth_frame(96, 128), smooth_frame(384, 512)
    a = tiny.encode_images(small[None])
    b = tiny.encode_images(large[None])
    c = tiny.encode_images(smooth_frame(96, 128, seed=7)[None])
    assert min_cosine(a, b) > 0.99
    assert min_cosine(a, b) > min_cosine(a, c)  # closer to itself than to another picture


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("ViT-B32/openai", ["unknown open_clip architecture", "ViT-B-32"]),
        ("ViT-B-32/opena", ["not a pretrained tag", "openai", "random"]),
        ("ViT-B-32/laion2b_s34b_b79", ["laion2b_s34b_b79k"]),
        ("ViT-B-32", ["names no weights", "ARCH/PRETRAINED", "openclip:ViT-B-32/openai"]),
        ("/abs/ckpt.safetensors", ["architecture comes first", "openclip:ARCH//abs/path"]),
        ("ViT-B-32/", ["ends with '/'"]),
        ("hf-hub:laion/CLIP-ViT-B-32", ["not accepted"]),
        (None, ["needs a model"]),
    ],
)
def test_bad_specs_say_what_to_write(spec: str | None, expected: list[str]) -> None:
    with pytest.raises(EncoderError) as info:
        parse_openclip_spec(spec)
    for text in expected:
        assert text in str(info.value)


def test_tags_use_open_clip_spelling() -> None:
    spec = parse_openclip_spec("ViT-B-32/LAION2B-S34B-B79K")
    assert (spec.kind, spec.encoder_id) == ("tag", "openclip:ViT-B-32/laion2b_s34b_b79k")


def test_offline_without_weights_is_one_clear_error(empty_caches: Path) -> None:
    with pytest.raises(EncoderError) as info:
        create_encoder("openclip:ViT-B-32/openai")
    message = str(info.value)
    assert "ViT-B-32/openai are not on this machine" in message
    assert "HF_HUB_OFFLINE" in message and LOCAL_HINT in message
    assert str(empty_caches / "hf" / "hub") in message  # where it looked
    assert not weights_available("ViT-B-32", "openai")


def test_unreachable_hub_fails_fast(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    with pytest.raises(EncoderError) as info:
        create_encoder("openclip:ViT-B-32/openai")
    assert "the model hub cannot be reached (127.0.0.1:9" in str(info.value)
    assert LOCAL_HINT in str(info.value)


def _fake_hub_file(cache: Path, repo: str, filename: str, content: bytes) -> Path:
    """A file laid out as huggingface_hub caches it (found by try_to_load_from_cache)."""
    repo_dir = cache / f"models--{repo.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text("0" * 40)
    path = repo_dir / "snapshots" / ("0" * 40) / filename
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    return path


def test_cached_tag_is_found_without_the_network(empty_caches: Path) -> None:
    cached = _fake_hub_file(
        empty_caches / "hf" / "hub",
        "timm/vit_base_patch32_clip_224.openai",
        "open_clip_model.safetensors",
        b"not really weights",
    )
    assert weights_available("ViT-B-32", "openai")
    with pytest.raises(EncoderError) as info:  # found and read: the cache path was used
        create_encoder("openclip:ViT-B-32/openai")
    assert "cannot be read" in str(info.value) and "ViT-B-32/openai" in str(info.value)
    assert cached.exists()


def test_weights_available(tiny_ckpt: Path, empty_caches: Path) -> None:
    assert weights_available("tiny", str(tiny_ckpt))
    assert weights_available("tiny", str(tiny_ckpt.parent))  # a folder holding one checkpoint
    assert not weights_available("tiny", str(tiny_ckpt.parent / "missing.safetensors"))
    assert weights_available("ViT-B-32", "random")
    assert not weights_available("ViT-B-32", "laion2b_s34b_b79k")
    assert not weights_available("No-Such-Arch", "openai")


def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="does not exist"):
        load(f"openclip:tiny/{tmp_path}/absent.safetensors")


def test_unknown_arch_without_config(tiny_ckpt: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.safetensors"
    shutil.copy(tiny_ckpt, bare)  # no sidecar: the architecture must be a known name
    with pytest.raises(EncoderError, match=r"unknown open_clip architecture 'tiny'.*model_cfg"):
        load(f"openclip:tiny/{bare}")


def test_checkpoint_that_does_not_fit(tiny_ckpt: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.safetensors"
    shutil.copy(tiny_ckpt, wrong)
    cfg = json.loads(json.dumps(TINY))
    cfg["text_cfg"]["width"] = 32
    Path(f"{wrong}.json").write_text(json.dumps({"model_cfg": cfg}))
    with pytest.raises(EncoderError, match="does not fit architecture"):
        load(f"openclip:tiny/{wrong}")


def test_pickled_objects_are_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": load_file(str(tiny_ckpt)), "x": argparse.Namespace(a=1)}, evil)
    shutil.copy(f"{tiny_ckpt}.json", f"{evil}.json")
    with pytest.raises(EncoderError, match="not a plain state dict"):
        load(f"openclip:tiny/{evil}")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error without a GPU")
def test_cuda_asked_without_cuda(tiny_ckpt: Path) -> None:
    with pytest.raises(EncoderError, match=r"CUDA is not available.*--device cpu"):
        load(f"openclip:tiny/{tiny_ckpt}", device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_cpu(tiny_ckpt: Path, tiny: OpenClipEncoder) -> None:
    gpu = load(f"openclip:tiny/{tiny_ckpt}", device="cuda")  # auto: low precision, checked
    assert gpu.device.startswith("cuda") and gpu.dtype in ("bfloat16", "float16")
    assert gpu.precision_cosine is not None and gpu.precision_cosine >= 0.99
    frames = np.stack([smooth_frame(90, 160, seed) for seed in range(3)])
    assert min_cosine(gpu.encode_images(frames), tiny.encode_images(frames)) > 0.99
    assert min_cosine(gpu.encode_texts(TEXTS), tiny.encode_texts(TEXTS)) > 0.99
    # the GPU resizes in float and rounds like uint8: the same pixels, to a level or so
    diff = (gpu._to_model_input(frames).float().cpu() - tiny._to_model_input(frames)).abs()
    assert float(diff.mean()) < 0.02


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"dtype": "int8"}, "unknown dtype"),
        ({"device": "gpu0"}, "unknown device"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_config(tiny_ckpt: Path, overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(EncoderError, match=match):
        load(f"openclip:tiny/{tiny_ckpt}", **overrides)


def test_bad_inputs(tiny: OpenClipEncoder) -> None:
    with pytest.raises(EncoderError, match="uint8 RGB frames"):
        tiny.encode_images(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(EncoderError, match="list of strings"):
        tiny.encode_texts("a dog")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- random weights

_RANDOM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import open_clip
    from vidlens.encoders import create_encoder
    from vidlens.encoders.openclip import save_random_checkpoint

    open_clip.add_model_config(sys.argv[1])  # registers "vidlens-tiny-test" in this process only
    enc = create_encoder("openclip:vidlens-tiny-test/random", dtype="float32")
    frames = np.arange(2 * 40 * 50 * 3, dtype=np.uint8).reshape(2, 40, 50, 3)
    emb = np.concatenate([enc.encode_images(frames), enc.encode_texts(["a dog", "red"])])
    ckpt = save_random_checkpoint("vidlens-tiny-test", sys.argv[2])
    saved = create_encoder(f"openclip:vidlens-tiny-test/{ckpt}", dtype="float32")
    print(json.dumps([enc.fingerprint, saved.fingerprint, emb.tolist()]))
    """
)


def test_random_weights_are_identical_across_processes(
    tmp_path: Path, tiny: OpenClipEncoder
) -> None:
    # Another process builds ARCH/random for an architecture registered with open_clip under
    # the fixed seed; the same architecture saved here (seed 0) must give identical weights.
    config = tmp_path / "vidlens-tiny-test.json"
    config.write_text(json.dumps(TINY))
    run = subprocess.run(
        [sys.executable, "-c", _RANDOM_SCRIPT, str(config), str(tmp_path / "r.safetensors")],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "RANDOM weights" in run.stderr and "NOT be meaningful" in run.stderr  # said loudly
    random_fp, saved_fp, emb = json.loads(run.stdout)
    assert random_fp == saved_fp == tiny.fingerprint
    frames = np.arange(2 * 40 * 50 * 3, dtype=np.uint8).reshape(2, 40, 50, 3)
    ours = np.concatenate([tiny.encode_images(frames), tiny.encode_texts(["a dog", "red"])])
    np.testing.assert_allclose(np.array(emb), ours, rtol=0, atol=1e-6)


def test_plugin_import_is_cheap() -> None:
    code = (
        "import sys; from vidlens.encoders import openclip, list_encoders; list_encoders(); "
        "print(sorted({'torch', 'open_clip'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------- real weights


@pytest.fixture
def real_vit_b_32() -> Iterator[OpenClipEncoder]:
    if not weights_available("ViT-B-32", "openai"):
        pytest.skip("the ViT-B-32/openai weights are not on this machine")
    yield load("openclip:ViT-B-32/openai")


@pytest.mark.pretrained
def test_real_weights_know_colours(real_vit_b_32: OpenClipEncoder) -> None:
    from open_clip.transformer import QuickGELU
    from torch import nn

    gelu = real_vit_b_32._model.visual.transformer.resblocks[0].mlp.gelu
    assert isinstance(gelu, QuickGELU) and not isinstance(gelu, nn.GELU)  # as OpenAI trained it
    colours = {"red": (220, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 220)}
    frames = np.stack([np.full((240, 320, 3), rgb, np.uint8) for rgb in colours.values()])
    texts = [f"a plain {name} image" for name in colours]
    sims = unit(real_vit_b_32.encode_images(frames)) @ unit(real_vit_b_32.encode_texts(texts)).T
    assert list(sims.argmax(axis=1)) == [0, 1, 2]
