"""The Neural Mechanics kill-and-resume record (issue 12): train one short run of a profile straight, train it
again and SIGKILL it right after its first checkpoint, resume it, train a second straight run as a control of the
device's own determinism, and store a record comparing their final numbers under
results/neural_mechanics/<profile>/resume_check-*.json.

    python scripts/resume_check.py                                  # gpu profile (Fashion-MNIST, a GPU)
    python scripts/resume_check.py --profile smoke -p device=cpu    # the same on a CPU (digits)

Checkpoints go to the data cache (REPLICATE_DATA), never under results/.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.resume: the kill-and-resume helper every chapter's test uses
sys.path.insert(0, str(ROOT / "src"))

#: Short runs per profile: long enough that the SIGKILL lands mid-way (after the first checkpoint, well before
#: the end), short enough for a minute of device time.
DEFAULTS = {
    "gpu": {"max_steps": 600, "checkpoint_every": 200, "record_every": 25},
    "smoke": {"max_steps": 300, "checkpoint_every": 60, "record_every": 10},
}


def main(argv: list[str] | None = None) -> int:
    from replicate import chapters, paths
    from replicate.papers.neural_mechanics import experiment, report
    from tests.resume import kill_and_resume

    ap = argparse.ArgumentParser(description="kill-and-resume record of the Neural Mechanics chapter")
    ap.add_argument("--profile", default="gpu")
    ap.add_argument("-p", action="append", default=[], metavar="KEY=VALUE", help="parameter overrides")
    a = ap.parse_args(argv)
    overrides = {**DEFAULTS.get(a.profile, DEFAULTS["gpu"]), **dict(kv.split("=", 1) for kv in a.p)}
    params = chapters.get("neural_mechanics").resolve(a.profile, overrides)
    missing = chapters.get("neural_mechanics").missing(params)
    if missing:
        print("; ".join(missing), file=sys.stderr)
        return 2
    work = paths.checkpoint_path("neural_mechanics", a.profile, "resume_check").parent / "resume_check"
    rec = experiment.run_resume_check(params, a.profile, kill_and_resume, work, overrides)
    print(report.resume_table(rec).to_string(index=False))
    print(json.dumps(rec["metrics"], indent=1))
    ok = rec["metrics"]["resumed_vs_straight"]["lengths_match"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
