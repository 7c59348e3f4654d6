"""Profiles of the 3D Causal ShuffleNet chapter (no torch import here: the CLI loads this module cheaply)."""
from __future__ import annotations

from dataclasses import dataclass

from replicate.config import Chapter, UsageError, param

BUFFER_MODES = ("paper", "code")
DATASETS = ("generated", "ucf101")
BASELINES = ("shufflenet_0.5x", "shufflenet_1.0x", "mobilenet_1.0x")
#: how the baseline's video-level prediction is made: "centre" (the Efficient-3DCNNs test protocol: the centre
#: 16 frames of the video) or "mean" (softmax averaged over all non-overlapping 16-frame clips)
BASELINE_EVAL = ("centre", "mean")
ON_BROKEN = ("error", "skip")
SRC = "Zhao & Zheng, Sec. 4.5"


@dataclass(frozen=True)
class Params:
    seed: int = param(0, "random seed of the initialisation, the crops and the shuffles (the generated set too)")
    device: str = param("auto", "auto (CUDA when present), cpu or cuda")
    precision: str = param("auto", "auto: bf16 autocast on a GPU, fp32 on the CPU; or fp32 / bf16")
    dataset_name: str = param("generated", "generated (moving-shape videos written in UCF101's layout) or ucf101 "
                                           "(the real set, `replicate data fetch ucf101`)", paper="ucf101",
                              source="Sec. 3")
    data_dir: str | None = param(None, "a local UCF101 copy (the folder holding UCF-101/ and ucfTrainTestlist/); "
                                       "None: the data cache")
    on_broken_video: str = param("error", "a video that decodes to fewer frames than its container declares: "
                                          "error (stop, naming the file) or skip (leave it out, warn, count it in "
                                          "the record); never cached either way")
    write_videos: bool = param(True, "generated set: write real .avi files (PyAV) and decode them; False: frames "
                                     "straight into the frame cache")
    num_classes: int = param(8, "generated set: classes (2..12); UCF101 has 101", paper=101, source="Sec. 3")
    videos_per_class: int = param(24, "generated set: videos per class")
    video_size: int = param(56, "generated set: frames are video_size x video_size pixels")
    cache_short_side: int = param(128, "real videos: short side the frame cache resizes to")
    size: int = param(48, "crop size fed to the network", paper=112, source="Sec. 3.2")
    T: int = param(16, "frames per subclip", paper=16, source="Sec. 4.2")
    train_subclips: int = param(2, "subclips per training clip of the causal model (the buffer is carried "
                                   "between them, as the authors' code trains 32-frame clips)", paper=2,
                                source="authors' code")
    buffer_mode: str = param("paper", "paper: the buffer sits after the first conv (Sec. 4.2); code: the authors' "
                                      "repository (temporal mean of the input, 24-wide first conv)")
    b: int = param(1, "buffer frames per path", paper=1, source="Sec. 4.2")
    width_mult: float = param(1.0, "causal model width multiplier (1.0: widths 120/240/480 per path)",
                              paper=1.0, source="Sec. 4.3")
    blocks: tuple[int, ...] = param((4, 8, 4), "shuffle units per stage (both models)", paper=(4, 8, 4),
                                    source="Sec. 4.3")
    baseline: str = param("shufflenet_0.5x", "the baseline trained beside the causal model (Table 2)")
    baseline_eval: str = param("centre", "baseline's video-level score: centre (the centre 16 frames, the "
                                         "Efficient-3DCNNs test protocol) or mean (softmax mean over all subclips); "
                                         "the record holds both, this picks the headline", paper="centre",
                               source="Efficient-3DCNNs test protocol")
    num_train_epochs: int = param(3, "training epochs", paper=100, source=SRC)
    per_device_train_batch_size: int = param(16, "training clips per step and process (under --nproc N the global batch is N times it)", paper=16, source=SRC)
    per_device_eval_batch_size: int = param(16, "videos per evaluation batch (grouped by length)")
    learning_rate: float = param(0.1, "SGD learning rate", paper=0.1, source=SRC)
    momentum: float = param(0.9, "SGD momentum", paper=0.9, source=SRC)
    weight_decay: float = param(1e-3, "SGD weight decay", paper=1e-3, source="authors' code")
    plateau_patience: int = param(10, "epochs without a lower validation loss before the learning rate is divided "
                                      "by 10 (ReduceLROnPlateau)", paper=10, source=SRC)
    dataloader_num_workers: int = param(0, "DataLoader worker processes (decoding/cropping off the main process)")
    val_fraction: float = param(0.2, "share of the training list held out for validation", paper=0.2,
                                source="Sec. 3.2")
    validate_every: int = param(1, "validate (and step the plateau schedule) every n epochs; the last always")
    channels_last: bool = param(True, "training on CUDA: channels_last_3d memory format (faster cuDNN kernels)")
    cudnn_benchmark: bool = param(True, "CUDA: torch.backends.cudnn.benchmark (picks the fastest conv kernels)")
    torch_compile: bool = param(False, "training: torch.compile the model (slower start, faster steps)")
    cpu_threads: int = param(1, "torch threads on CPU (1 is fastest on a small shared machine)")
    stream_lengths: tuple[int, ...] = param((1, 4, 16, 64), "streaming table: video lengths in subclips")

    def validate(self):
        # dataset_name, buffer_mode, baseline, baseline_eval, on_broken_video, device and precision are checked
        # against CHAPTER.choices by config.resolve
        if self.dataset_name == "generated" and not 2 <= self.num_classes <= 12:
            raise UsageError(f"num_classes must be between 2 and 12 for the generated set, got {self.num_classes}")
        if self.size < 40:
            raise UsageError(f"size must be at least 40 (the baselines' last stage needs 3x3 inputs), got {self.size}")
        if self.buffer_mode == "code" and self.b != 1:
            raise UsageError("buffer_mode 'code' carries exactly one frame; use b=1")
        if not 0.0 < self.val_fraction < 1.0:
            raise UsageError(f"val_fraction must lie strictly between 0 and 1, got {self.val_fraction}")
        if len(self.blocks) != 3 or min(self.blocks) < 1:
            raise UsageError(f"blocks must be three positive counts (the paper's is 4,8,4), got {self.blocks}")
        if (self.num_train_epochs < 1 or self.per_device_train_batch_size < 1 or self.per_device_eval_batch_size < 1
                or self.T < 4 or self.train_subclips < 1):
            raise UsageError("num_train_epochs, the batch sizes and train_subclips must be >= 1 and T >= 4")
        if self.validate_every < 1 or self.cpu_threads < 1:
            raise UsageError("validate_every and cpu_threads must be >= 1")
        if not self.stream_lengths or min(self.stream_lengths) < 1:
            raise UsageError(f"stream_lengths must be positive subclip counts, got {self.stream_lengths}")


PROFILES = {
    "smoke": Params(num_classes=6, videos_per_class=9, video_size=48, size=40, blocks=(1, 1, 1), num_train_epochs=2,
                    per_device_train_batch_size=8, per_device_eval_batch_size=8, learning_rate=0.02,
                    stream_lengths=(1, 4, 16)),
    "gpu": Params(write_videos=False, num_classes=10, videos_per_class=90, video_size=72, size=64,
                  num_train_epochs=12, per_device_train_batch_size=32, per_device_eval_batch_size=32,
                  learning_rate=0.02, dataloader_num_workers=4),
    "paper": Params(dataset_name="ucf101", num_classes=101, size=112, num_train_epochs=100,
                    per_device_train_batch_size=16, learning_rate=0.1, dataloader_num_workers=8, write_videos=False),
}


def preflight(params) -> list[str]:
    """The real UCF101 (with its split files) when the profile reads it; the generated set needs nothing."""
    if params.dataset_name != "ucf101":
        return []
    from replicate.data import missing

    line = missing("ucf101", params.data_dir)
    return [line] if line else []


CHAPTER = Chapter(
    name="causal_shufflenet",
    title="3D Causal ShuffleNet in dual paths (UCF101)",
    notebooks=("01_model_and_table2", "02_train_and_confusion", "03_streaming"),
    params=Params,
    profiles=PROFILES,
    description="A dual-path causal shuffle network with a stream buffer; Table 2, confusion matrix, streaming.",
    choices={"buffer_mode": BUFFER_MODES, "dataset_name": DATASETS, "baseline": BASELINES,
             "baseline_eval": BASELINE_EVAL, "on_broken_video": ON_BROKEN,
             "device": ("auto", "cpu", "cuda"), "precision": ("auto", "fp32", "bf16")},
    preflight=preflight,
)
