"""Where does a training step spend its time on the GPU? (run on the device machine; prints, stores nothing)

    python scripts/profile_steps.py

T5-small (bf16 autocast, batch 16): one repeated source length against a new length at every step, each SDPA
backend alone, eager attention, and a torch.profiler table; GUDN's bench step (BERT-base, batch 8 x 512) and its
profile. The output of the run that motivated the T5 padding and the GUDN one-pass forward is
results/t5_xsum/bench/profile_steps-h100.log.
"""
import time

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

dev = torch.device("cuda")
print("sdp flags: flash", torch.backends.cuda.flash_sdp_enabled(), "mem", torch.backends.cuda.mem_efficient_sdp_enabled(),
      "cudnn", torch.backends.cuda.cudnn_sdp_enabled(), "math", torch.backends.cuda.math_sdp_enabled(), flush=True)


def timeit(fn, n=6, warm=2):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / n * 1000


def top(fn, label, k=14):
    from torch.profiler import ProfilerActivity, profile

    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as p:
        fn()
        torch.cuda.synchronize()
    print(f"--- profile {label}")
    print(p.key_averages().table(sort_by="self_cuda_time_total", row_limit=k, max_name_column_width=60), flush=True)
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=8, max_name_column_width=60), flush=True)


def t5():
    from replicate.papers.t5_xsum.bench import T5_SMALL, _model
    from replicate.papers.t5_xsum.train import linear_schedule, optimizer_for, train_step

    for impl in ("sdpa", "eager"):
        m = _model(T5_SMALL, dev)
        m.config._attn_implementation = impl
        opt = optimizer_for(m, 5e-4, 0.01, dev)
        sch = linear_schedule(opt, 10**6)
        g = torch.Generator().manual_seed(0)

        def batch(L, T=32):
            ids = torch.randint(3, 32000, (16, L), generator=g)
            ids[:, -1] = 1
            lab = torch.randint(3, 32000, (16, T), generator=g)
            return {"input_ids": ids.to(dev), "attention_mask": torch.ones(16, L, dtype=torch.long, device=dev),
                    "labels": lab.to(dev)}

        fixed = batch(512)
        lens = iter(list(range(400, 1024, 8)) * 10)

        def step_fixed():
            train_step(m, fixed, opt, sch, dev, "bf16", 1.0)

        def step_var():
            train_step(m, batch(next(lens)), opt, sch, dev, "bf16", 1.0)

        print(f"T5 {impl}: fixed 16x512 bf16 {timeit(step_fixed):.1f} ms/step; varying lengths "
              f"{timeit(step_var):.1f} ms/step", flush=True)
        if impl == "sdpa":
            for name, be in (("efficient", [SDPBackend.EFFICIENT_ATTENTION]), ("cudnn", [SDPBackend.CUDNN_ATTENTION]),
                             ("math", [SDPBackend.MATH])):
                try:
                    with sdpa_kernel(be):
                        print(f"T5 sdpa only {name}: fixed {timeit(step_fixed):.1f} ms; varying "
                              f"{timeit(step_var):.1f} ms", flush=True)
                except Exception as e:  # a backend that cannot take T5's float bias mask
                    print(f"T5 sdpa only {name}: {type(e).__name__}: {str(e)[:200]}", flush=True)
            top(step_var, "T5 sdpa varying")
            print(f"T5 sdpa fp32 fixed: {timeit(lambda: train_step(m, fixed, opt, sch, dev, 'fp32', 1.0)):.1f} "
                  "ms/step", flush=True)
        del m, opt


def gudn():
    from replicate.papers.gudn import bench as GB

    b = GB.routes(quick=False)
    print("GUDN ours", timeit(b.routes["ours"], n=10, warm=3), "ms; reference", timeit(b.routes["reference"], n=5),
          "ms", flush=True)
    top(b.routes["ours"], "GUDN ours")


if __name__ == "__main__":
    t5()
    gudn()
