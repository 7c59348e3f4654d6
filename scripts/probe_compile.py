"""Does torch.compile lift the T5 fine-tuning step out of its launch bound? (run on the device machine; prints only)

    python scripts/probe_compile.py [mode ...]      # eager compile reduce-overhead (the default: all three)

The bench's data (XSum-like lengths, t5-small shapes, batch 16, length buckets, sources padded to a multiple of
64) through the chapter's ``train_step`` (bf16 autocast, fused AdamW, clipping), once per mode: eager;
``torch.compile(dynamic=True)``; the same with CUDA graphs (``mode="reduce-overhead"``). Per mode: the seconds the
first pass over the shapes took (compilation, graph capture) and then ms per step over the same batches again.
The output of the run that chose the bench's compiled route is results/t5_xsum/bench/probe_compile-h100.log.
"""
import sys
import time

import torch

from replicate.papers.t5_xsum import data as D
from replicate.papers.t5_xsum.bench import T5_SMALL, _model, xsum_like
from replicate.papers.t5_xsum.train import linear_schedule, optimizer_for, to_device, train_step

dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
quick = dev.type == "cpu"
modes = sys.argv[1:] or ["eager", "compile", "reduce-overhead"]
shape = dict(T5_SMALL, vocab_size=512, d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4) if quick else T5_SMALL
examples = xsum_like(256 if quick else 4096, shape["vocab_size"], 96 if quick else 1024, 16 if quick else 128)
plan = D.batches(examples, 4 if quick else 16, 0, bucket=True)
warm_steps, timed_steps = (6, 6) if quick else (96, 48)
batches = [to_device(D.collate(examples, ids, multiple=8 if quick else 64), dev) for ids in plan[:warm_steps]]
shapes = {(tuple(b["input_ids"].shape), tuple(b["labels"].shape)) for b in batches}
print(f"{torch.__version__} on {torch.cuda.get_device_name() if dev.type == 'cuda' else 'cpu'}; "
      f"{len(batches)} batches, {len(shapes)} distinct shapes", flush=True)
precision = "bf16" if dev.type == "cuda" else "fp32"


def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()


for mode in modes:
    torch.manual_seed(0)
    model = _model(shape, dev)
    opt = optimizer_for(model, 5e-4, 0.01, dev)
    sch = linear_schedule(opt, 10**6)
    step_model = model if mode == "eager" else torch.compile(
        model, dynamic=True, mode="reduce-overhead" if mode == "reduce-overhead" else None)
    try:
        def one(b):
            if mode == "reduce-overhead":
                torch.compiler.cudagraph_mark_step_begin()
                # a graph's outputs are overwritten by its next replay: keep a copy of the loss
                return train_step(step_model, b, opt, sch, dev, precision, 1.0).clone()
            return train_step(step_model, b, opt, sch, dev, precision, 1.0)

        t0 = time.perf_counter()
        losses = [one(b) for b in batches]
        sync()
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        for b in batches[:timed_steps]:
            losses.append(one(b))
        sync()
        ms = (time.perf_counter() - t0) / timed_steps * 1000
        loss = [float(x) for x in losses]
        print(f"{mode:16s} first pass {first:6.1f} s; {ms:6.1f} ms/step ({len(plan[0]) * 1000 / ms:.0f} samples/s); "
              f"loss {loss[0]:.3f} -> {loss[warm_steps - 1]:.3f}; peak {torch.cuda.max_memory_allocated() / 2**30 if dev.type == 'cuda' else 0:.1f} GiB",
              flush=True)
    except Exception as e:  # a mode that fails must not hide the others
        print(f"{mode:16s} failed: {type(e).__name__}: {str(e)[:300]}", flush=True)
    del model, opt, step_model
    torch._dynamo.reset()
    if dev.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
