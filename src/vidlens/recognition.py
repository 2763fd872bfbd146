"""Zero- and few-shot recognition: which label a video, or a stretch of one, belongs to.

Everything works from the library's stored frame embeddings plus the text encoder; nothing is
decoded again and nothing is trained.

**Zero-shot** (CLIP's recipe, applied to video as ViFi-CLIP does):

- *Class embeddings*: every label (underscores read as spaces) is put into each prompt template
  ("a video of {}.", ...); the class embedding is the mean of the L2-normalised prompt
  embeddings, re-normalised (prompt ensembling). Optional class *descriptions* ("a sunset: an
  orange sky over the sea") join the prompts of their class as they are, not templated.
- *Video embedding*: the re-normalised mean of the L2-normalised frame embeddings (ViFi-CLIP mean
  pooling) of the whole video, of the frames inside a window, or of each of ``views`` equal
  temporal segments (multi-view testing). A window or segment without a sampled frame takes the
  frame nearest its middle. When the library's encoder comes with a temporal head (vidlens-tiny,
  a ``vidlens train`` export) the head pools those frames instead, in time order (``pooling``:
  ``auto``, the default, uses it when there is one; ``mean``; ``temporal``): it sees which way
  things change, which a mean of frames cannot (vidlens-tiny: action top-1 0.844 vs 0.658 on
  the labelled stretches of the synthetic test split).
- *Logits* are ``logit_scale * cos`` (100, CLIP's learnt temperature); probabilities their
  softmax. Multi-view scores average the views' probabilities.

**Few-shot, training-free**, from labelled example videos in the library (their video embeddings
are computed as above):

- :class:`TipAdapter` (Zhang et al., 2022): a cache whose keys are the example embeddings and
  whose values are one-hot labels; ``logits = zero_shot + alpha * exp(-beta * (1 - x K^T)) V``.
- :class:`GDA` (Wang et al., ICLR 2024, "A Hard-to-Beat Baseline for Training-free CLIP-based
  Adaptation"): Gaussian discriminant analysis with class means and one shared covariance, its
  precision from the empirical-Bayes ridge estimator ``D * pinv((N - 1) S + tr(S) I)`` of the
  paper's code, uniform class priors; the linear classifier ``x W^T + b`` is added to the
  zero-shot logits with weight ``alpha``. With one example per class the covariance is zero and
  GDA falls back to zero-shot: give at least two examples of some class.

Labelled videos come from a CSV (:func:`read_labelled_csv`): ``path,label`` rows, optionally
with ``time_start,time_end`` (seconds) when the label is about a stretch of the video, as in
Kinetics, whose clips are 10-s segments of YouTube videos; the official Kinetics layout
(``label,youtube_id,time_start,time_end,split``) is read as it is. Paths are relative to the
CSV's folder and are matched to library videos by :class:`VideoMatcher`.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from .errors import ConfigError, QueryError

if TYPE_CHECKING:
    from .library import Library, VideoRecord

__all__ = [
    "DEFAULT_LOGIT_SCALE",
    "FEW_SHOT_METHODS",
    "GDA",
    "KINETICS_TEMPLATES",
    "SIMPLE_TEMPLATES",
    "TEMPLATE_SETS",
    "VIDEO_POOLINGS",
    "Classifier",
    "GDAConfig",
    "LabelledRow",
    "TipAdapter",
    "TipAdapterConfig",
    "VideoMatcher",
    "ZeroShotClassifier",
    "create_few_shot",
    "get_templates",
    "label_text",
    "list_template_sets",
    "load_descriptions",
    "match_labelled_videos",
    "pool_frames",
    "read_labelled_csv",
    "temporal_head_pooling",
    "view_windows",
]

logger = logging.getLogger(__name__)

Float64Array = NDArray[np.float64]

DEFAULT_LOGIT_SCALE = 100.0  # CLIP's learnt logit scale (exp(4.6052))
VIDEO_POOLINGS = ("auto", "mean", "temporal")

SIMPLE_TEMPLATES: tuple[str, ...] = (
    "a video of {}.",
    "a photo of {}.",
    "a video of a person {}.",
    "a clip of {}.",
    "{}.",
)

# CLIP's Kinetics-700 prompt ensemble (openai/CLIP, notebooks/Prompt_Engineering_for_ImageNet and
# data/prompts.md): 4 framings x 7 person phrasings.
KINETICS_TEMPLATES: tuple[str, ...] = tuple(
    f"{frame} {person}{{}}."
    for frame in ("a photo of", "a video of", "a example of", "a demonstration of")
    for person in (
        "",
        "a person ",
        "a person using ",
        "a person doing ",
        "a person during ",
        "a person performing ",
        "a person practicing ",
    )
)

TEMPLATE_SETS: dict[str, tuple[str, ...]] = {
    "simple": SIMPLE_TEMPLATES,
    "kinetics": KINETICS_TEMPLATES,
}

_MIN_NORM = 1e-12


def list_template_sets() -> list[str]:
    """Names of the built-in prompt template sets."""
    return sorted(TEMPLATE_SETS)


def get_templates(spec: str | os.PathLike[str] | Sequence[str]) -> tuple[str, ...]:
    """Prompt templates from a built-in set name, a file, or a sequence of template strings.

    A file holds one template per line, each with one ``{}`` where the class name goes; blank
    lines and lines starting with ``#`` are skipped.
    """
    if isinstance(spec, str | os.PathLike):
        name = os.fspath(spec)
        if name in TEMPLATE_SETS:
            return TEMPLATE_SETS[name]
        path = Path(name).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"unknown template set {name!r}: not a built-in set "
                f"({', '.join(list_template_sets())}) and no such file; give a set name or a "
                "text file with one template containing {} per line"
            )
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"cannot read templates file {path}: {err}") from err
        templates = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        source = str(path)
    else:
        templates = [str(t) for t in spec]
        source = "templates"
    if not templates:
        raise ConfigError(f"{source}: no templates; give at least one, e.g. 'a video of {{}}.'")
    for i, t in enumerate(templates, 1):
        if t.count("{}") != 1:
            raise ConfigError(
                f"{source}: template {i} {t!r} must contain exactly one {{}} for the class name"
            )
    return tuple(templates)


def label_text(label: str) -> str:
    """The words of a class label: ``playing_guitar`` -> ``playing guitar``."""
    return " ".join(label.replace("_", " ").split())


def load_descriptions(path: str | os.PathLike[str]) -> dict[str, list[str]]:
    """Class descriptions from a JSON object ``{label: "text" | ["text", ...]}``."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read descriptions file {p}: {err}") from err
    except json.JSONDecodeError as err:
        raise ConfigError(f"{p}: invalid JSON ({err.msg}, line {err.lineno})") from err
    if not isinstance(data, dict):
        raise ConfigError(f'{p}: expected a JSON object {{"label": ["description", ...]}}')
    out: dict[str, list[str]] = {}
    for label, value in data.items():
        texts = [value] if isinstance(value, str) else value
        if not isinstance(texts, list) or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ConfigError(f"{p}: descriptions of {label!r} must be a string or strings")
        out[str(label)] = list(texts)
    return out


# --------------------------------------------------------------------------------------------
# Pooling


def _unit(x: NDArray[np.floating]) -> Float64Array:
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > _MIN_NORM)


def pool_frames(
    vectors: NDArray[np.floating],
    times_s: NDArray[np.floating],
    window: tuple[float, float] | None = None,
) -> Float64Array:
    """Mean-pooled video embedding ``(D,)``, L2-normalised, of all frames or those in a window.

    Args:
        vectors: ``(T, D)`` frame embeddings (normalised here), ``T >= 1``.
        times_s: ``(T,)`` frame times in seconds.
        window: ``(start_s, end_s)``; frames with ``start_s <= t <= end_s`` are pooled, or the
            frame nearest the window's middle when none is inside.
    """
    return _unit(_frames_in(vectors, times_s, window).mean(axis=0))


def _frames_in(
    vectors: NDArray[np.floating],
    times_s: NDArray[np.floating],
    window: tuple[float, float] | None,
) -> Float64Array:
    """The L2-normalised frame embeddings that :func:`pool_frames` pools, in time order."""
    v = _unit(vectors)
    if v.ndim != 2 or v.shape[0] == 0:
        raise QueryError(f"a video needs at least one frame embedding, got shape {v.shape}")
    if window is not None:
        t = np.asarray(times_s, dtype=np.float64)
        start, end = window
        inside = (t >= start) & (t <= end)
        if not inside.any():
            inside = np.zeros(t.size, dtype=bool)
            inside[int(np.argmin(np.abs(t - (start + end) / 2)))] = True
        v = v[inside]
    return v


def temporal_head_pooling(library: Library, pooling: str = "auto") -> Any | None:
    """The temporal head that pools a library's videos under ``pooling``, or None (mean).

    ``auto``: the head of the library's encoder when it has one (vidlens-tiny, a ``vidlens
    train`` export), else mean pooling; ``mean``: always mean pooling; ``temporal``: the head,
    or an error when the encoder has none.
    """
    if pooling not in VIDEO_POOLINGS:
        raise ConfigError(
            f"unknown video pooling {pooling!r}; choose one of {', '.join(VIDEO_POOLINGS)}"
        )
    if pooling == "mean":
        return None
    head = library.temporal_head()
    if head is None and pooling == "temporal":
        raise ConfigError(
            f"the library's encoder {library.manifest.encoder_id} has no temporal head (only "
            f"vidlens-tiny and `vidlens train` exports have one); use --pooling mean or auto"
        )
    return head


def view_windows(duration_s: float, views: int) -> list[tuple[float, float]]:
    """``views`` equal, consecutive temporal segments covering ``[0, duration_s]``."""
    if views < 1:
        raise ConfigError(f"views must be at least 1, got {views}")
    edges = np.linspace(0.0, max(float(duration_s), 0.0), views + 1)
    return [(float(edges[i]), float(edges[i + 1])) for i in range(views)]


def _check_window(window: tuple[float, float] | None) -> tuple[float, float] | None:
    if window is None:
        return None
    start, end = float(window[0]), float(window[1])
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start < end):
        raise ConfigError(
            f"window {start:g}..{end:g} s is not a stretch of video; give START < END, both >= 0"
        )
    return start, end


def _softmax(logits: Float64Array) -> Float64Array:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Classifiers


class Classifier:
    """What every classifier shares: labels, video embeddings from a library, probabilities.

    Subclasses implement :meth:`logits` of ``(..., D)`` video embeddings.
    """

    library: Library
    labels: tuple[str, ...]
    # When set, a video (or window, or view) is pooled by this temporal head — a small
    # transformer over its frame embeddings in time order, which sees which way things change —
    # instead of by the mean of its frames.
    temporal_head: Any | None = None

    def _pool(
        self,
        vectors: NDArray[np.floating],
        times: NDArray[np.floating],
        window: tuple[float, float] | None = None,
    ) -> Float64Array:
        if self.temporal_head is None:
            return pool_frames(vectors, times, window)
        from .encoders.tiny import temporal_video_embeddings

        frames = _frames_in(vectors, times, window)
        return _unit(temporal_video_embeddings(self.temporal_head, [frames])[0])

    def logits(self, embeddings: NDArray[np.floating]) -> Float64Array:
        """``(..., D)`` L2-normalised video embeddings -> ``(..., C)`` float64 logits."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The settings that decide the scores (what evaluation records store)."""
        raise NotImplementedError

    # -- embeddings
    def embed(self, video_id: str, window: tuple[float, float] | None = None) -> Float64Array:
        """``(D,)`` pooled embedding of a video, or of the frames inside ``window``."""
        vectors = self.library.frame_vectors(video_id)
        times = self.library.frame_times(video_id)
        return self._pool(vectors, times, _check_window(window))

    def embed_views(
        self,
        video_ids: Sequence[str],
        views: int = 1,
        windows: Sequence[tuple[float, float] | None] | None = None,
    ) -> Float64Array:
        """``(N, views, D)`` embeddings of ``views`` equal temporal segments of each video, or
        of each video's window (``windows``: one ``(start_s, end_s)`` or None per video)."""
        if views < 1:
            raise ConfigError(f"views must be at least 1, got {views}")
        if windows is not None and len(windows) != len(video_ids):
            raise ConfigError(f"give one window per video: {len(windows)} for {len(video_ids)}")
        out = np.zeros((len(video_ids), views, self.library.manifest.dim), dtype=np.float64)
        for i, vid in enumerate(video_ids):
            vectors = self.library.frame_vectors(vid)
            times = self.library.frame_times(vid)
            window = _check_window(windows[i]) if windows is not None else None
            if views == 1:
                out[i, 0] = self._pool(vectors, times, window)
                continue
            if window is None:
                spans = view_windows(self.library.video(vid).duration_s, views)
            else:
                spans = [(window[0] + s, window[0] + e)
                         for s, e in view_windows(window[1] - window[0], views)]  # fmt: skip
            for j, span in enumerate(spans):
                out[i, j] = self._pool(vectors, times, span)
        return out

    # -- scores
    def probabilities(self, embeddings: NDArray[np.floating]) -> Float64Array:
        """``(..., D)`` embeddings -> ``(..., C)`` class probabilities (softmax of the logits)."""
        return _softmax(self.logits(embeddings))

    def view_scores(
        self,
        video_ids: Sequence[str],
        views: int = 1,
        windows: Sequence[tuple[float, float] | None] | None = None,
    ) -> Float64Array:
        """``(N, views, C)`` class probabilities per temporal view (average them for a score),
        of the whole videos or of their ``windows``."""
        return self.probabilities(self.embed_views(video_ids, views, windows))

    def scores(
        self,
        video_ids: Sequence[str],
        *,
        window: tuple[float, float] | None = None,
        views: int = 1,
    ) -> Float64Array:
        """``(N, C)`` class probabilities of each video (or of its ``window``); with ``views``
        > 1 the mean of the probabilities of that many equal temporal segments."""
        if window is not None and views != 1:
            raise ConfigError("give either a window or several views, not both")
        windows = None if window is None else [window] * len(video_ids)
        return self.view_scores(video_ids, views, windows).mean(axis=1)

    def classify(
        self,
        video_id: str,
        window: tuple[float, float] | None = None,
        *,
        top_k: int | None = None,
    ) -> list[tuple[str, float]]:
        """``(label, probability)`` pairs, most probable first (ties: label order)."""
        probs = self.scores([video_id], window=window)[0]
        order = sorted(range(len(self.labels)), key=lambda c: (-probs[c], c))
        if top_k is not None:
            order = order[: max(1, top_k)]
        return [(self.labels[c], float(probs[c])) for c in order]


class ZeroShotClassifier(Classifier):
    """CLIP zero-shot classification of library videos with a prompt ensemble.

    Args:
        library: an open library (its text encoder embeds the prompts).
        labels: class labels; ``_`` reads as a space in prompts.
        templates: a built-in set name (``simple``, ``kinetics``), a templates file, or strings.
        descriptions: optional ``{label: [description, ...]}`` added to that class's prompts.
        logit_scale: multiplies cosine similarities into logits.
        pooling: how a video becomes one embedding (:func:`temporal_head_pooling`): ``auto``
            (the encoder's temporal head when it has one, else the mean of the frames),
            ``mean`` or ``temporal``.
    """

    def __init__(
        self,
        library: Library,
        labels: Sequence[str],
        *,
        templates: str | os.PathLike[str] | Sequence[str] = "simple",
        descriptions: Mapping[str, Sequence[str]] | None = None,
        logit_scale: float = DEFAULT_LOGIT_SCALE,
        pooling: str = "auto",
    ) -> None:
        self.library = library
        self.labels = _check_labels(labels)
        self.temporal_head = temporal_head_pooling(library, pooling)
        self.template_source = (
            os.fspath(templates) if isinstance(templates, str | os.PathLike) else "custom"
        )
        self.templates = get_templates(templates)
        self.descriptions = {k: list(v) for k, v in (descriptions or {}).items()}
        unknown = sorted(set(self.descriptions) - set(self.labels))
        if unknown:
            raise ConfigError(
                f"descriptions for labels that are not classes: {', '.join(unknown[:5])}; "
                f"the classes are {', '.join(self.labels[:10])}"
            )
        if not (math.isfinite(logit_scale) and logit_scale > 0):
            raise ConfigError(f"logit_scale must be a positive number, got {logit_scale}")
        self.logit_scale = float(logit_scale)
        self.class_vectors = self._class_vectors()

    def _class_vectors(self) -> Float64Array:
        prompts: list[str] = []
        owner: list[int] = []
        for c, label in enumerate(self.labels):
            words = label_text(label)
            for t in self.templates:
                prompts.append(t.format(words))
                owner.append(c)
            for d in self.descriptions.get(label, ()):
                prompts.append(d)
                owner.append(c)
        emb = _unit(self.library.encode_texts(prompts))
        sums = np.zeros((len(self.labels), emb.shape[1]), dtype=np.float64)
        np.add.at(sums, np.asarray(owner), emb)
        return _unit(sums)

    def logits(self, embeddings: NDArray[np.floating]) -> Float64Array:
        return self.logit_scale * (_unit(embeddings) @ self.class_vectors.T)

    def describe(self) -> dict[str, Any]:
        return {
            "method": "zero-shot",
            "labels": list(self.labels),
            "templates": {"source": self.template_source, "templates": list(self.templates)},
            "descriptions": self.descriptions,
            "logit_scale": self.logit_scale,
            "video_pooling": (
                f"temporal head of {self.library.manifest.encoder_id} over the L2-normalised "
                "frame embeddings in time order, re-normalised"
                if self.temporal_head is not None
                else "mean of L2-normalised frame embeddings, re-normalised"
            ),
        }


def _check_labels(labels: Sequence[str]) -> tuple[str, ...]:
    out = tuple(str(x).strip() for x in labels)
    if not out or any(not x for x in out):
        raise ConfigError("give at least one non-empty class label, e.g. --labels 'cat,dog'")
    seen: set[str] = set()
    dupes = [x for x in out if x in seen or seen.add(x)]  # type: ignore[func-returns-value]
    if dupes:
        raise ConfigError(f"class labels must be unique; repeated: {', '.join(dupes[:5])}")
    return out


# --------------------------------------------------------------------------------------------
# Few-shot


@dataclass(frozen=True)
class TipAdapterConfig:
    """Tip-Adapter's two knobs (the paper's defaults)."""

    alpha: float = 1.0  # weight of the cache logits added to the zero-shot logits
    beta: float = 5.5  # sharpness of the affinity exp(-beta * (1 - cos))


@dataclass(frozen=True)
class GDAConfig:
    """GDA's knob: the weight of its logits added to the zero-shot logits."""

    alpha: float = 1.0  # the paper grid-searches this on validation data (1e-4..100)


class _FewShot(Classifier):
    """A zero-shot classifier plus a training-free model of labelled example embeddings."""

    method = ""

    def __init__(
        self,
        zero_shot: ZeroShotClassifier,
        example_embeddings: NDArray[np.floating],
        example_labels: Sequence[int],
    ) -> None:
        self.zero_shot = zero_shot
        self.library = zero_shot.library
        self.labels = zero_shot.labels
        self.temporal_head = zero_shot.temporal_head  # examples are pooled as the queries
        keys = _unit(example_embeddings)
        y = np.asarray(example_labels, dtype=np.int64)
        if keys.ndim != 2 or keys.shape[0] == 0 or y.shape != (keys.shape[0],):
            raise ConfigError(
                f"few-shot needs one label per example embedding, got {keys.shape} and {y.shape}"
            )
        if y.min() < 0 or y.max() >= len(self.labels):
            raise ConfigError(f"example labels must be class indices 0..{len(self.labels) - 1}")
        self.keys = keys
        self.example_labels = y

    @classmethod
    def from_examples(
        cls,
        zero_shot: ZeroShotClassifier,
        examples: Sequence[tuple[str, str]],
        config: Any = None,
        windows: Sequence[tuple[float, float] | None] | None = None,
    ) -> _FewShot:
        """Build from ``(video_id, label)`` pairs of library videos (or of the stretches of
        them in ``windows``, one ``(start_s, end_s)`` or None per example)."""
        index = {label: c for c, label in enumerate(zero_shot.labels)}
        unknown = sorted({label for _, label in examples} - set(index))
        if unknown:
            raise ConfigError(
                f"few-shot examples are labelled with classes that are not among the labels: "
                f"{', '.join(unknown[:5])}; add them to the labels or fix the examples"
            )
        if not examples:
            raise ConfigError("few-shot needs at least one labelled example video")
        emb = zero_shot.embed_views([vid for vid, _ in examples], 1, windows)[:, 0]
        return cls(zero_shot, emb, [index[label] for _, label in examples], config)  # type: ignore[call-arg]

    def describe(self) -> dict[str, Any]:
        counts = np.bincount(self.example_labels, minlength=len(self.labels))
        return {
            **self.zero_shot.describe(),
            "method": self.method,
            "examples_per_class": {lab: int(n) for lab, n in zip(self.labels, counts, strict=True)},
        }


class TipAdapter(_FewShot):
    """Training-free Tip-Adapter: zero-shot logits plus ``alpha`` x a cache of the examples."""

    method = "tip-adapter"

    def __init__(
        self,
        zero_shot: ZeroShotClassifier,
        example_embeddings: NDArray[np.floating],
        example_labels: Sequence[int],
        config: TipAdapterConfig | None = None,
    ) -> None:
        super().__init__(zero_shot, example_embeddings, example_labels)
        self.config = config or TipAdapterConfig()
        self.values = np.eye(len(self.labels))[self.example_labels]  # (N, C) one-hot

    def logits(self, embeddings: NDArray[np.floating]) -> Float64Array:
        x = _unit(embeddings)
        affinity = np.exp(-self.config.beta * (1.0 - x @ self.keys.T))
        return self.zero_shot.logits(x) + self.config.alpha * (affinity @ self.values)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), **asdict(self.config)}


class GDA(_FewShot):
    """Gaussian discriminant analysis with a shared covariance, mixed with zero-shot logits."""

    method = "gda"

    def __init__(
        self,
        zero_shot: ZeroShotClassifier,
        example_embeddings: NDArray[np.floating],
        example_labels: Sequence[int],
        config: GDAConfig | None = None,
    ) -> None:
        super().__init__(zero_shot, example_embeddings, example_labels)
        self.config = config or GDAConfig()
        n_classes, dim = len(self.labels), self.keys.shape[1]
        present = np.bincount(self.example_labels, minlength=n_classes) > 0
        means = np.zeros((n_classes, dim))
        for c in np.flatnonzero(present):
            means[c] = self.keys[self.example_labels == c].mean(axis=0)
        centred = self.keys - means[self.example_labels]
        n = centred.shape[0]
        cov = centred.T @ centred / max(n - 1, 1)
        # Empirical-Bayes ridge precision, as the paper's code: D * pinv((N-1) S + tr(S) I).
        precision = dim * np.linalg.pinv((n - 1) * cov + np.trace(cov) * np.eye(dim))
        weights = means @ precision  # (C, D)
        prior = np.log(np.full(n_classes, 1.0 / n_classes))
        bias = prior - 0.5 * np.einsum("cd,cd->c", weights, means)
        # A class without examples has no Gaussian: it keeps its zero-shot logit alone.
        self.weights = np.where(present[:, None], weights, 0.0)
        self.bias = np.where(present, bias, 0.0)
        if not np.any(cov):
            logger.warning(
                "GDA: the examples have no within-class spread (one example per class?); it "
                "adds nothing to zero-shot. Give two or more examples of some classes"
            )

    def logits(self, embeddings: NDArray[np.floating]) -> Float64Array:
        x = _unit(embeddings)
        return self.zero_shot.logits(x) + self.config.alpha * (x @ self.weights.T + self.bias)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            **asdict(self.config),
            "precision": "D * pinv((N-1) S + tr(S) I)",
        }


FEW_SHOT_METHODS: dict[str, type[_FewShot]] = {"tip-adapter": TipAdapter, "gda": GDA}
_FEW_SHOT_CONFIGS: dict[str, type[Any]] = {"tip-adapter": TipAdapterConfig, "gda": GDAConfig}


def create_few_shot(
    zero_shot: ZeroShotClassifier,
    examples: Sequence[tuple[str, str]],
    method: str = "tip-adapter",
    windows: Sequence[tuple[float, float] | None] | None = None,
    **settings: float,
) -> Classifier:
    """A few-shot classifier from ``(video_id, label)`` examples.

    Args:
        method: ``tip-adapter`` or ``gda``.
        windows: the stretch of each example video the label is about (None: all of it).
        settings: fields of :class:`TipAdapterConfig` / :class:`GDAConfig` (``alpha``, ``beta``).
    """
    if method not in FEW_SHOT_METHODS:
        raise ConfigError(
            f"unknown few-shot method {method!r}; choose one of {', '.join(FEW_SHOT_METHODS)}"
        )
    config_cls = _FEW_SHOT_CONFIGS[method]
    known = set(config_cls.__dataclass_fields__)
    extra = sorted(set(settings) - known)
    if extra:
        raise ConfigError(f"{method} takes {', '.join(sorted(known))}; not {', '.join(extra)}")
    return FEW_SHOT_METHODS[method].from_examples(
        zero_shot, examples, config_cls(**settings), windows
    )


# --------------------------------------------------------------------------------------------
# Matching user references and labelled files to library videos


class VideoMatcher:
    """Finds library videos from the references users write in annotation and label files.

    Rules, in order (the first that matches wins):

    - a reference string (an annotation ``vid``, a pairs file's ``video_id``): the video id, then
      the file name (``clip7.mp4``), then the file stem (``clip7``);
    - a file path (label and example CSVs): the absolute path, then the file stem.

    A name or stem shared by two library videos is ambiguous and raises an error naming both.
    """

    def __init__(self, videos: Sequence[VideoRecord]) -> None:
        self.videos = list(videos)
        self._by_id = {v.id: v for v in self.videos}
        self._by_path = {v.path: v for v in self.videos}
        self._by_name: dict[str, list[VideoRecord]] = {}
        self._by_stem: dict[str, list[VideoRecord]] = {}
        for v in self.videos:
            self._by_name.setdefault(Path(v.path).name, []).append(v)
            self._by_stem.setdefault(Path(v.path).stem, []).append(v)

    @staticmethod
    def _unique(found: list[VideoRecord] | None, ref: str, what: str) -> VideoRecord | None:
        if not found:
            return None
        if len(found) > 1:
            paths = ", ".join(v.path for v in found[:3])
            raise QueryError(
                f"{ref!r} is ambiguous: the {what} of {len(found)} library videos ({paths}); "
                "refer to the video by its id (`vidlens info --videos`) or rename one file"
            )
        return found[0]

    def find(self, ref: str) -> VideoRecord | None:
        """The video a reference names (id, file name or stem), or ``None``."""
        ref = str(ref)
        if ref in self._by_id:
            return self._by_id[ref]
        hit = self._unique(self._by_name.get(ref), ref, "file name")
        return hit or self._unique(self._by_stem.get(ref), ref, "file stem")

    def find_path(self, path: str | os.PathLike[str]) -> VideoRecord | None:
        """The video at an absolute path, else the one with the same file stem, or ``None``."""
        p = Path(path).expanduser()
        hit = self._by_path.get(str(p.resolve()))
        return hit or self._unique(self._by_stem.get(p.stem), str(path), "file stem")


def missing_videos_error(missing: Sequence[str], source: str, library_root: Path) -> QueryError:
    """One-line error for references with no library video: up to 5 of them, and the fix."""
    shown = ", ".join(repr(m) for m in list(missing)[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return QueryError(
        f"{source}: {len(missing)} video(s) not in the library {library_root}: {shown}{more}. "
        f"Index them first (vidlens index VIDEO_FOLDER --library {library_root}); a reference "
        "matches a library video by its id, file name or file stem"
    )


@dataclass(frozen=True)
class LabelledRow:
    """One row of a labels CSV: which video, its class, and the stretch the label is about.

    ``path`` (absolute) or ``youtube_id`` (the official Kinetics CSVs) names the video;
    ``window`` is ``(time_start, time_end)`` in seconds, or None for the whole video.
    """

    label: str
    path: Path | None = None
    youtube_id: str | None = None
    window: tuple[float, float] | None = None
    line: int = 0

    @property
    def reference(self) -> str:
        return str(self.path) if self.path is not None else str(self.youtube_id)

    def clip_stem(self) -> str | None:
        """``{youtube_id}_{start:06d}_{end:06d}``: the file stem the Kinetics downloaders give
        a trimmed clip (for a ``youtube_id`` row with integer times), else None."""
        if self.youtube_id is None or self.window is None:
            return None
        start, end = self.window
        if start != int(start) or end != int(end):
            return None
        return f"{self.youtube_id}_{int(start):06d}_{int(end):06d}"


_HEADER_NAMES = {"path", "video", "label", "youtube_id", "time_start", "time_end", "split", "is_cc"}


def _parse_seconds(cell: str, where: str, name: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: {name} must be seconds >= 0, got {cell!r}")
    return value


def read_labelled_csv(path: str | os.PathLike[str]) -> list[LabelledRow]:
    """The rows of a labels CSV; relative paths are taken from the CSV's folder.

    Accepted layouts (blank lines are skipped):

    - ``path,label`` rows, with or without that header;
    - ``path,label,time_start,time_end`` (with or without header): the label is about that
      stretch of the video, in seconds;
    - a header naming the columns, in any order: ``path`` (or ``video``) or ``youtube_id``,
      ``label``, optional ``time_start`` and ``time_end``; other columns (``split``, ``is_cc``)
      are ignored. This reads the official Kinetics CSVs (``label,youtube_id,time_start,
      time_end,split``) as they are.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {p}: {err}") from err
    rows: list[LabelledRow] = []
    columns: dict[str, int] | None = None
    for lineno, row in enumerate(csv.reader(text.splitlines()), 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        names = [c.lower() for c in cells]
        if not rows and columns is None and set(names) <= _HEADER_NAMES:
            if "path" not in names and "video" not in names and "youtube_id" not in names:
                raise ConfigError(
                    f"{p}:{lineno}: the header names no video column; add 'path' (a file "
                    "path) or 'youtube_id' (Kinetics)"
                )
            if "label" not in names:
                raise ConfigError(
                    f"{p}:{lineno}: the header names no label column; a labels file needs each "
                    "video's class (Kinetics' unlabelled test CSVs cannot be scored)"
                )
            if ("time_start" in names) != ("time_end" in names):
                raise ConfigError(f"{p}:{lineno}: give both time_start and time_end, or neither")
            columns = {name: i for i, name in enumerate(names)}
            if "video" in columns and "path" not in columns:
                columns["path"] = columns["video"]
            continue
        if columns is None:
            if len(cells) not in (2, 4):
                raise ConfigError(
                    f"{p}:{lineno}: expected 'path,label' or 'path,label,time_start,time_end', "
                    f"got {','.join(row)!r}"
                )
            columns = {"path": 0, "label": 1}
            if len(cells) == 4:
                columns.update(time_start=2, time_end=3)
        rows.append(_labelled_row(cells, columns, p, lineno))
    if not rows:
        raise ConfigError(f"{p} has no 'path,label' rows")
    return rows


def _labelled_row(
    cells: list[str], columns: dict[str, int], csv_path: Path, lineno: int
) -> LabelledRow:
    where = f"{csv_path}:{lineno}"

    def cell(name: str) -> str:
        i = columns.get(name)
        return cells[i] if i is not None and i < len(cells) else ""

    label = cell("label")
    ref = cell("path") if "path" in columns else cell("youtube_id")
    if not label or not ref:
        raise ConfigError(f"{where}: a row needs a video and a label, got {','.join(cells)!r}")
    window = None
    if "time_start" in columns:
        start = _parse_seconds(cell("time_start"), where, "time_start")
        end = _parse_seconds(cell("time_end"), where, "time_end")
        if not start < end:
            raise ConfigError(f"{where}: time_start {start:g} must be before time_end {end:g}")
        window = (start, end)
    if "path" in columns:
        video = Path(ref).expanduser()
        video = (video if video.is_absolute() else csv_path.parent / video).resolve()
        return LabelledRow(label, path=video, window=window, line=lineno)
    return LabelledRow(label, youtube_id=ref, window=window, line=lineno)


def match_labelled_videos(
    library: Library, path: str | os.PathLike[str]
) -> list[tuple[VideoRecord, str, tuple[float, float] | None]]:
    """``(video, label, window)`` of each row of a labels CSV (:func:`read_labelled_csv`).

    A path row matches by :meth:`VideoMatcher.find_path`. A Kinetics ``youtube_id`` row matches
    the trimmed clip ``{youtube_id}_{start:06d}_{end:06d}`` (file stem, as the Kinetics
    downloaders name them; the whole clip is classified), else the full video whose stem is the
    id (its ``time_start..time_end`` is classified). A window that starts after its video ends is
    an error.
    """
    rows = read_labelled_csv(path)
    matcher = VideoMatcher(library.videos())
    found: list[tuple[VideoRecord, str, tuple[float, float] | None]] = []
    missing: list[str] = []
    for row in rows:
        window = row.window
        if row.path is not None:
            rec = matcher.find_path(row.path)
        else:
            stem = row.clip_stem()
            rec = matcher.find(stem) if stem else None
            if rec is not None:
                window = None  # the file is the trimmed clip itself
            else:
                rec = matcher.find(str(row.youtube_id))
        if rec is None:
            missing.append(row.reference)
            continue
        if window is not None and rec.duration_s > 0 and window[0] >= rec.duration_s:
            raise ConfigError(
                f"{path}:{row.line}: time_start {window[0]:g} s is past the end of {rec.path} "
                f"({rec.duration_s:g} s); fix the times or the video reference"
            )
        found.append((rec, row.label, window))
    if missing:
        raise missing_videos_error(missing, str(path), library.root)
    return found
