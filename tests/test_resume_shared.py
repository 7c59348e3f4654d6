"""The shared resume path (replicate.train.resume) with the kill-and-resume check on a small torch loop, and the
RNG restore that failed on CUDA (states loaded onto a device)."""
import torch

from replicate import train
from tests.resume import kill_and_resume

SCRIPT = r"""
import json, os, time, torch
from replicate import train
ck = train.Checkpointer(os.environ["CHECKPOINT"], every=20)
train.seed_everything(0)
model = torch.nn.Linear(8, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.05)
state = train.resume(ck, model=model, optimizer=opt)
start = state["step"] if state else 0
losses = state["losses"] if state else []
for step in range(start, 200):
    x = torch.randn(16, 8)          # the data stream comes from the RNG: a wrong restore changes every number
    loss = ((model(x) - x.sum(1, keepdim=True)) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    losses.append(loss.item())
    if ck.save(train.snapshot(model=model, optimizer=opt, step=step + 1, losses=losses), step=step + 1):
        time.sleep(0.05)             # leave the killer a window after each save
print(json.dumps({"losses": losses, "weight": model.weight.detach().tolist()}))
"""


def test_kill_and_resume_gives_the_uninterrupted_numbers(tmp_path):
    straight, resumed = kill_and_resume(SCRIPT, tmp_path)
    assert len(resumed["losses"]) == 200
    assert resumed == straight


def test_rng_state_loaded_onto_a_device_is_restored(tmp_path):
    """The CUDA failure: torch.load(map_location=device) puts the ByteTensor RNG state on the device, and
    torch.set_rng_state refuses it. Emulated with a state of another dtype/device-independent tensor type."""
    train.seed_everything(1)
    state = train.rng_state()
    a = torch.rand(3)
    state["torch"] = state["torch"].to(torch.int64)  # not a ByteTensor, as a device copy is not either
    train.set_rng_state(state)
    assert torch.equal(torch.rand(3), a)


def test_resume_without_checkpoint_is_none(tmp_path):
    assert train.resume(train.Checkpointer(tmp_path / "none.pt"), model=torch.nn.Linear(2, 2)) is None
