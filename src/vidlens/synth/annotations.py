"""Captions and annotations of synthetic videos, in the field's formats.

- ``moments.jsonl`` — QVHighlights: one query per event (``qid, query, duration, vid,
  relevant_windows, relevant_clip_ids, saliency_scores``), saliency 0-4 per 2-s clip from three
  simulated annotators (a shared score from how much of the clip the event covers, plus each
  annotator's bias and noise: noisy but consistent).
- ``retrieval.csv`` — MSR-VTT: ``video_id,sentence``, several captions per video.
- ``classes.csv`` — Kinetics: ``path,label,time_start,time_end``, the action of the video's
  primary event and when it happens (Kinetics clips, too, are stretches of longer videos, which
  hold other things besides the labelled action).
- ``world.jsonl`` — the complete ground truth (:class:`~vidlens.synth.world.VideoSpec`) of each
  video, from which everything above (and the trainer's per-frame labels) is derived.

Every caption is built together with a :class:`~vidlens.synth.world.Phrase` saying exactly what it
claims, so a caption's truth at any frame is known (:func:`vidlens.synth.world.phrase_matches`).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .world import (
    ACTION_LABELS,
    Event,
    ObjectSpec,
    Phrase,
    Shot,
    VideoSpec,
    WorldConfig,
    object_state,
)

__all__ = [
    "CLASS_LABEL_TEMPLATE",
    "CLIP_S",
    "Caption",
    "action_verb",
    "class_prompts",
    "event_caption",
    "generic_event_caption",
    "moment_records",
    "object_phrase",
    "read_world",
    "retrieval_captions",
    "saliency_for_window",
    "video_from_dict",
    "video_to_dict",
    "write_annotations",
]

logger = logging.getLogger(__name__)

CLIP_S = 2.0  # QVHighlights clip length
_ANNOTATOR_BIAS = (-0.3, 0.0, 0.3)
_ANNOTATOR_NOISE = 0.45

_VERBS: dict[str, tuple[str, ...]] = {
    "move_left": ("moves left", "moves to the left", "slides to the left"),
    "move_right": ("moves right", "moves to the right", "slides to the right"),
    "move_up": ("moves up", "rises", "moves upward"),
    "move_down": ("moves down", "sinks", "moves downward"),
    "grow": ("grows", "gets bigger", "expands"),
    "shrink": ("shrinks", "gets smaller", "contracts"),
    "spin": ("spins", "rotates", "turns around"),
    "appear": ("appears", "fades in", "shows up"),
    "disappear": ("disappears", "dissolves", "vanishes"),
    "change_colour": ("turns {to}", "changes colour to {to}", "changes from {frm} to {to}"),
    "bounce": ("bounces", "jumps up and down", "hops"),
}
# Captions of an action whose subject is any object (the trainer's generic captions).
_GENERIC_TEMPLATES = (
    "something {verb}",
    "a shape {verb}",
    "an object that {verb}",
    "an object {verb}",
    "one of the shapes {verb}",
)
# Zero-shot class prompts (the Kinetics labels in a sentence a caption could contain).
_CLASS_TEMPLATES = ("something {verb}", "a shape {verb}", "an object that {verb}")
# The template of the label itself for `vidlens eval classify` ("something moving left").
CLASS_LABEL_TEMPLATE = "something {}"


@dataclass(frozen=True)
class Caption:
    text: str
    phrase: Phrase  # what the caption claims, for exact per-frame truth


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def object_phrase(
    spec: ObjectSpec, rng: np.random.Generator, *, full: bool = False
) -> tuple[str, Phrase]:
    """``"large red striped star"``: colour and shape always, size and texture sometimes."""
    size = spec.size if full or rng.random() < 0.5 else None
    texture = spec.texture if (full or rng.random() < 0.5) and spec.texture != "solid" else None
    words = [w for w in (size, spec.colour, texture, spec.shape) if w]
    return " ".join(words), Phrase(shape=spec.shape, colour=spec.colour, size=size, texture=texture)


def action_verb(ev: Event, video: VideoSpec, rng: np.random.Generator) -> str:
    verb = _pick(rng, _VERBS[ev.action])
    if ev.action == "change_colour":
        frm = object_state(video, ev.obj, ev.start_s).colour
        verb = verb.format(frm=frm, to=ev.to_colour)
    return verb


def generic_event_caption(video: VideoSpec, ev: Event, rng: np.random.Generator) -> Caption:
    """An action without its subject: ``"something spins"``, ``"a shape turns cyan"``; true of
    any object doing it."""
    raw = _pick(rng, _VERBS[ev.action])
    frm = object_state(video, ev.obj, ev.start_s).colour
    verb = raw.format(frm=frm, to=ev.to_colour) if ev.action == "change_colour" else raw
    phrase = Phrase(
        colour=frm if "{frm}" in raw else None, action=ev.action, to_colour=ev.to_colour
    )
    return Caption(_pick(rng, _GENERIC_TEMPLATES).format(verb=verb), phrase)


def event_caption(video: VideoSpec, ev: Event, rng: np.random.Generator) -> Caption:
    """A moment query: ``"the small red star spins"``."""
    spec = video.objects[ev.obj]
    obj, phrase = object_phrase(spec, rng)
    article = _pick(rng, ("the", "a"))
    text = f"{article} {obj} {action_verb(ev, video, rng)}"
    colour = object_state(video, ev.obj, ev.start_s).colour
    return Caption(
        text, dataclasses.replace(phrase, colour=colour, action=ev.action, to_colour=ev.to_colour)
    )


def _background_phrase(shot: Shot) -> str:
    if shot.kind == "gradient":
        return f"{shot.background} gradient background"
    if shot.kind == "noisy":
        return f"noisy {shot.background} background"
    return f"{shot.background} background"


def _backgrounds(video: VideoSpec) -> str:
    first = _background_phrase(video.shots[0])
    if len(video.shots) == 1:
        return f"a {first}"
    return f"a {first} that cuts to a {_background_phrase(video.shots[1])}"


def retrieval_captions(
    video: VideoSpec, n: int = 3, rng: np.random.Generator | None = None
) -> list[Caption]:
    """``n`` whole-video captions (MSR-VTT style), from the most to the least detailed.

    The frame-level phrase of a whole-video caption is its main object (visible, any action).
    ``rng`` varies the wording (default: fixed by the video's seed, as written to disk).
    """
    rng = rng or np.random.default_rng((video.seed + 1) % (2**63))
    main = video.objects[video.main_object]
    primary = video.events[video.primary_event]
    main_events = [ev for ev in video.events if ev.obj == video.main_object]
    others = [ev for ev in video.events if ev.obj != video.main_object]
    bg = _backgrounds(video)
    out: list[Caption] = []
    for k in range(n):
        obj, phrase = object_phrase(main, rng, full=k == 0)
        if k % 3 == 0:
            verbs = [action_verb(ev, video, rng) for ev in main_events]
            text = f"a {obj} {', then '.join(verbs)} on {bg}"
        elif k % 3 == 1:
            text = f"{bg} with a {obj} that {action_verb(primary, video, rng)}"
            if others:
                ev = others[0]
                other, _ = object_phrase(video.objects[ev.obj], rng)
                text += f", while a {other} {action_verb(ev, video, rng)}"
        else:
            text = f"a {obj} {action_verb(primary, video, rng)} on {bg}"
            n_objects = len(video.objects)
            if n_objects > 1:
                text += f" next to {n_objects - 1} other shape{'s' if n_objects > 2 else ''}"
        colour = object_state(video, video.main_object, 0.0).colour
        out.append(Caption(text, dataclasses.replace(phrase, colour=colour)))
    return out


def class_prompts(label: str) -> list[str]:
    """Prompt ensemble of an action class (``"moving left"`` -> sentences)."""
    action = next(a for a, lab in ACTION_LABELS.items() if lab == label)
    verbs = [v for v in _VERBS[action] if "{" not in v] or ["changes colour"]
    return [t.format(verb=v) for t in _CLASS_TEMPLATES for v in verbs]


def saliency_for_window(
    video: VideoSpec, start_s: float, end_s: float, rng: np.random.Generator
) -> tuple[list[int], list[list[int]]]:
    """Clip ids (2-s clips) overlapping ``[start_s, end_s]`` and three annotators' 0-4 scores."""
    n_clips = int(np.ceil(video.duration_s / CLIP_S - 1e-9))
    ids: list[int] = []
    scores: list[list[int]] = []
    for c in range(n_clips):
        overlap = min(end_s, (c + 1) * CLIP_S) - max(start_s, c * CLIP_S)
        if overlap <= 0:
            continue
        shared = 1.0 + 3.0 * overlap / CLIP_S + rng.normal(0.0, 0.25)
        row = [
            int(np.clip(round(shared + bias + rng.normal(0.0, _ANNOTATOR_NOISE)), 0, 4))
            for bias in _ANNOTATOR_BIAS
        ]
        ids.append(c)
        scores.append(row)
    return ids, scores


def moment_records(video: VideoSpec, first_qid: int) -> list[dict[str, Any]]:
    """QVHighlights ground-truth records, one per event of ``video``."""
    rng = np.random.default_rng((video.seed + 2) % (2**63))
    out = []
    for k, ev in enumerate(video.events):
        cap = event_caption(video, ev, rng)
        ids, scores = saliency_for_window(video, ev.start_s, ev.end_s, rng)
        out.append(
            {
                "qid": first_qid + k,
                "query": cap.text,
                "duration": video.duration_s,
                "vid": video.vid,
                "relevant_windows": [[ev.start_s, ev.end_s]],
                "relevant_clip_ids": ids,
                "saliency_scores": scores,
            }
        )
    return out


# ------------------------------------------------------------------------------ (de)serialising


def video_to_dict(video: VideoSpec) -> dict[str, Any]:
    return dataclasses.asdict(video)


def video_from_dict(data: dict[str, Any]) -> VideoSpec:
    fields: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in data["config"].items()
    }
    unknown = sorted(set(fields) - {f.name for f in dataclasses.fields(WorldConfig)})
    if unknown:
        raise ConfigError(
            f"video {data.get('vid')!r} was made by another version of vidlens synth (unknown "
            f"settings: {', '.join(unknown)}); render the set again with vidlens synth"
        )
    cfg = WorldConfig(**fields)
    return VideoSpec(
        vid=data["vid"],
        split=data["split"],
        seed=int(data["seed"]),
        duration_s=float(data["duration_s"]),
        config=cfg,
        objects=tuple(ObjectSpec(**o) for o in data["objects"]),
        events=tuple(Event(**e) for e in data["events"]),
        shots=tuple(Shot(**s) for s in data["shots"]),
        main_object=int(data["main_object"]),
        primary_event=int(data["primary_event"]),
    )


def read_world(directory: str | os.PathLike[str]) -> list[VideoSpec]:
    """The ground truth written by :func:`write_annotations` (``annotations/world.jsonl``)."""
    path = Path(directory) / "annotations" / "world.jsonl"
    if not path.is_file():
        raise ConfigError(
            f"{path} not found: {directory} is not a synthetic set; make one with "
            f"vidlens synth --out {directory} --count N"
        )
    with path.open(encoding="utf-8") as fh:
        return [video_from_dict(json.loads(line)) for line in fh if line.strip()]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_annotations(
    directory: str | os.PathLike[str], videos: Iterable[VideoSpec], video_ext: str = ".mp4"
) -> dict[str, Path]:
    """Write ``annotations/{moments.jsonl,retrieval.csv,classes.csv,world.jsonl}`` and the
    zero-shot prompts of the classes (``class_descriptions.json``, ``class_templates.txt``)."""
    root = Path(directory)
    ann = root / "annotations"
    ann.mkdir(parents=True, exist_ok=True)
    moments: list[str] = []
    world: list[str] = []
    retrieval = io.StringIO()
    classes = io.StringIO()
    rw = csv.writer(retrieval, lineterminator="\n")
    cw = csv.writer(classes, lineterminator="\n")
    rw.writerow(["video_id", "sentence"])
    cw.writerow(["path", "label", "time_start", "time_end"])
    qid = 0
    for video in videos:
        for rec in moment_records(video, qid):
            moments.append(json.dumps(rec))
        qid += len(video.events)
        for cap in retrieval_captions(video):
            rw.writerow([video.vid, cap.text])
        primary = video.events[video.primary_event]
        cw.writerow([f"videos/{video.vid}{video_ext}", video.label, f"{primary.start_s:g}",
                     f"{primary.end_s:g}"])  # fmt: skip
        world.append(json.dumps(video_to_dict(video)))
    paths = {
        "moments": ann / "moments.jsonl",
        "retrieval": ann / "retrieval.csv",
        "classes": ann / "classes.csv",
        "world": ann / "world.jsonl",
        "class_descriptions": ann / "class_descriptions.json",
        "class_templates": ann / "class_templates.txt",
    }
    _write_text(paths["moments"], "\n".join(moments) + "\n")
    _write_text(paths["retrieval"], retrieval.getvalue())
    _write_text(paths["classes"], classes.getvalue())
    _write_text(paths["world"], "\n".join(world) + "\n")
    # `vidlens eval classify --templates ... --descriptions ...` with these scores the classes as
    # the benchmark does: the Kinetics labels ("moving left") in the captions' own grammar
    # ("something moves left", "a shape slides to the left", ...).
    descriptions = {lab: class_prompts(lab) for lab in sorted(ACTION_LABELS.values())}
    _write_text(paths["class_descriptions"], json.dumps(descriptions, indent=2) + "\n")
    _write_text(paths["class_templates"], CLASS_LABEL_TEMPLATE + "\n")
    return paths
