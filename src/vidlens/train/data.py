"""Training data: a decoded-frame cache of synthetic sets, and batches of clips with captions.

The frames of every video are decoded once, at ``cache_fps``, resized to the model's input size
exactly as the engine's encoder resizes them (torch's antialiased bicubic on uint8), and stored in
one uint8 ``.npy`` per set (memory-mapped afterwards), so epochs never decode.

A batch holds ``batch_size`` clips of ``frames_per_clip`` frames. Most clips are cut around one
annotated event (with some seconds before and after it, so that a clip also holds frames where
the event is *not* happening) and paired with a freshly templated caption of that event; the rest
span a whole video and carry one of its whole-video captions. Because every caption comes with a
:class:`~vidlens.synth.world.Phrase`, the batch also carries exact truth tables: which caption is
true of which frame (``frame_pos``) and which captions are true of which clip (``clip_pos``), so
the losses never punish a true pair as a negative.

Every batch also carries one class sentence per action (``action_texts``, a prompt of the
Kinetics-style label, as ActionCLIP and ViFi-CLIP train on label text) with the exact truth of
which actions happen in which frame (``frame_action``) and clip (``clip_action``): the trainer's
action loss, which makes both towers tell the actions apart.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, MediaError
from ..synth.annotations import (
    Caption,
    class_prompts,
    event_caption,
    generic_event_caption,
    read_world,
    retrieval_captions,
)
from ..synth.world import ACTION_LABELS, ACTIONS, COLOURS, Phrase, VideoSpec, phrase_matches

__all__ = ["Batch", "ClipSampler", "FrameCache", "build_cache"]

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1
_OPPOSITE = {
    "move_left": "move_right",
    "move_right": "move_left",
    "move_up": "move_down",
    "move_down": "move_up",
    "grow": "shrink",
    "shrink": "grow",
    "appear": "disappear",
    "disappear": "appear",
}


# What a mirror image turns an action into, as indices into ACTIONS (left-right, up-down mirror).
_H_MIRROR = np.arange(len(ACTIONS))
_H_MIRROR[[ACTIONS.index("move_left"), ACTIONS.index("move_right")]] = [
    ACTIONS.index("move_right"), ACTIONS.index("move_left")]  # fmt: skip
_V_MIRROR = np.arange(len(ACTIONS))
_V_MIRROR[[ACTIONS.index("move_up"), ACTIONS.index("move_down")]] = [
    ACTIONS.index("move_down"), ACTIONS.index("move_up")]  # fmt: skip


@dataclass
class FrameCache:
    """Decoded frames of a synthetic set: ``frames[offsets[i] + k]`` is video ``i`` at
    ``k / fps`` seconds."""

    videos: list[VideoSpec]
    frames: np.ndarray  # (total, S, S, 3) uint8, memory-mapped
    offsets: np.ndarray  # (V,) int64
    counts: np.ndarray  # (V,) int64
    fps: float

    def times(self, i: int) -> np.ndarray:
        return np.arange(int(self.counts[i])) / self.fps


def _decode_resized(path: Path, times: np.ndarray, size: int) -> np.ndarray:
    import av
    import torch
    import torch.nn.functional as F

    try:
        with av.open(os.fspath(path)) as container:
            stream = container.streams.video[0]
            decoded = []
            stamps = []
            for frame in container.decode(stream):
                decoded.append(frame.to_ndarray(format="rgb24"))
                tb = stream.time_base
                stamps.append(float(frame.pts * tb) if frame.pts is not None and tb else 0.0)
    except (OSError, av.FFmpegError) as exc:
        raise MediaError(f"cannot decode training video {path}: {exc}") from exc
    if not decoded:
        raise MediaError(f"training video {path} has no frames")
    st = np.asarray(stamps)
    pick = [int(np.argmin(np.abs(st - t))) for t in times]
    x = torch.from_numpy(np.stack([decoded[i] for i in pick])).permute(0, 3, 1, 2)
    h, w = x.shape[-2:]
    if (h, w) != (size, size):
        short = min(h, w)
        hw = (round(h * size / short), round(w * size / short))
        x = F.interpolate(x, size=hw, mode="bicubic", antialias=True)
        top, left = (x.shape[-2] - size) // 2, (x.shape[-1] - size) // 2
        x = x[..., top : top + size, left : left + size]
    return x.permute(0, 2, 3, 1).contiguous().numpy()


def build_cache(
    data_dir: str | os.PathLike[str],
    cache_dir: str | os.PathLike[str],
    *,
    image_size: int,
    fps: float = 2.0,
    limit: int | None = None,
) -> FrameCache:
    """Decode (once) the videos of the synthetic set in ``data_dir`` into ``cache_dir``."""
    root = Path(data_dir)
    videos = read_world(root)
    if limit is not None:
        videos = videos[:limit]
    if not videos:
        raise ConfigError(f"{root} holds no videos")
    counts = np.array([max(1, int(np.floor(v.duration_s * fps + 1e-9))) for v in videos])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    key = hashlib.sha256(
        json.dumps(
            [_CACHE_VERSION, str(root.resolve()), [v.vid for v in videos], image_size, fps]
        ).encode()
    ).hexdigest()[:16]
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"frames-{key}.npy"
    if not path.is_file():
        logger.info("decoding %d videos of %s into %s", len(videos), root, path)
        tmp = cache / f".frames-{key}.tmp.npy"
        arr = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(int(counts.sum()), image_size, image_size, 3)
        )
        for i, v in enumerate(videos):
            times = np.arange(int(counts[i])) / fps
            frames = _decode_resized(root / "videos" / f"{v.vid}.mp4", times, image_size)
            arr[offsets[i] : offsets[i] + counts[i]] = frames
            if (i + 1) % 200 == 0:
                logger.info("decoded %d/%d videos", i + 1, len(videos))
        arr.flush()
        del arr
        os.replace(tmp, path)
    frames = np.load(path, mmap_mode="r")
    return FrameCache(videos, frames, offsets, counts.astype(np.int64), fps)


@dataclass
class Batch:
    frames: np.ndarray  # (B, T, S, S, 3) uint8
    texts: list[str]  # (N,): B captions, then hard negatives
    clip_pos: np.ndarray  # (B, N) bool: text j is true of clip i (j == i always)
    clip_ignore: np.ndarray  # (B, N) bool: pair neither positive nor negative
    frame_pos: np.ndarray  # (B*T, N) bool: text j is true of frame (i, k)
    is_event: np.ndarray  # (B,) bool: clip cut around an event (else a whole video)
    action_texts: list[str]  # (A,): a class sentence of each of ACTIONS, in that order
    frame_action: np.ndarray  # (B*T, A) bool: some object does action a in frame (i, k)
    clip_action: np.ndarray  # (B, A) bool: action a happens in >= half of clip i's frames
    clip_action_ignore: np.ndarray  # (B, A) bool: in some but fewer than half of its frames
    videos: np.ndarray  # (B,) int: index of each clip's video in the cache
    times: np.ndarray  # (B, T) float: seconds of each frame in its video
    # Single frames of one action each, class-balanced and augmented (colour channels shuffled,
    # flipped, with left/right and up/down labels swapped to match): (M, S, S, 3) and (M,)
    # indices into ACTIONS. What they share is only the action, never the object or scene.
    action_frames: np.ndarray | None = None
    action_labels: np.ndarray | None = None


@dataclass(frozen=True)
class _Item:
    video: int
    event: int  # -1: whole-video clip


class ClipSampler:
    """Epochs of shuffled :class:`Batch` es from a :class:`FrameCache`, a pure function of
    ``(seed, epoch)``."""

    def __init__(
        self,
        cache: FrameCache,
        *,
        batch_size: int,
        frames_per_clip: int,
        seed: int,
        video_clips_per_video: int = 1,
        context_s: tuple[float, float] = (0.5, 3.0),
        hard_negatives: int = 0,
        generic_captions: float = 0.0,
        action_frames: int = 0,
    ) -> None:
        if batch_size < 2 or frames_per_clip < 1:
            raise ConfigError("batch_size must be >= 2 and frames_per_clip >= 1")
        self.cache = cache
        self.batch_size = batch_size
        self.frames_per_clip = frames_per_clip
        self.seed = seed
        self.context_s = context_s
        self.hard_negatives = hard_negatives
        self.generic_captions = generic_captions
        items: list[_Item] = []
        for i, v in enumerate(cache.videos):
            items.extend(_Item(i, e) for e in range(len(v.events)))
            items.extend(_Item(i, -1) for _ in range(video_clips_per_video))
        self.items = items
        self.action_frames = action_frames
        # cache rows showing exactly one action, grouped by action (for action_frames)
        self.action_pool: list[np.ndarray] = []
        if action_frames:
            pools: list[list[int]] = [[] for _ in ACTIONS]
            for i, v in enumerate(cache.videos):
                present = sorted({ev.action for ev in v.events})
                for k, t in enumerate(cache.times(i)):
                    acts = [a for a in present if phrase_matches(v, Phrase(action=a), float(t))]
                    if len(acts) == 1:
                        pools[ACTIONS.index(acts[0])].append(int(cache.offsets[i]) + k)
            self.action_pool = [np.array(p, dtype=np.int64) for p in pools]
            self._drawable = np.array([a for a, p in enumerate(self.action_pool) if len(p)])
            if not len(self._drawable):
                raise ConfigError("action_frames needs frames where an action happens; none do")
            missing = [a for a, p in zip(ACTIONS, self.action_pool, strict=True) if not len(p)]
            if missing:
                logger.warning("no training frame shows %s: action_frames skip them", missing)

    def steps_per_epoch(self) -> int:
        return len(self.items) // self.batch_size

    def epoch(self, epoch: int) -> Iterator[Batch]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.items))
        for b in range(self.steps_per_epoch()):
            chosen = [self.items[k] for k in order[b * self.batch_size : (b + 1) * self.batch_size]]
            yield self._batch(chosen, rng)

    def _clip_times(self, item: _Item, rng: np.random.Generator) -> np.ndarray:
        v = self.cache.videos[item.video]
        t_max = (int(self.cache.counts[item.video]) - 1) / self.cache.fps
        if item.event >= 0:
            ev = v.events[item.event]
            lo = max(0.0, ev.start_s - rng.uniform(*self.context_s))
            hi = min(t_max, ev.end_s + rng.uniform(*self.context_s))
        else:
            lo, hi = 0.0, t_max
        t = self.frames_per_clip
        edges = np.linspace(lo, hi, t + 1)
        times = edges[:-1] + rng.random(t) * (edges[1:] - edges[:-1])
        return np.clip(np.round(times * self.cache.fps) / self.cache.fps, 0.0, t_max)

    def _caption(self, item: _Item, rng: np.random.Generator) -> Caption:
        v = self.cache.videos[item.video]
        if item.event >= 0:
            if self.generic_captions > 0 and rng.random() < self.generic_captions:
                return generic_event_caption(v, v.events[item.event], rng)
            return event_caption(v, v.events[item.event], rng)
        caps = retrieval_captions(v, rng=rng)
        return caps[int(rng.integers(len(caps)))]

    def _counterfactuals(self, item: _Item, rng: np.random.Generator) -> list[Caption]:
        """Captions of the same object doing other actions (the opposite one first): hard
        negatives that only the action tells apart (NegCLIP-style)."""
        v = self.cache.videos[item.video]
        ev = v.events[item.event]
        others = [a for a in ACTIONS if a != ev.action]
        first = [_OPPOSITE[ev.action]] if ev.action in _OPPOSITE else []
        rest = [a for a in others if a not in first]
        picked = first + [rest[int(k)] for k in rng.permutation(len(rest))]
        out = []
        for action in picked[: self.hard_negatives]:
            to = None
            if action == "change_colour":
                colours = [c for c in COLOURS if c != v.objects[ev.obj].colour]
                to = colours[int(rng.integers(len(colours)))]
            out.append(event_caption(v, dataclasses.replace(ev, action=action, to_colour=to), rng))
        return out

    def _batch(self, items: Sequence[_Item], rng: np.random.Generator) -> Batch:
        c = self.cache
        b, t = len(items), self.frames_per_clip
        times = np.stack([self._clip_times(it, rng) for it in items])  # (B, T)
        caps = [self._caption(it, rng) for it in items]
        owners = list(range(b))  # the clip each caption was written for
        if self.hard_negatives:
            for it in items:
                if it.event >= 0:
                    extra = self._counterfactuals(it, rng)
                    caps.extend(extra)
                    owners.extend([-1] * len(extra))
        idx = np.array(
            [c.offsets[it.video] + np.round(times[i] * c.fps).astype(np.int64)
             for i, it in enumerate(items)]
        )  # fmt: skip
        frames = c.frames[idx.reshape(-1)].reshape((b, t, *c.frames.shape[1:]))
        is_event = np.array([it.event >= 0 for it in items])
        n = len(caps)
        # a caption is about any video, except a whole-video caption: only about its own
        about_any = [o < 0 or bool(is_event[o]) for o in owners]
        frame_pos = np.zeros((b * t, n), dtype=bool)
        for j, cap in enumerate(caps):
            for i, it in enumerate(items):
                if not about_any[j] and it.video != items[owners[j]].video:
                    continue
                v = c.videos[it.video]
                shape = cap.phrase.shape
                if shape is not None and not any(o.shape == shape for o in v.objects):
                    continue
                for k in range(t):
                    frame_pos[i * t + k, j] = phrase_matches(v, cap.phrase, float(times[i, k]))
        clip_pos = np.zeros((b, n), dtype=bool)
        clip_pos[np.arange(b), np.arange(b)] = True
        clip_ignore = np.zeros((b, n), dtype=bool)
        per_clip = frame_pos.reshape(b, t, n).mean(axis=1)  # share of clip i's frames j is true of
        for i, it in enumerate(items):
            for j in range(n):
                if owners[j] == i:
                    continue
                same_video = owners[j] >= 0 and it.video == items[owners[j]].video
                if about_any[j] and per_clip[i, j] >= 0.5:
                    clip_pos[i, j] = True
                elif same_video or (about_any[j] and per_clip[i, j] > 0):
                    # partly true, or another caption of the same video: neither pulled nor pushed
                    clip_ignore[i, j] = True
        action_texts = []
        for a in ACTIONS:
            prompts = class_prompts(ACTION_LABELS[a])
            action_texts.append(prompts[int(rng.integers(len(prompts)))])
        frame_action = np.zeros((b * t, len(ACTIONS)), dtype=bool)
        for i, it in enumerate(items):
            v = c.videos[it.video]
            present = {ev.action for ev in v.events}
            for a_idx, a in enumerate(ACTIONS):
                if a not in present:
                    continue
                phrase = Phrase(action=a)
                for k in range(t):
                    frame_action[i * t + k, a_idx] = phrase_matches(v, phrase, float(times[i, k]))
        share = frame_action.reshape(b, t, -1).mean(axis=1)
        action_frames = action_labels = None
        if self.action_frames:
            action_frames, action_labels = self._action_frames(rng)
        return Batch(
            frames, [cap.text for cap in caps], clip_pos, clip_ignore, frame_pos, is_event,
            action_texts, frame_action, share >= 0.5, (share > 0) & (share < 0.5),
            np.array([it.video for it in items]), times, action_frames, action_labels,
        )  # fmt: skip

    def _action_frames(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``action_frames`` single frames: a uniformly drawn action (of those the set shows),
        then one of its frames; colour channels permuted (a red star becomes a green or blue
        one: the action is what stays), mirrored left-right and up-down at random, labels
        following the mirrors."""
        m = self.action_frames
        labels = self._drawable[rng.integers(len(self._drawable), size=m)]
        pools = [self.action_pool[a] for a in labels]
        rows = np.array([p[int(rng.integers(len(p)))] for p in pools])
        order = np.argsort(rows)  # memory-mapped reads in file order
        frames = np.empty((m, *self.cache.frames.shape[1:]), dtype=np.uint8)
        frames[order] = self.cache.frames[rows[order]]
        for i in range(m):
            frames[i] = frames[i][..., rng.permutation(3)]
        hflip = rng.random(m) < 0.5
        vflip = rng.random(m) < 0.5
        frames[hflip] = frames[hflip][:, :, ::-1]
        frames[vflip] = frames[vflip][:, ::-1]
        labels = np.where(hflip, _H_MIRROR[labels], labels)
        labels = np.where(vflip, _V_MIRROR[labels], labels)
        return frames, labels
