"""Data for the chapter (paper Section 3): UCF101 in its official layout, decoded once into a frame cache, and a
generated set of moving-shape videos written in the very same layout so that the real loader runs end to end.

Official layout (split 1 is the paper's: 9,537 train / 3,783 test videos)::

    <root>/UCF-101/<Class>/v_<Class>_gGG_cCC.avi
    <root>/ucfTrainTestlist/classInd.txt      "1 ApplyEyeMakeup"
    <root>/ucfTrainTestlist/trainlist01.txt   "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    <root>/ucfTrainTestlist/testlist01.txt    "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

Preprocessing (Section 3.2): the training split is cut 80:20 into train/validation; frames are decoded (PyAV);
each training clip gets one random crop at one of the four corners, scaled to ``size`` x ``size``; pixels are
normalised to zero mean and unit variance (per channel, statistics of the training frames); videos are cut into
non-overlapping T-frame subclips.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from replicate import distributed, paths
from replicate.data import require
from replicate.train import progress

CHAPTER = "causal_shufflenet"

# ---------------------------------------------------------------------------------------------- generated set
#: Motions of the generated set. Classes 2k and 2k+1 (k < 5) are the same motion played backwards: the temporal
#: asymmetry that the paper says UCF101 lacks (Section 7) and that its causal design is meant for.
GENERATED_CLASSES = ("Expand", "Contract", "Fall", "Rise", "SpinClockwise", "SpinCounterClockwise", "FadeIn",
                     "FadeOut", "SlideRight", "SlideLeft", "Bounce", "Shake")
MIRRORED_PAIRS = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))


def render_video(label: int, length: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """One generated video, (length, size, size, 3) uint8: a coloured shape on a noisy background whose motion is
    the class. Odd-indexed classes of a mirrored pair are the even one's frames in reverse order."""
    base, reverse = (label - label % 2, label % 2 == 1) if label < 10 else (label, False)
    t = np.linspace(0.0, 1.0, length)[:, None, None]
    if reverse:
        t = t[::-1]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    yy, xx = yy[None], xx[None]
    cx, cy = rng.uniform(0.35, 0.65, 2)
    r0 = rng.uniform(0.12, 0.2)
    if base == 0:  # Expand (reverse: Contract)
        r = r0 * (0.4 + 1.6 * t)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r ** 2
        alpha = np.ones_like(t)
    elif base == 2:  # Fall: accelerating downwards (reverse: Rise, decelerating upwards)
        y = 0.1 + 0.8 * t ** 2
        mask = (np.abs(xx - cx) < r0) & (np.abs(yy - y) < r0)
        alpha = np.ones_like(t)
    elif base == 4:  # a bar spinning clockwise (reverse: counter-clockwise)
        ang = rng.uniform(0, np.pi) + 1.5 * np.pi * t
        d = (xx - 0.5) * np.sin(ang) - (yy - 0.5) * np.cos(ang)
        along = (xx - 0.5) * np.cos(ang) + (yy - 0.5) * np.sin(ang)
        mask = (np.abs(d) < 0.06) & (np.abs(along) < 0.38)
        alpha = np.ones_like(t)
    elif base == 6:  # FadeIn (reverse: FadeOut)
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 < (1.5 * r0) ** 2 + 0 * t
        alpha = t
    elif base == 8:  # SlideRight (reverse: SlideLeft)
        x = 0.15 + 0.7 * t
        mask = (xx - x) ** 2 + (yy - cy) ** 2 < r0 ** 2
        alpha = np.ones_like(t)
    elif base == 10:  # Bounce: up and down, its own reverse
        y = 0.5 + 0.3 * np.sin(2 * np.pi * 2 * t)
        mask = (xx - cx) ** 2 + (yy - y) ** 2 < r0 ** 2
        alpha = np.ones_like(t)
    else:  # Shake: fast left-right jitter, its own reverse
        x = cx + 0.15 * np.sign(np.sin(2 * np.pi * 6 * t))
        mask = (np.abs(xx - x) < r0) & (np.abs(yy - cy) < r0)
        alpha = np.ones_like(t)
    colour = rng.uniform(120, 255, 3)
    bg = rng.uniform(0, 90, 3)
    frames = bg + (colour - bg) * (mask * alpha)[..., None]
    frames = frames + rng.normal(0, 12, frames.shape)
    return np.clip(frames, 0, 255).astype(np.uint8)


def write_avi(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """Write (L, H, W, 3) uint8 frames as an MPEG-4 Part 2 .avi (UCF101's container and codec), atomically."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".avi", dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp, mode="w", format="avi") as out:
            st = out.add_stream("mpeg4", rate=fps)
            st.width, st.height, st.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
            st.bit_rate = 2_000_000
            for f in frames:
                for pkt in st.encode(av.VideoFrame.from_ndarray(f, format="rgb24")):
                    out.mux(pkt)
            for pkt in st.encode():
                out.mux(pkt)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_npy(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".npy", dir=path.parent)
    os.close(fd)
    try:
        np.save(tmp, arr)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate_ucf_layout(root: Path, num_classes: int, videos_per_class: int, size: int, T: int = 16, seed: int = 0,
                        write_videos: bool = True, cache: "FrameCache | None" = None, clips_per_group: int = 3) -> Path:
    """Write the generated set under ``root`` in UCF101's layout, split files included (split 1: the first
    ~7/25 of the groups of every class are test, as in UCF101). With ``write_videos`` every video is a real .avi;
    without (e.g. on a machine without PyAV) the frames go straight into ``cache`` and the .avi files are absent.
    Video lengths vary between 2T and 4T-1 frames."""
    root = Path(root)
    done = root / ".complete"
    if done.is_file():
        return root
    rng = np.random.default_rng(seed)
    classes = GENERATED_CLASSES[:num_classes]
    groups = max(2, -(-videos_per_class // clips_per_group))
    test_groups = max(1, round(groups * 7 / 25))
    train, test = [], []
    for ci, name in enumerate(progress(classes, desc="generating videos")):
        for v in range(videos_per_class):
            g, c = 1 + v // clips_per_group, 1 + v % clips_per_group
            rel = f"{name}/v_{name}_g{g:02d}_c{c:02d}.avi"
            frames = render_video(ci, int(rng.integers(2 * T, 4 * T)), size, rng)
            if write_videos:
                write_avi(root / "UCF-101" / rel, frames)
            else:
                (root / "UCF-101" / name).mkdir(parents=True, exist_ok=True)
                cache.put(rel, frames)
            (test if g <= test_groups else train).append((rel, ci + 1))
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {n}\r\n" for i, n in enumerate(classes)))
    (lists / "trainlist01.txt").write_text("".join(f"{r} {l}\r\n" for r, l in train))
    (lists / "testlist01.txt").write_text("".join(f"{r}\r\n" for r, _ in test))
    done.write_text("ok\n")
    return root


# -------------------------------------------------------------------------------------------- official layout
@dataclass(frozen=True)
class Split:
    classes: tuple[str, ...]
    train: tuple[tuple[str, int], ...]  # (relative path under UCF-101/, 0-based label)
    test: tuple[tuple[str, int], ...]


def read_split(root: Path | str, split: int = 1) -> Split:
    """Parse classInd.txt, trainlist0{split}.txt and testlist0{split}.txt of UCF101's ucfTrainTestlist folder.
    Labels are 0-based; the test list's labels come from the class folder (matched case-insensitively, since
    UCF101 spells e.g. HandStandPushups / HandstandPushups both ways)."""
    lists = Path(root) / "ucfTrainTestlist"
    classes = {}
    for line in (lists / "classInd.txt").read_text().splitlines():
        if line.strip():
            i, name = line.split()
            classes[int(i) - 1] = name
    names = tuple(classes[i] for i in range(len(classes)))
    by_name = {n.lower(): i for i, n in enumerate(names)}

    def parse(fname: str):
        out = []
        for line in (lists / fname).read_text().splitlines():
            if not line.strip():
                continue
            parts = line.split()
            rel = parts[0]
            label = by_name[rel.split("/")[0].lower()]
            if len(parts) > 1 and int(parts[1]) - 1 != label:
                raise ValueError(f"{fname}: {rel} is listed with class {parts[1]} but lies in {names[label]}")
            out.append((rel, label))
        return tuple(out)

    return Split(names, parse(f"trainlist{split:02d}.txt"), parse(f"testlist{split:02d}.txt"))


def train_val_split(entries, val_fraction: float = 0.2, seed: int = 0):
    """The paper's 80:20 split of the training list into train/validation, stratified by class."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    labels = sorted({l for _, l in entries})
    for l in labels:
        items = [e for e in entries if e[1] == l]
        idx = rng.permutation(len(items))
        n_val = max(1, int(round(val_fraction * len(items)))) if len(items) > 1 else 0
        val += [items[i] for i in idx[:n_val]]
        train += [items[i] for i in idx[n_val:]]
    return train, val


class BrokenVideo(ValueError):
    """A video file that decodes to fewer frames than its container declares (truncated or damaged)."""


#: decoded frames may fall short of the container's declared count by this many (an encoder's last frame)
FRAME_TOLERANCE = 1


def declared_frames(container, stream) -> int | None:
    """The number of frames a container says its video stream holds: the stream header's frame count (AVI's
    ``dwLength``), else the duration times the frame rate; None when it says neither."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    rate = stream.average_rate or stream.guessed_rate
    if container.duration and rate:
        return int(round(container.duration / 1e6 * float(rate)))
    return None


def decode_video(path: Path | str, short_side: int | None = None) -> np.ndarray:
    """All frames of a video file as (L, H, W, 3) uint8 via PyAV, resized so the short side is ``short_side``
    (if it is larger). A file that decodes to fewer frames than its container declares (cut short by a failed
    copy, say: PyAV then stops quietly) raises ``BrokenVideo`` naming the file, so that it is never cached."""
    import av

    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            declared = declared_frames(c, stream)
            w, h = stream.codec_context.width, stream.codec_context.height
            if short_side and min(w, h) > short_side:
                s = short_side / min(w, h)
                w, h = int(round(w * s / 2) * 2), int(round(h * s / 2) * 2)
            frames = [f.to_ndarray(format="rgb24", width=w, height=h) for f in c.decode(stream)]
    except av.error.FFmpegError as e:
        raise BrokenVideo(f"{path}: cannot be decoded ({e}); fetch this file again") from e
    if not frames:
        raise BrokenVideo(f"{path} holds no decodable video frames; fetch this file again")
    if declared is not None and len(frames) < declared - FRAME_TOLERANCE:
        raise BrokenVideo(f"{path}: decoded {len(frames)} of the {declared} frames its container declares "
                          f"(truncated or damaged); fetch this file again")
    return np.stack(frames)


class FrameCache:
    """Decoded frames, one .npy (L, H, W, 3) uint8 per video, so that every video is decoded only once."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def path(self, rel: str) -> Path:
        return self.folder / (rel.rsplit(".", 1)[0] + ".npy")

    def has(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def put(self, rel: str, frames: np.ndarray) -> None:
        _atomic_npy(self.path(rel), frames)

    def get(self, rel: str) -> np.ndarray:
        return np.load(self.path(rel), mmap_mode="r")

    def fill(self, video_root: Path, rels, short_side: int | None = None, on_broken: str = "error",
             workers: int = 0) -> dict:
        """Decode every video not yet cached, in ``workers`` processes (0 or 1: this one); return {'decoded': n,
        'seconds': s, 'broken': [files]}. A broken file (``BrokenVideo``) is never cached: with
        ``on_broken="error"`` it stops the run with its one line, with ``"skip"`` it is logged as a warning, left
        out and listed under 'broken' (the record counts it)."""
        import time
        import warnings

        todo = [r for r in rels if not self.has(r)]
        broken = []
        t0 = time.perf_counter()
        if workers > 1 and len(todo) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers) as ex:  # each worker decodes and writes its own .npy files
                errors = list(progress(ex.map(_decode_into, [(self.folder, video_root, r, short_side) for r in todo],
                                              chunksize=4), total=len(todo), desc="decoding into the frame cache"))
        else:
            errors = [_decode_into((self.folder, video_root, r, short_side))
                      for r in progress(todo, desc="decoding into the frame cache")]
        for rel, err in zip(todo, errors):
            if err is None:
                continue
            if on_broken != "skip":
                raise BrokenVideo(err)
            warnings.warn(f"skipped: {err}", stacklevel=2)
            broken.append(rel)
        return {"decoded": len(todo) - len(broken), "seconds": time.perf_counter() - t0, "broken": broken,
                "workers": max(1, workers)}


def fill_sharded(cache: FrameCache, root: Path, rels, short_side, on_broken: str, workers: int) -> dict:
    """``cache.fill`` split across the ranks of torch.distributed: rank r decodes every world-th video not yet
    cached (each in its own ``workers`` processes), then all wait at a barrier and see the full cache; the
    returned summary is the ranks' together (decoded counts and broken files summed, seconds the slowest rank's).
    One process: ``cache.fill`` itself."""
    rank, world = distributed.rank(), distributed.world_size()
    if world == 1:
        return cache.fill(root, rels, short_side, on_broken=on_broken, workers=workers)
    import torch.distributed as dist

    todo = [r for r in rels if not cache.has(r)]
    mine = cache.fill(root, todo[rank::world], short_side, on_broken=on_broken, workers=workers)
    parts = [None] * world
    dist.all_gather_object(parts, mine)
    return {"decoded": sum(d["decoded"] for d in parts), "seconds": max(d["seconds"] for d in parts),
            "broken": sorted(b for d in parts for b in d["broken"]), "workers": mine["workers"], "ranks": world}


def _decode_into(job) -> str | None:
    """Decode one video into the cache (run in a worker process); the BrokenVideo line, or None when cached."""
    folder, video_root, rel, short_side = job
    try:
        frames = decode_video(Path(video_root) / "UCF-101" / rel, short_side)
    except BrokenVideo as e:
        return str(e)
    FrameCache(folder).put(rel, frames)
    return None


def _unpack_split_zip(folder: Path) -> None:
    """``replicate data fetch ucf101`` leaves the official split zip in the folder; unpack it once."""
    import zipfile

    z = folder / "UCF101TrainTestSplits-RecognitionTask.zip"
    if z.is_file() and not (folder / "ucfTrainTestlist" / "classInd.txt").is_file():
        with zipfile.ZipFile(z) as f:
            f.extractall(folder)


def _key(d: dict) -> str:
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:10]


@dataclass
class VideoSet:
    """Everything a run needs: the split, the cache and the normalisation statistics."""

    root: Path
    split: Split
    train: list
    val: list
    test: list
    cache: FrameCache
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    decode: dict


def prepare(p) -> VideoSet:
    """Build (or re-use) the data of a run from its parameters: the generated set or a real UCF101 copy, the frame
    cache, the 80:20 split and the training frames' mean/std."""
    base = paths.data_dir() / CHAPTER
    if p.dataset_name == "generated":
        cfg = dict(n=p.num_classes, v=p.videos_per_class, s=p.video_size, T=p.T, seed=p.seed, avi=p.write_videos)
        root = Path(p.data_dir) if p.data_dir else base / f"generated-{_key(cfg)}"
        cache = FrameCache(base / f"frames-{_key({**cfg, 'root': str(root)})}")
        if p.data_dir is None and distributed.rank() == 0:  # one writer; the other ranks wait at the barrier
            generate_ucf_layout(root, p.num_classes, p.videos_per_class, p.video_size, T=p.T, seed=p.seed,
                                write_videos=p.write_videos, cache=cache)
        short = None
    else:
        _unpack_split_zip(Path(p.data_dir) if p.data_dir else paths.data_dir() / "ucf101")
        root = require("ucf101", p.data_dir)
        short = p.cache_short_side
        cache = FrameCache(base / f"frames-ucf101-{_key({'root': str(root), 'short': short})}")
    distributed.barrier()
    split = read_split(root, 1)
    decode = fill_sharded(cache, root, [r for r, _ in split.train + split.test], short, p.on_broken_video,
                          p.dataloader_num_workers)
    if decode["broken"]:  # left out of the run (on_broken_video="skip"): the record lists them
        bad = set(decode["broken"])
        split = Split(split.classes, tuple(e for e in split.train if e[0] not in bad),
                      tuple(e for e in split.test if e[0] not in bad))
    train, val = train_val_split(list(split.train), p.val_fraction, p.seed)
    mean, std = frame_stats(cache, [r for r, _ in train[:200]])
    return VideoSet(root, split, train, val, list(split.test), cache, mean, std, decode)


def frame_stats(cache: FrameCache, rels) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (0..1 scale) of training frames, for the zero-mean unit-variance normalisation."""
    s = np.zeros(3)
    s2 = np.zeros(3)
    n = 0
    for r in rels:
        f = np.asarray(cache.get(r)[::4], dtype=np.float64) / 255.0
        s += f.sum(axis=(0, 1, 2))
        s2 += (f ** 2).sum(axis=(0, 1, 2))
        n += f.shape[0] * f.shape[1] * f.shape[2]
    mean = s / n
    return tuple(mean.tolist()), tuple(np.sqrt(s2 / n - mean ** 2).tolist())


def _resize(clip: torch.Tensor, size: int) -> torch.Tensor:
    """(L, h, w, 3) uint8 -> (3, L, size, size) uint8, antialiased bilinear. The resize runs on uint8 pixels in
    channels-last layout (PyTorch's vectorised path, about 10x faster on a CPU core than resizing floats), so the
    loader's workers do the least work and ship a quarter of the bytes; ``normalise`` makes floats on the device."""
    x = clip.permute(0, 3, 1, 2)  # (L, 3, h, w), channels-last in memory
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x.permute(1, 0, 2, 3).contiguous()


def loop_pad(frames: np.ndarray, n: int) -> np.ndarray:
    """At least n frames: a video shorter than n is repeated (the Efficient-3DCNNs 'loop padding')."""
    if len(frames) >= n:
        return frames
    reps = -(-n // len(frames))
    return np.concatenate([frames] * reps)[:n]


CORNER_SCALES = (1.0, 0.875, 0.75)


class TrainClips(torch.utils.data.Dataset):
    """Random ``length``-frame clips (temporal crop, loop padding), one of four corner crops at a random scale of
    the short side, scaled to ``size`` x ``size`` (Section 3.2). Returns uint8 (3, length, size, size) and
    the label; as uint8 pixels: floats and normalisation are made on the device (``normalise``)."""

    def __init__(self, cache: FrameCache, entries, length: int, size: int, seed: int = 0):
        self.cache, self.entries, self.length, self.size = cache, list(entries), length, size
        self.seed = seed

    def __len__(self):
        return len(self.entries)

    def __getitem__(self, key):
        # key: an index (the crop drawn from torch's RNG) or (index, epoch seed) as the training loop's sampler
        # gives it: the crop then depends on the clip and the epoch only, not on the rank or loader worker that
        # loads it (so N processes see the crops of one process); the seed comes from the loop's generator, which
        # a resumed run restores
        if isinstance(key, (tuple, list)):
            i, seed = int(key[0]), int(key[1])
            rng = np.random.default_rng((seed, i))
        else:
            i = int(key)
            rng = np.random.default_rng(int(torch.randint(0, 2**62, ()).item()))
        rel, label = self.entries[i]
        frames = loop_pad(self.cache.get(rel), self.length)
        t0 = int(rng.integers(0, len(frames) - self.length + 1))
        h, w = frames.shape[1:3]
        c = int(min(h, w) * CORNER_SCALES[rng.integers(len(CORNER_SCALES))])
        corner = int(rng.integers(4))
        y = 0 if corner in (0, 1) else h - c
        x = 0 if corner in (0, 2) else w - c
        clip = torch.from_numpy(np.array(frames[t0:t0 + self.length, y:y + c, x:x + c]))
        return _resize(clip, self.size), label


def test_video(cache: FrameCache, rel: str, size: int, T: int = 16) -> torch.Tensor:
    """A whole test video: centre crop of the short side scaled to ``size``, cut to a multiple of T frames
    (non-overlapping subclips; loop padding if shorter than T). Returns (3, K*T, size, size) uint8."""
    frames = loop_pad(cache.get(rel), T)
    k = len(frames) // T
    h, w = frames.shape[1:3]
    c = min(h, w)
    y, x = (h - c) // 2, (w - c) // 2
    return _resize(torch.from_numpy(np.array(frames[: k * T, y:y + c, x:x + c])), size)


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    """Zero mean, unit variance per channel, for (N, 3, L, H, W); uint8 pixels are scaled to 0..1 first (mean and
    std are on that scale)."""
    if not x.is_floating_point():
        x = x.float().div_(255.0)
    m = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
    s = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
    return (x - m) / s
