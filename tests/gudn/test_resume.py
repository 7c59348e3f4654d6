"""Kill a GUDN training run mid-way (SIGKILL after its first epoch's checkpoint), resume it, and get the numbers of
an uninterrupted run: the one resume path (replicate.train.resume) through fit().

On a GPU: ``GUDN_TEST_DEVICE=cuda pytest tests/gudn/test_resume.py`` (deterministic kernels, fp32, eager attention,
so that two uninterrupted runs agree to the bit; the CUDA RNG state is restored from the CPU checkpoint)."""
import os

from tests.resume import kill_and_resume

SCRIPT = r"""
import json, os, time
from dataclasses import replace
import torch
DEVICE = os.environ.get("GUDN_TEST_DEVICE", "cpu")
if DEVICE == "cuda":
    torch.use_deterministic_algorithms(True)
from replicate import chapters
from replicate.papers.gudn import experiment, train
from replicate.train import Checkpointer

p = replace(chapters.get("gudn").resolve("smoke"), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=64, feature_layers=2, max_seq_length=24, max_label_length=8, n_train=48, n_test=16,
            n_labels=20, n_topics=4, doc_words=20, vocab_size=300, num_train_epochs=3,
            per_device_train_batch_size=8, device=DEVICE, precision="fp32", fused=DEVICE == "cpu")
data, tok = experiment.prepare(p)
ck = Checkpointer(os.environ["CHECKPOINT"])
_save = ck.save
def save(state, *a, **kw):  # leave the killer a window after each epoch's checkpoint
    out = _save(state, *a, **kw)
    time.sleep(0.3)
    return out
ck.save = save
r = train.fit(p, data, tok, "gudn", ck, log=lambda *a: None)
curves = {k: v for k, v in r["curves"].items() if k != "seconds"}
print(json.dumps({"metrics": r["metrics"], "curves": curves}))
"""


def test_sigkill_mid_way_then_resume_gives_the_uninterrupted_numbers(tmp_path):
    env = {"REPLICATE_DATA": str(tmp_path / "data"), "CUBLAS_WORKSPACE_CONFIG": ":4096:8",
           "GUDN_TEST_DEVICE": os.environ.get("GUDN_TEST_DEVICE", "cpu")}
    straight, resumed = kill_and_resume(SCRIPT, tmp_path, env=env)
    assert resumed["curves"]["epoch"] == [1, 2, 3]
    assert resumed == straight
