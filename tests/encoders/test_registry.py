"""The encoder registry (id parsing, registration, entry-point plugins) and the colour encoder."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from vidlens.encoders import (
    ENTRY_POINT_GROUP,
    Encoder,
    EncoderConfig,
    _registry,
    create_encoder,
    get_encoder_factory,
    list_encoders,
    parse_encoder_id,
    register_encoder,
    unregister_encoder,
)
from vidlens.encoders.colour import COLOURS, ColourEncoder
from vidlens.errors import EncoderError

FAKE = "test-fake"


class FakeEncoder:
    """The smallest thing that satisfies the protocol; remembers how it was made."""

    dim = 2

    def __init__(self, spec: str | None, config: EncoderConfig) -> None:
        self.id = f"{FAKE}:{spec}" if spec else FAKE
        self.spec, self.config = spec, config

    def encode_images(self, frames: np.ndarray) -> np.ndarray:
        return np.zeros((len(frames), self.dim), np.float32)

    def encode_texts(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), self.dim), np.float32)


@pytest.fixture
def fake() -> Iterator[str]:
    register_encoder(FAKE, FakeEncoder)
    yield FAKE
    unregister_encoder(FAKE)


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("encoder_id", "expected"),
    [
        ("openclip:ViT-B-32/openai", ("openclip", "ViT-B-32/openai")),
        ("openclip:ViT-B-32//abs/ckpt.safetensors", ("openclip", "ViT-B-32//abs/ckpt.safetensors")),
        ("openclip:a:b", ("openclip", "a:b")),  # split on the first ':', the spec is untouched
        ("colour-test", ("colour-test", None)),
        ("  colour-test  ", ("colour-test", None)),
    ],
)
def test_parse_splits_name_and_spec(encoder_id: str, expected: tuple[str, str | None]) -> None:
    assert parse_encoder_id(encoder_id) == expected


def test_unknown_encoder_lists_the_registered_ones() -> None:
    with pytest.raises(EncoderError) as info:
        parse_encoder_id("clip:ViT-B-32")
    message = str(info.value)
    assert "unknown encoder 'clip'" in message
    assert "colour-test" in message and "openclip" in message  # the valid choices


def test_missing_prefix_gets_a_hint() -> None:
    with pytest.raises(EncoderError, match="did you mean openclip:ViT-B-32/openai"):
        parse_encoder_id("ViT-B-32/openai")


@pytest.mark.parametrize("encoder_id", ["", "   ", "colour-test:"])
def test_empty_ids_and_empty_specs_are_rejected(encoder_id: str) -> None:
    with pytest.raises(EncoderError, match="NAME:SPEC"):
        parse_encoder_id(encoder_id)


def test_get_encoder_factory() -> None:
    from vidlens.encoders.colour import create_colour_encoder

    assert get_encoder_factory("colour-test") is create_colour_encoder


# --------------------------------------------------------------------------- registration


@pytest.mark.parametrize("name", ["a:b", "a/b", "", "-x", "has space"])
def test_register_rejects_bad_names(name: str) -> None:
    with pytest.raises(EncoderError, match="invalid encoder name"):
        register_encoder(name, FakeEncoder)


def test_register_twice_needs_replace(fake: str) -> None:
    def other(spec: str | None, config: EncoderConfig) -> FakeEncoder:
        return FakeEncoder(spec, config)

    register_encoder(fake, FakeEncoder)  # the same factory again is fine
    with pytest.raises(EncoderError, match="already registered; pass replace=True"):
        register_encoder(fake, other)
    register_encoder(fake, other, replace=True)
    assert get_encoder_factory(fake) is other


def test_unregister(fake: str) -> None:
    assert fake in list_encoders()
    unregister_encoder(fake)
    assert fake not in list_encoders()
    unregister_encoder(fake)  # unknown names are ignored


def test_create_passes_spec_config_and_overrides(fake: str) -> None:
    enc = create_encoder(f"{fake}:abc", EncoderConfig(batch_size=8), dtype="float32")
    assert isinstance(enc, FakeEncoder)
    assert (enc.id, enc.spec) == (f"{fake}:abc", "abc")
    assert enc.config == EncoderConfig(device="cpu", dtype="float32", batch_size=8)
    assert isinstance(enc, Encoder)


def test_create_checks_the_protocol() -> None:
    class Half:
        id, dim = "half", 1

        def encode_images(self, frames: np.ndarray) -> np.ndarray:
            return np.zeros((len(frames), 1), np.float32)

    register_encoder("test-half", lambda spec, config: Half())  # type: ignore[arg-type,return-value]
    try:
        with pytest.raises(EncoderError, match="lacks 'encode_texts'"):
            create_encoder("test-half")
    finally:
        unregister_encoder("test-half")


# --------------------------------------------------------------------------- entry points

_PLUGIN_MODULE = textwrap.dedent(
    """
    import numpy as np

    NOT_CALLABLE = 42


    class PluginEncoder:
        dim = 3

        def __init__(self, spec, config):
            self.id = "fake-plugin:" + (spec or "")
            self.spec, self.config = spec, config

        def encode_images(self, frames):
            return np.zeros((len(frames), 3), np.float32)

        def encode_texts(self, texts):
            return np.ones((len(texts), 3), np.float32)


    def create(spec, config):
        return PluginEncoder(spec, config)
    """
)


@pytest.fixture
def install_plugin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[list[str]], None]]:
    """Install a distribution with ``vidlens.encoders`` entry points into a temporary sys.path
    entry, the way pip would (a module plus a ``.dist-info`` folder); undone afterwards."""
    names: list[str] = []

    def install(entry_points: list[str]) -> None:
        site = tmp_path / "site"
        dist_info = site / "fakeplug_vidlens-0.1.dist-info"
        dist_info.mkdir(parents=True)
        (site / "fakeplug_vidlens.py").write_text(_PLUGIN_MODULE)
        (dist_info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: fakeplug-vidlens\nVersion: 0.1\n"
        )
        lines = "\n".join(entry_points)
        (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}\n")
        names.extend(line.split("=")[0].strip() for line in entry_points)
        monkeypatch.syspath_prepend(str(site))
        # plugins load once per process, on the first look-up: make the registry look again
        monkeypatch.setattr(_registry, "_entry_points_loaded", False)

    yield install
    for name in names:
        unregister_encoder(name)
    sys.modules.pop("fakeplug_vidlens", None)


def test_entry_point_plugin_is_loaded_on_first_lookup(
    install_plugin: Callable[[list[str]], None],
) -> None:
    install_plugin(["fake-plugin = fakeplug_vidlens:create"])
    assert "fake-plugin" not in _registry._factories  # nothing is imported before a look-up
    assert "fake-plugin" in list_encoders()
    enc = create_encoder("fake-plugin:xyz", batch_size=4)
    assert enc.id == "fake-plugin:xyz" and enc.dim == 3
    assert enc.encode_texts(["a", "b"]).shape == (2, 3)


def test_broken_plugins_are_skipped_with_a_warning(
    install_plugin: Callable[[list[str]], None], caplog: pytest.LogCaptureFixture
) -> None:
    install_plugin(
        [
            "broken-plugin = fakeplug_vidlens_missing:create",
            "number-plugin = fakeplug_vidlens:NOT_CALLABLE",
            "fake-plugin = fakeplug_vidlens:create",
        ]
    )
    with caplog.at_level(logging.WARNING, logger="vidlens.encoders._registry"):
        names = list_encoders()
    assert "fake-plugin" in names  # the good one still loads
    assert "broken-plugin" not in names and "number-plugin" not in names
    assert "could not load encoder plugin 'broken-plugin'" in caplog.text
    assert "'number-plugin'" in caplog.text and "not callable" in caplog.text


def test_plugins_are_not_loaded_at_import() -> None:
    code = (
        "import vidlens.encoders as e; from vidlens.encoders import _registry as r; "
        "print(r._entry_points_loaded, sorted(r._factories))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False []"


# --------------------------------------------------------------------------- colour encoder


def test_colour_encoder_reads_colours() -> None:
    enc = create_encoder("colour-test")
    assert isinstance(enc, ColourEncoder) and isinstance(enc, Encoder)
    names = list(COLOURS)
    frames = np.stack([np.full((8, 8, 3), COLOURS[n], np.uint8) for n in ("red", "blue")])
    images = enc.encode_images(frames)
    assert images.shape == (2, len(COLOURS)) and images.dtype == np.float32
    assert [names[i] for i in images.argmax(axis=1)] == ["red", "blue"]
    texts = enc.encode_texts(["a RED scene", "grey sky", "nothing"])
    assert [names[i] for i in texts[:2].argmax(axis=1)] == ["red", "gray"]  # aliases work
    assert np.all(texts[2] > 0)  # no colour word: a faint vector that still normalises


def test_colour_encoder_takes_no_spec() -> None:
    with pytest.raises(EncoderError, match="takes no spec"):
        create_encoder("colour-test:big")
