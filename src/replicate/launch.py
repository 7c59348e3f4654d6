"""The torchrun worker of ``replicate.distributed.launch``: ``python -m replicate.launch SPEC.json``.

Reads the spec (target "module:function", chapter, profile, the full parameters, extra keyword arguments),
resolves the parameters again through the chapter (types and checks as on the command line), and calls the
target on this rank; rank 0 stores the record.
"""
from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(open(argv[0]).read())
    from . import chapters, distributed

    params = chapters.get(spec["chapter"]).resolve(spec["profile"], spec["params"])
    mod, _, fn = spec["target"].partition(":")
    target = importlib.import_module(mod)
    for part in fn.split("."):
        target = getattr(target, part)
    try:
        target(params, spec["profile"], **spec["extra"])
    finally:
        distributed.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
