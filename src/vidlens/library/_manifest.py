"""``manifest.json``: what built a library (encoder, recipe, versions), compared on every open."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import SamplingConfig
from ..errors import LibraryError
from ._db import SCHEMA_VERSION, now_iso
from ._fsutil import atomic_write_bytes

__all__ = ["MANIFEST_NAME", "Manifest"]

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
FORMAT = "vidlens-library"


@dataclass(frozen=True)
class Manifest:
    encoder_id: str  # e.g. "openclip:ViT-B-32/openai"
    encoder_fingerprint: str  # hash of the weights ("" when the encoder gives none)
    dim: int  # embedding dimension
    sampling: SamplingConfig  # the frame recipe every video of the library was sampled with
    schema_version: int = SCHEMA_VERSION
    vidlens_version: str = __version__
    created_at: str = field(default_factory=now_iso)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "schema_version": self.schema_version,
            "vidlens_version": self.vidlens_version,
            "created_at": self.created_at,
            "encoder": {
                "id": self.encoder_id,
                "fingerprint": self.encoder_fingerprint,
                "dim": self.dim,
            },
            "sampling": self.sampling.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: Path) -> Manifest:
        try:
            if d.get("format") != FORMAT:
                raise KeyError("format")
            enc = d["encoder"]
            return cls(
                encoder_id=str(enc["id"]),
                encoder_fingerprint=str(enc.get("fingerprint", "")),
                dim=int(enc["dim"]),
                sampling=SamplingConfig.from_dict(dict(d["sampling"])),
                schema_version=int(d["schema_version"]),
                vidlens_version=str(d.get("vidlens_version", "?")),
                created_at=str(d.get("created_at", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LibraryError(
                f"{source} is not a valid vidlens manifest (bad or missing {exc}); "
                "was this folder written by vidlens?"
            ) from exc

    def save(self, folder: Path) -> None:
        data = json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"
        atomic_write_bytes(folder / MANIFEST_NAME, data.encode())

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        path = folder / MANIFEST_NAME
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise LibraryError(
                f"{folder} is not a vidlens library (no {MANIFEST_NAME}); "
                f"create one with: vidlens index VIDEOS... --library {folder}"
            ) from None
        except (OSError, ValueError) as exc:
            raise LibraryError(f"cannot read {path}: {exc}") from exc
        if not isinstance(d, dict):
            raise LibraryError(f"{path} is not a JSON object; was this folder written by vidlens?")
        return cls.from_dict(d, source=path)

    def differences(
        self, *, encoder_id: str | None, fingerprint: str | None, sampling: SamplingConfig | None
    ) -> list[str]:
        """What differs between this manifest and what a command asked for (empty: compatible)."""
        diffs = []
        if encoder_id is not None and encoder_id != self.encoder_id:
            diffs.append(f"encoder: library has {self.encoder_id!r}, asked for {encoder_id!r}")
        elif fingerprint and self.encoder_fingerprint and fingerprint != self.encoder_fingerprint:
            diffs.append(
                f"encoder weights: library was built with fingerprint "
                f"{self.encoder_fingerprint[:12]}, the given weights have {fingerprint[:12]}"
            )
        if sampling is not None and sampling.to_dict() != self.sampling.to_dict():
            mine, asked = self.sampling.to_dict(), sampling.to_dict()
            keys = [k for k in sorted(set(mine) | set(asked)) if mine.get(k) != asked.get(k)]
            lib_side = " ".join(f"{k}={mine[k]}" for k in keys if k in mine)
            asked_side = " ".join(f"{k}={asked[k]}" for k in keys if k in asked)
            diffs.append(
                f"sampling: library uses {self.sampling.describe()}, asked for "
                f"{sampling.describe()} (library {lib_side}, asked {asked_side})"
            )
        return diffs
