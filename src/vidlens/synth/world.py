"""The synthetic world: scenes, objects and timed events, sampled deterministically from a seed.

A :class:`VideoSpec` is the complete ground truth of one video: its shots (backgrounds), objects
(shape, colour, size, texture, start position) and events (``action`` of one object between
``start_s`` and ``end_s``). Everything a renderer or annotator needs follows from it:
:func:`object_state` gives an object's exact pose, colour and visibility at any time, and
:func:`phrase_matches` says whether a described thing is visible (and doing what it is said to
do) at a time — the exact labels the trainer uses to avoid false negatives.

Sampling (:func:`sample_video`) is a pure function of ``(seed, split, index)``: videos of the
train, val and test splits come from disjoint random streams, and the compositional split uses
only the (colour, shape, action) triples that the other splits never contain
(:func:`is_heldout_triple`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ConfigError

__all__ = [
    "ACTIONS",
    "ACTION_LABELS",
    "BACKGROUND_COLOURS",
    "BACKGROUND_KINDS",
    "COLOURS",
    "SHAPES",
    "SIZES",
    "SPLITS",
    "TEXTURES",
    "Event",
    "ObjectSpec",
    "ObjectState",
    "Phrase",
    "Shot",
    "VideoSpec",
    "WorldConfig",
    "active_events",
    "is_heldout_triple",
    "object_state",
    "phrase_matches",
    "sample_video",
    "video_seed",
]

logger = logging.getLogger(__name__)

# Bright object colours, far apart in hue so that H.264 and a 64-px model keep them apart.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 40, 40),
    "green": (50, 210, 60),
    "blue": (50, 110, 255),
    "yellow": (245, 225, 40),
    "purple": (165, 60, 225),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "pink": (255, 130, 200),
    "cyan": (40, 225, 230),
}
# Dark, muted backgrounds, so every object colour stands out on every background.
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "dark blue": (20, 30, 95),
    "dark green": (20, 80, 40),
    "gray": (105, 105, 105),
    "black": (12, 12, 12),
    "brown": (95, 58, 28),
    "teal": (18, 95, 105),
    "maroon": (100, 20, 45),
    "olive": (90, 90, 22),
}
BACKGROUND_KINDS = ("solid", "gradient", "noisy")
SHAPES = ("circle", "square", "triangle", "star", "diamond", "hexagon", "cross")
SIZES: dict[str, float] = {"small": 0.085, "large": 0.15}  # radius as a fraction of min(W, H)
TEXTURES = ("solid", "striped", "dotted")
ACTIONS = (
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "grow",
    "shrink",
    "spin",
    "appear",
    "disappear",
    "change_colour",
    "bounce",
)
# Kinetics-style class names (classes.csv) of the actions.
ACTION_LABELS: dict[str, str] = {
    "move_left": "moving left",
    "move_right": "moving right",
    "move_up": "moving up",
    "move_down": "moving down",
    "grow": "growing",
    "shrink": "shrinking",
    "spin": "spinning",
    "appear": "appearing",
    "disappear": "disappearing",
    "change_colour": "changing colour",
    "bounce": "bouncing",
}
SPLITS = ("train", "val", "test", "compositional")
_MOVES = {"move_left": (-1.0, 0.0), "move_right": (1.0, 0.0), "move_up": (0.0, -1.0),
          "move_down": (0.0, 1.0)}  # fmt: skip
GROW_FACTOR = 1.7
SHRINK_FACTOR = 0.55
APPEAR_START_SCALE = 0.4  # an appearing object fades in while growing from this scale
SPIN_TURNS_PER_S = 0.35
BOUNCE_PERIOD_S = 1.0
BOUNCE_HEIGHT = 0.16  # fraction of the frame height
MARGIN = 0.02  # objects keep this far (fraction of the frame) inside its edges
_TIME_GRID_S = 0.5  # event boundaries are multiples of this
MOVE_DISTANCE = (0.28, 0.45)  # a move travels this share of the frame...
MAX_MOVE_S = 5.5  # ...in at most this long, so the trail (1.5 s) shows >= 4 px at 64 px


@dataclass(frozen=True)
class WorldConfig:
    """What videos look like; every field is recorded next to the annotations."""

    width: int = 128  # pixels (even: H.264 4:2:0)
    height: int = 128
    fps: float = 8.0  # frames per second of the written videos
    min_duration_s: int = 10  # durations are even numbers of seconds in this range
    max_duration_s: int = 20
    max_distractors: int = 2  # other objects besides the main one
    cut_probability: float = 0.2  # share of videos with one hard scene cut
    second_event_probability: float = 0.5  # main object does a second, shorter action
    distractor_event_probability: float = 0.6  # a distractor does an action of its own
    heldout_modulus: int = 8  # 1 in this many (colour, shape, action) triples is compositional
    # Comet trail: what changes is also drawn as it was these many seconds ago...
    trail_s: tuple[float, ...] = (0.3, 0.6, 0.9, 1.2, 1.5)
    # ...as ghosts of these opacities, behind every object as it is now (empty: no trail).
    trail_alpha: tuple[float, ...] = (0.55, 0.42, 0.3, 0.2, 0.1)
    crf: int = 20  # H.264 quality

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2 or min(self.width, self.height) < 32:
            raise ConfigError(
                f"video size must be even and at least 32 px, got {self.width}x{self.height}"
            )
        if not (1 <= self.fps <= 60):
            raise ConfigError(f"fps must be within 1..60, got {self.fps}")
        if not (4 <= self.min_duration_s <= self.max_duration_s <= 600):
            raise ConfigError(
                f"durations must satisfy 4 <= min <= max <= 600 s, got "
                f"{self.min_duration_s}..{self.max_duration_s}"
            )
        if len(self.trail_s) != len(self.trail_alpha):
            raise ConfigError("trail_s and trail_alpha must have the same length")
        if any(dt <= 0 for dt in self.trail_s) or any(not 0 < a <= 1 for a in self.trail_alpha):
            raise ConfigError(
                f"trail_s must be > 0 s and trail_alpha within (0, 1], got {self.trail_s} and "
                f"{self.trail_alpha}"
            )


@dataclass(frozen=True)
class ObjectSpec:
    shape: str
    colour: str
    size: str  # key of SIZES
    texture: str
    x: float  # initial centre, fractions of width / height
    y: float
    angle: float  # initial rotation, radians

    def radius_px(self, cfg: WorldConfig) -> float:
        return SIZES[self.size] * min(cfg.width, cfg.height)


@dataclass(frozen=True)
class Event:
    obj: int  # index into VideoSpec.objects
    action: str  # one of ACTIONS
    start_s: float
    end_s: float
    to_colour: str | None = None  # change_colour only
    distance: float = 0.0  # moves: fraction of the frame travelled


@dataclass(frozen=True)
class Shot:
    start_s: float
    end_s: float
    background: str  # key of BACKGROUND_COLOURS
    kind: str  # one of BACKGROUND_KINDS
    pattern_seed: int  # gradient direction / noise field


@dataclass(frozen=True)
class VideoSpec:
    vid: str
    split: str
    seed: int
    duration_s: float
    config: WorldConfig
    objects: tuple[ObjectSpec, ...]
    events: tuple[Event, ...]  # sorted by start time
    shots: tuple[Shot, ...]
    main_object: int = 0
    primary_event: int = 0  # index into events: the action that labels the video

    @property
    def label(self) -> str:
        """Kinetics-style action class of the video (its primary event)."""
        return ACTION_LABELS[self.events[self.primary_event].action]

    def shot_at(self, t: float) -> Shot:
        for shot in self.shots:
            if t < shot.end_s:
                return shot
        return self.shots[-1]


@dataclass(frozen=True)
class ObjectState:
    """Where an object is and how it looks at one instant."""

    x: float  # centre, fractions
    y: float
    scale: float  # multiplies the object's radius
    angle: float  # radians
    colour: str
    alpha: float  # 0..1 opacity (appear)
    dissolve: float  # 0..1 share of the object's pixels gone (disappear)
    wipe_colour: str | None = None  # change_colour in progress: the colour sweeping in...
    wipe: float = 0.0  # ...over this share of the object, left to right in its own frame

    @property
    def visible(self) -> bool:
        return self.alpha > 0.0 and self.dissolve < 1.0


@dataclass(frozen=True)
class Phrase:
    """A structured description: what a caption says, for exact matching against the world.

    ``None`` attributes are unconstrained. A phrase with an ``action`` is true at ``t`` when a
    visible object matching the attributes (colour before the action) performs it at ``t``.
    """

    shape: str | None = None
    colour: str | None = None
    size: str | None = None
    texture: str | None = None
    action: str | None = None
    to_colour: str | None = None
    background: str | None = None


# ------------------------------------------------------------------------------ state


def _progress(t: float, ev: Event) -> float:
    if ev.end_s <= ev.start_s:
        return 1.0 if t >= ev.end_s else 0.0
    return min(1.0, max(0.0, (t - ev.start_s) / (ev.end_s - ev.start_s)))


def object_state(video: VideoSpec, obj: int, t: float) -> ObjectState:
    """Exact state of object ``obj`` at time ``t`` (seconds), from its events up to ``t``."""
    spec = video.objects[obj]
    x, y, scale, angle = spec.x, spec.y, 1.0, spec.angle
    colour, alpha, dissolve = spec.colour, 1.0, 0.0
    wipe_colour: str | None = None
    wipe = 0.0
    events = [ev for ev in video.events if ev.obj == obj]
    if any(ev.action == "appear" for ev in events):
        alpha = 0.0  # not there until it appears
    for ev in events:
        if t < ev.start_s:
            break
        p = _progress(t, ev)
        a = ev.action
        if a in _MOVES:
            dx, dy = _MOVES[a]
            x += dx * ev.distance * p
            y += dy * ev.distance * p
        elif a == "grow":
            scale *= 1.0 + (GROW_FACTOR - 1.0) * p
        elif a == "shrink":
            scale *= 1.0 + (SHRINK_FACTOR - 1.0) * p
        elif a == "spin":
            angle += 2.0 * math.pi * SPIN_TURNS_PER_S * (ev.end_s - ev.start_s) * p
        elif a == "bounce":
            phase = (t - ev.start_s) / BOUNCE_PERIOD_S if p < 1.0 else 0.0
            y -= BOUNCE_HEIGHT * abs(math.sin(math.pi * phase))
        elif a == "appear":
            alpha = p
            scale *= APPEAR_START_SCALE + (1.0 - APPEAR_START_SCALE) * p
        elif a == "disappear":
            dissolve = p
        elif a == "change_colour":
            assert ev.to_colour is not None
            if p >= 1.0:
                colour, wipe_colour, wipe = ev.to_colour, None, 0.0
            else:
                wipe_colour, wipe = ev.to_colour, p
    return ObjectState(x, y, scale, angle, colour, alpha, dissolve, wipe_colour, wipe)


def active_events(video: VideoSpec, t: float) -> list[Event]:
    """Events in progress at ``t`` (start <= t <= end)."""
    return [ev for ev in video.events if ev.start_s <= t <= ev.end_s]


def _colour_before(video: VideoSpec, ev: Event) -> str:
    return object_state(video, ev.obj, ev.start_s).colour


def phrase_matches(video: VideoSpec, phrase: Phrase, t: float) -> bool:
    """Whether ``phrase`` is true of the frame at ``t`` (see :class:`Phrase`)."""
    if phrase.background is not None and video.shot_at(t).background != phrase.background:
        return False
    for i, spec in enumerate(video.objects):
        if phrase.shape not in (None, spec.shape) or phrase.size not in (None, spec.size):
            continue
        if phrase.texture not in (None, spec.texture):
            continue
        st = object_state(video, i, t)
        if not st.visible:
            continue
        if phrase.action is None:
            if phrase.colour in (None, st.colour, st.wipe_colour):
                return True
            continue
        for ev in video.events:
            if ev.obj != i or ev.action != phrase.action or not (ev.start_s <= t <= ev.end_s):
                continue
            if phrase.colour not in (None, _colour_before(video, ev)):
                continue
            if phrase.to_colour not in (None, ev.to_colour):
                continue
            return True
    return False


# ------------------------------------------------------------------------------ sampling


def _stable_int(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little")


def is_heldout_triple(colour: str, shape: str, action: str, modulus: int = 8) -> bool:
    """Whether (colour, shape, action) belongs to the compositional split only.

    A fixed, seed-independent 1-in-``modulus`` subset, so every seed's train split avoids the
    same triples.
    """
    return _stable_int("heldout", colour, shape, action) % modulus == 0


def video_seed(seed: int, split: str, index: int) -> int:
    """The random stream of video ``index`` of ``split``: disjoint across splits."""
    if split not in SPLITS:
        raise ConfigError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return _stable_int("vidlens-synth", seed, split, index) % (2**63)


def _snap(t: float) -> float:
    return round(t / _TIME_GRID_S) * _TIME_GRID_S


@dataclass
class _Draft:
    objects: list[ObjectSpec] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _fits(video: VideoSpec, cfg: WorldConfig) -> bool:
    """Every visible object stays inside the frame at every event boundary and mid-bounce."""
    times = {0.0, video.duration_s}
    for ev in video.events:
        times.update(
            (ev.start_s, ev.end_s, ev.start_s + 0.5 * BOUNCE_PERIOD_S, (ev.start_s + ev.end_s) / 2)
        )
    short = min(cfg.width, cfg.height)
    for i, spec in enumerate(video.objects):
        r = spec.radius_px(cfg) * 1.05  # a rotated square/star reaches ~r
        for t in times:
            st = object_state(video, i, t)
            rx, ry = r * st.scale / cfg.width, r * st.scale / cfg.height
            if not (
                MARGIN + rx <= st.x <= 1 - MARGIN - rx and MARGIN + ry <= st.y <= 1 - MARGIN - ry
            ):
                return False
    # Objects must not overlap at the start (distractors stay apart from the main object).
    for i in range(len(video.objects)):
        for j in range(i + 1, len(video.objects)):
            a, b = object_state(video, i, 0.0), object_state(video, j, 0.0)
            ri = video.objects[i].radius_px(cfg) * a.scale
            rj = video.objects[j].radius_px(cfg) * b.scale
            dist = math.hypot((a.x - b.x) * cfg.width, (a.y - b.y) * cfg.height)
            if dist < 1.15 * (ri + rj) * (GROW_FACTOR if _grows(video, i, j) else 1.0):
                return False
    _ = short
    return True


def _grows(video: VideoSpec, i: int, j: int) -> bool:
    return any(ev.action == "grow" and ev.obj in (i, j) for ev in video.events)


def _allowed(colour: str, shape: str, action: str, split: str, cfg: WorldConfig) -> bool:
    held = is_heldout_triple(colour, shape, action, cfg.heldout_modulus)
    return held if split == "compositional" else not held


def _pick_action(
    rng: np.random.Generator,
    spec: ObjectSpec,
    split: str,
    cfg: WorldConfig,
    exclude: set[str],
    *,
    primary: bool,
) -> str | None:
    choices = [
        a
        for a in ACTIONS
        if a not in exclude
        and not (a == "spin" and spec.shape == "circle" and spec.texture == "solid")  # invisible
        and _allowed(spec.colour, spec.shape, a, split if primary else "train", cfg)
    ]
    if not choices:
        return None
    return str(choices[int(rng.integers(len(choices)))])


def _random_object(rng: np.random.Generator, used: set[tuple[str, str]]) -> ObjectSpec:
    while True:
        colour = str(list(COLOURS)[int(rng.integers(len(COLOURS)))])
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        if (colour, shape) not in used:
            break
    used.add((colour, shape))
    return ObjectSpec(
        shape=shape,
        colour=colour,
        size=("small", "large")[int(rng.integers(2))],
        texture=TEXTURES[int(rng.integers(len(TEXTURES)))],
        x=float(rng.uniform(0.2, 0.8)),
        y=float(rng.uniform(0.2, 0.8)),
        angle=float(rng.uniform(0, 2 * math.pi)) if shape != "circle" else 0.0,
    )


def _make_event(
    rng: np.random.Generator, obj: int, spec: ObjectSpec, action: str, start: float, end: float
) -> Event:
    to_colour = None
    distance = 0.0
    if action == "change_colour":
        others = [c for c in COLOURS if c != spec.colour]
        to_colour = others[int(rng.integers(len(others)))]
    if action in _MOVES:
        distance = float(rng.uniform(*MOVE_DISTANCE))
    return Event(obj, action, start, end, to_colour, distance)


def _sample_once(
    rng: np.random.Generator, vid: str, split: str, seed: int, cfg: WorldConfig
) -> VideoSpec | None:
    n_steps = (cfg.max_duration_s - cfg.min_duration_s) // 2 + 1
    duration = float(cfg.min_duration_s + 2 * int(rng.integers(n_steps)))
    used: set[tuple[str, str]] = set()
    main = _random_object(rng, used)
    objects = [main]
    for _ in range(int(rng.integers(cfg.max_distractors + 1))):
        objects.append(_random_object(rng, used))

    events: list[Event] = []
    primary_action = _pick_action(rng, main, split, cfg, set(), primary=True)
    if primary_action is None:
        return None
    p_len = _snap(float(rng.uniform(0.3, 0.55)) * duration)
    p_len = max(p_len, 3.0)
    if primary_action in _MOVES:
        p_len = min(p_len, MAX_MOVE_S)
    second = rng.random() < cfg.second_event_probability and primary_action not in (
        "appear",
        "disappear",
    )
    s_len = _snap(float(rng.uniform(2.0, 4.0))) if second else 0.0
    gap = 1.0 if second else 0.0
    slack = duration - 1.0 - p_len - s_len - gap
    if slack < 0:
        return None
    lead = _snap(float(rng.uniform(0.5, 0.5 + slack)))
    if primary_action == "appear":
        lead = max(lead, 1.0)
    second_first = second and rng.random() < 0.5
    t = lead
    plan: list[tuple[str | None, float]] = []
    if second_first:
        plan += [(None, s_len), ("primary", p_len)]
    else:
        plan += [("primary", p_len)] + ([(None, s_len)] if second else [])
    primary_index = 0
    for kind, length in plan:
        if kind == "primary":
            primary_index = len(events)
            events.append(_make_event(rng, 0, main, primary_action, t, t + length))
        else:
            exclude = {primary_action, "appear", "disappear"}
            act = _pick_action(rng, main, split, cfg, exclude, primary=False)
            if act is None:
                return None
            events.append(_make_event(rng, 0, main, act, t, t + length))
        t += length + gap
    taken = {ev.action for ev in events}
    for k in range(1, len(objects)):
        if rng.random() >= cfg.distractor_event_probability:
            continue
        act = _pick_action(rng, objects[k], split, cfg, taken, primary=False)
        if act is None:
            continue
        length = _snap(float(rng.uniform(2.0, 4.0)))
        start = _snap(float(rng.uniform(0.5, duration - 0.5 - length)))
        if act == "appear":
            start = max(start, 1.0)
        events.append(_make_event(rng, k, objects[k], act, start, start + length))
        taken.add(act)

    shots = _sample_shots(rng, duration, events, cfg)
    order = sorted(range(len(events)), key=lambda i: (events[i].start_s, events[i].obj))
    primary_sorted = order.index(primary_index)
    video = VideoSpec(
        vid=vid,
        split=split,
        seed=seed,
        duration_s=duration,
        config=cfg,
        objects=tuple(objects),
        events=tuple(events[i] for i in order),
        shots=shots,
        main_object=0,
        primary_event=primary_sorted,
    )
    return video


def _sample_shots(
    rng: np.random.Generator, duration: float, events: list[Event], cfg: WorldConfig
) -> tuple[Shot, ...]:
    names = list(BACKGROUND_COLOURS)

    def shot(start: float, end: float, avoid: str | None) -> Shot:
        options = [n for n in names if n != avoid]
        return Shot(
            start,
            end,
            options[int(rng.integers(len(options)))],
            BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))],
            int(rng.integers(2**31)),
        )

    first = shot(0.0, duration, None)
    if rng.random() >= cfg.cut_probability:
        return (first,)
    # A cut at a time no event spans, away from the ends.
    candidates = [
        c
        for c in np.arange(2.0, duration - 2.0 + 1e-9, 1.0)
        if not any(ev.start_s - 0.5 < c < ev.end_s + 0.5 for ev in events)
    ]
    if not candidates:
        return (first,)
    cut = float(candidates[int(rng.integers(len(candidates)))])
    return (replace(first, end_s=cut), shot(cut, duration, first.background))


def sample_video(seed: int, split: str, index: int, cfg: WorldConfig | None = None) -> VideoSpec:
    """The ``index``-th video of ``split`` for ``seed``: a pure function of its arguments."""
    cfg = cfg or WorldConfig()
    vseed = video_seed(seed, split, index)
    rng = np.random.default_rng(vseed)
    vid = f"{split}_{index:05d}"
    for _ in range(200):
        video = _sample_once(rng, vid, split, vseed, cfg)
        if video is not None and _fits(video, cfg):
            return video
    raise ConfigError(
        f"could not place the objects of {vid} (seed {seed}) inside a "
        f"{cfg.width}x{cfg.height} frame; use a larger frame or longer durations"
    )
