"""The kill-and-resume check every chapter that trains uses: run a training script to the end, run it again and
SIGKILL it once its checkpoint exists (mid-way), run it a third time so it resumes, and hand back the final
numbers of the uninterrupted and of the resumed run for the test to compare.

``code`` is a Python script run with ``python -c``; it must read its checkpoint path from the environment
variable CHECKPOINT, save checkpoints there while it trains (through ``replicate.train``), resume from it when it
exists, and print its final numbers as JSON on the LAST line of stdout.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def _run(code: str, env: dict, timeout: float) -> dict:
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"the training script failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def kill_and_resume(code: str, workdir: Path, env: dict | None = None, timeout: float = 600,
                    poll: float = 0.01) -> tuple[dict, dict]:
    """(final numbers uninterrupted, final numbers after a SIGKILL mid-way and a resume)."""
    base = {**os.environ, "OMP_NUM_THREADS": "1", "REPLICATE_THREADS": "1", "REPLICATE_PROGRESS": "0",
            **(env or {})}
    workdir.mkdir(parents=True, exist_ok=True)
    straight = _run(code, {**base, "CHECKPOINT": str(workdir / "straight.pt")}, timeout)

    ck = workdir / "killed.pt"
    ck.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", code], env={**base, "CHECKPOINT": str(ck)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while not ck.exists():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("the run ended before it wrote a checkpoint, so it could not be killed mid-way "
                                 f"(exit {proc.returncode}); make the run longer or checkpoint earlier.\n{err[-2000:]}")
        if time.monotonic() - t0 > timeout:
            proc.kill()
            raise AssertionError("no checkpoint appeared in time")
        time.sleep(poll)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if proc.returncode != -signal.SIGKILL:
        raise AssertionError(f"the run finished (exit {proc.returncode}) before SIGKILL reached it: not a resume test")
    resumed = _run(code, {**base, "CHECKPOINT": str(ck)}, timeout)
    return straight, resumed
