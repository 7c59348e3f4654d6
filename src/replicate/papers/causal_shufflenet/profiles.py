"""Profiles of the 3D Causal ShuffleNet chapter (no torch import here)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError

BUFFER_MODES = ("paper", "code")
DATASETS = ("generated", "ucf101")


@dataclass(frozen=True)
class Params:
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    dataset: str = "generated"  # generated: moving-shape videos in the UCF101 layout; ucf101: the real set
    data_dir: str | None = None  # a local UCF101 copy (folder holding UCF-101/ and ucfTrainTestlist/)
    write_videos: bool = True  # generated set: write real .avi files (PyAV) and decode them; False: frames only
    num_classes: int = 8  # generated set: classes (<= 12); ucf101: 101
    videos_per_class: int = 24
    video_size: int = 56  # generated frames are video_size x video_size
    cache_short_side: int = 128  # real videos are resized to this short side in the frame cache
    size: int = 48  # crop size fed to the network (112 in the paper)
    T: int = 16  # frames per subclip
    train_subclips: int = 2  # subclips per training clip (the buffer is carried, as in the authors' code)
    buffer_mode: str = "paper"
    b: int = 1
    width_mult: float = 1.0  # causal model: 1.0 = the paper's widths [120, 240, 480] per path
    blocks: tuple[int, ...] = (4, 8, 4)  # shuffle units per stage (both models); smoke shrinks it for the CPU
    baseline: str = "shufflenet_0.5x"
    epochs: int = 3
    batch_size: int = 16
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-3
    plateau_patience: int = 10
    num_workers: int = 0
    val_fraction: float = 0.2
    validate_every: int = 1  # validation (and the plateau schedule's step) every n epochs; the last epoch always
    cpu_threads: int = 1  # torch threads on CPU (1 is fastest on a small shared machine)
    stream_lengths: tuple[int, ...] = (1, 4, 16, 64)  # subclips per video in the streaming-memory table

    def validate(self):
        # buffer_mode, dataset, baseline, device and precision are checked against CHAPTER.choices by config.resolve
        if self.dataset == "generated" and not 2 <= self.num_classes <= 12:
            raise UsageError(f"num_classes must be between 2 and 12 for the generated set, got {self.num_classes}")
        if self.size < 40:
            raise UsageError(f"size must be at least 40 (the baselines' last stage needs 3x3 inputs), got {self.size}")
        if self.buffer_mode == "code" and self.b != 1:
            raise UsageError("buffer_mode 'code' carries exactly one frame; use b=1")
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError(f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction}")
        if len(self.blocks) != 3 or min(self.blocks) < 1:
            raise UsageError(f"blocks must be three positive counts (the paper's is 4,8,4), got {self.blocks}")
        if self.epochs < 1 or self.batch_size < 1 or self.T < 4 or self.train_subclips < 1:
            raise UsageError("epochs, batch_size and train_subclips must be >= 1 and T >= 4")
        if self.validate_every < 1 or self.cpu_threads < 1:
            raise UsageError("validate_every and cpu_threads must be >= 1")
        if not self.stream_lengths or min(self.stream_lengths) < 1:
            raise UsageError(f"stream_lengths must be positive subclip counts, got {self.stream_lengths}")


PROFILES = {
    "smoke": Params(num_classes=6, videos_per_class=9, video_size=48, size=40, blocks=(1, 1, 1), epochs=2,
                    batch_size=8, lr=0.02, stream_lengths=(1, 4, 16)),
    "gpu": Params(write_videos=False, num_classes=10, videos_per_class=90, video_size=72, size=64, epochs=12,
                  batch_size=32, lr=0.02, num_workers=4),
    "paper": Params(dataset="ucf101", num_classes=101, size=112, epochs=100, batch_size=16, lr=0.1,
                    num_workers=8, write_videos=False),
}

CHAPTER = Chapter(
    name="causal_shufflenet",
    title="3D Causal ShuffleNet in dual paths (UCF101)",
    notebooks=("01_model_and_table2", "02_train_and_confusion", "03_streaming"),
    params=Params,
    profiles=PROFILES,
    description="A dual-path causal shuffle network with a stream buffer; Table 2, confusion matrix, streaming.",
    choices={"buffer_mode": BUFFER_MODES, "dataset": DATASETS,
             "baseline": ("shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x"),
             "device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16")},
)
