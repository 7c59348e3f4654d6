"""``replicate bench t5_xsum``: fine-tuning throughput of Hugging Face's ``Seq2SeqTrainer`` (the reference) against
this chapter's loop, same model size (t5-small's shapes, random init), same generated data at XSum-like lengths,
batch 16, timed interleaved in one run; plus test-set generation throughput (``Seq2SeqTrainer.predict`` with
``predict_with_generate`` against length-sorted bf16 batches).

One call of a route = ``steps`` optimisation steps. The Trainer routes run ONE ``trainer.train()`` (its real loop:
random batches padded to the longest, its optimizer and autocast) that the bench pauses every ``steps`` steps, so
they are timed in steady state (``_Steps``). Ours walks length-bucketed batches padded in loader workers, with bf16
autocast, fused AdamW and SDPA attention (``train.train_step``), eager and through ``torch.compile`` with CUDA graphs
(``mode="reduce-overhead"``). The check counts the model FLOPs of a training sample, so the summary gives each
route's share of the GPU's dense bf16 peak.

The H100 record of 2026-11-23 (commit d24e68a7) timed the Trainer with a fresh ``train()`` per call, which charged
it about a second of set-up per 20 steps (78 samples/s against the ~105 it logs itself); that record is kept, and
the later one, timed in steady state, is the one to quote."""
from __future__ import annotations

import math
import tempfile
import time

import numpy as np

from replicate.bench import Bench
from replicate.train import pick_device, seed_everything

from . import data as D
from .profiles import GPU, SMOKE
from .train import compiled_step_model, generate_ids, generation_kwargs, linear_schedule, optimizer_for, to_device, train_step

T5_SMALL = dict(vocab_size=32128, d_model=512, d_ff=2048, d_kv=64, num_layers=6, num_heads=8)
TINY = dict(vocab_size=512, d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4)


def xsum_like(n: int, vocab: int, max_source: int, max_target: int, seed: int = 0) -> list[dict]:
    """Token-id examples with XSum-like lengths: sources log-normal around ~480 tokens (truncated at
    ``max_source``), targets around ~28 tokens; Zipf-distributed ids so the loss has something to learn."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(3, vocab)
    p = 1.0 / (ranks - 2.0)
    p /= p.sum()
    out = []
    for _ in range(n):
        ls = int(min(max_source, max(16, rng.lognormal(math.log(480 * max_source / 1024), 0.55))))
        lt = int(min(max_target, max(4, rng.normal(28 * max_target / 128, 8 * max_target / 128))))
        src = rng.choice(ranks, size=ls - 1, p=p).tolist() + [1]
        tgt = src[: lt - 1] if rng.random() < 0.5 else rng.choice(ranks, size=lt - 1, p=p).tolist()
        out.append({"input_ids": src, "labels": list(tgt) + [1]})
    return out


def _model(shape: dict, device):
    from transformers import T5Config, T5ForConditionalGeneration

    cfg = T5Config(vocab_size=shape["vocab_size"], d_model=shape["d_model"], d_ff=shape["d_ff"], d_kv=shape["d_kv"],
                   num_layers=shape["num_layers"], num_decoder_layers=shape["num_layers"],
                   num_heads=shape["num_heads"], decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
    try:
        cfg._attn_implementation = "sdpa"
        m = T5ForConditionalGeneration(cfg)
    except (ValueError, ImportError):
        cfg._attn_implementation = "eager"
        m = T5ForConditionalGeneration(cfg)
    return m.to(device)


def _trainer(model, dataset, steps: int, batch: int, lr: float, bf16: bool, device, logging_steps: int = 0):
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    args = Seq2SeqTrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="t5-bench-"), per_device_train_batch_size=batch,
        per_device_eval_batch_size=batch, learning_rate=lr, weight_decay=0.01, max_steps=steps, bf16=bf16,
        report_to="none", save_strategy="no", disable_tqdm=True, dataloader_num_workers=0,
        logging_strategy="steps" if logging_steps else "no", logging_steps=logging_steps or 500,
        use_cpu=device.type == "cpu", predict_with_generate=True, seed=0)
    # padded as DataCollatorForSeq2Seq pads T5: to the longest member, labels with -100
    return Seq2SeqTrainer(model=model, args=args, train_dataset=dataset, data_collator=D.Collator(0, multiple=1))


class _Steps:
    """The Trainer's own loop, timed in steady state: ``trainer.train()`` runs once, for as many steps as the bench
    asks, in a thread that a callback pauses after every ``steps`` optimisation steps. A call resumes it for
    ``steps`` more. So the Trainer's per-``train()`` set-up (optimizer, data loader, accelerator; about a second a
    call on the H100 host) is paid once, in the warm-up, as in a real epoch, and not in every timed call."""

    def __init__(self, trainer, steps: int):
        import threading

        from transformers import TrainerCallback

        self.steps, self.done, self.go = steps, threading.Semaphore(0), threading.Semaphore(0)
        outer = self

        class Pause(TrainerCallback):
            def on_step_end(self, args, state, control, **kw):
                if state.global_step % outer.steps == 0:
                    outer.done.release()
                    outer.go.acquire()

        trainer.add_callback(Pause())
        self.thread = threading.Thread(target=trainer.train, daemon=True)

    def __call__(self):
        if self.thread.ident is None:
            self.thread.start()
        else:
            self.go.release()
        while not self.done.acquire(timeout=1.0):
            if not self.thread.is_alive():
                raise RuntimeError("the Trainer's loop stopped before the bench's steps were done")


class _Ours:
    """This chapter's loop, ``steps`` steps per call over length-bucketed batches padded by ``D.loader`` (worker
    processes on a GPU, as ``finetune`` does); with ``compile``, through ``torch.compile(dynamic=True)`` (the chapter's
    ``torch_compile`` parameter), with ``mode="reduce-overhead"`` through CUDA graphs too (``torch_compile_mode``).
    The first call's seconds are kept: with ``compile`` they include the compilation, and with CUDA graphs the
    capture of one graph per batch shape, which the first call does for every shape of the data (``prime``) so
    that no capture falls in a timed call. Labels are padded to a multiple of ``label_multiple`` (32 for the graphs:
    fewer shapes, so fewer graphs; the padding is ignored by the loss)."""

    def __init__(self, model, examples, steps: int, batch: int, lr: float, device, precision: str, total: int,
                 compile: bool = False, mode: str = "default", label_multiple: int | None = None):
        self.model, self.examples, self.steps, self.batch = model, examples, steps, batch
        self.device, self.precision, self.lr, self.total = device, precision, lr, total
        self.step_model = compiled_step_model(model, mode) if compile else model
        self.mode, self.label_multiple = mode if compile else "eager", label_multiple
        self.first_call_s = None
        # as the chapter's profiles pad
        self.pad_multiple = (GPU if device.type == "cuda" else SMOKE).pad_to_multiple_of
        self.reset()

    def prime(self):
        """One step on a batch of every distinct padded shape of an epoch (CUDA graphs: one capture each)."""
        seen = {}
        for ids in D.batches(self.examples, self.batch, 0, bucket=True):
            b = D.collate(self.examples, ids, 0, self.pad_multiple, self.label_multiple)
            seen.setdefault((b["input_ids"].shape[1], b["labels"].shape[1]), b)
        for b in seen.values():
            self.losses.append(train_step(self.step_model, to_device(b, self.device), self.opt, self.sched,
                                          self.device, self.precision, 1.0))
        self.shapes = len(seen)

    def _plan(self):
        epoch = 0
        while True:  # epoch after epoch, each in a new bucketed order
            yield from D.batches(self.examples, self.batch, epoch, bucket=True)
            epoch += 1

    def reset(self, state: dict | None = None, total: int | None = None):
        """Fresh optimizer, schedule and data order (and weights, when given); a compiled route stays compiled."""
        if state is not None:
            self.model.load_state_dict(state)
        self.total = total or self.total
        self.opt = optimizer_for(self.model, self.lr, 0.01, self.device)
        self.sched = linear_schedule(self.opt, self.total)
        self.losses = []
        self.batches = iter(D.loader(self.examples, self._plan(), 0, self.pad_multiple,
                                     workers=2 if self.device.type == "cuda" else 0,
                                     label_multiple=self.label_multiple))

    def __call__(self):
        t0 = time.perf_counter()
        if self.first_call_s is None and self.mode == "reduce-overhead":
            self.prime()
        for _ in range(self.steps):
            b = to_device(next(self.batches), self.device)
            self.losses.append(train_step(self.step_model, b, self.opt, self.sched, self.device, self.precision, 1.0))
        if self.first_call_s is None:
            float(self.losses[-1])  # wait for the GPU
            self.first_call_s = time.perf_counter() - t0
        return self.losses[-1]


#: NVIDIA H200 (and H100 SXM) dense bf16 tensor-core peak, FLOP/s
PEAK_FLOPS = 989e12


def flops_per_sample(model, examples, batch: int, pad_multiple: int, device, precision: str, n_batches: int) -> float:
    """Model FLOPs of one training sample (forward + backward), counted by ``torch.utils.flop_counter`` over the
    first ``n_batches`` length-bucketed batches as our routes pad them (the Trainer's random batches compute more
    padding, so this is the useful work of a sample; the optimizer's few FLOPs are left out)."""
    from torch.utils.flop_counter import FlopCounterMode

    from replicate.train import autocast

    total = samples = 0
    for ids in D.batches(examples, batch, 0, bucket=True)[:n_batches]:
        b = to_device(D.collate(examples, ids, 0, pad_multiple), device)
        with FlopCounterMode(display=False) as fc:
            with autocast(device, precision):
                loss = model(**b).loss
            loss.backward()
        model.zero_grad(set_to_none=True)
        total += fc.get_total_flops()
        samples += len(ids)
    return total / max(1, samples)


def routes(quick: bool = False) -> Bench:
    device = pick_device("auto")
    shape = TINY if quick else T5_SMALL
    max_source, max_target = (96, 16) if quick else (1024, 128)
    batch, steps = (4, 2) if quick else (16, 20)
    n = 64 if quick else 4096
    examples = xsum_like(n, shape["vocab_size"], max_source, max_target)
    import datasets

    dataset = datasets.Dataset.from_list(examples)
    cuda = device.type == "cuda"
    seed_everything(0)
    init = _model(shape, "cpu").state_dict()

    def fresh():
        m = _model(shape, device)
        m.load_state_dict(init)
        return m

    lr = 5e-4
    endless = 10**6  # the Trainer's run is paused and resumed by the bench, never finished
    r = {"seq2seq_trainer": _Steps(_trainer(fresh(), dataset, endless, batch, lr, False, device), steps)}
    if cuda:
        r["seq2seq_trainer_bf16"] = _Steps(_trainer(fresh(), dataset, endless, batch, lr, True, device), steps)
    precision = "bf16" if cuda else "fp32"
    r["ours"] = _Ours(fresh(), examples, steps, batch, lr, device, precision, total=10**6)
    # One compiled route, through CUDA graphs: a t5-small compilation takes minutes on the GPU host (~200-260 s on
    # the H100's), so the plain torch.compile route of the earlier records (ours_compiled, committed H100 records)
    # is not compiled a second time here. On a CPU (--quick) inductor skips the graphs: the test checks the
    # plumbing, the GPU the speed.
    compiled_route = None
    # CUDA graphs (torch.compile mode="reduce-overhead"); on a CPU the test checks its plumbing, the GPU its speed
    graphs_route = _Ours(fresh(), examples, steps, batch, lr, device, precision, total=10**6, compile=True,
                         mode="reduce-overhead", label_multiple=32) if cuda or quick else None
    if graphs_route is not None:
        r["ours_cudagraphs"] = graphs_route

    def check() -> dict:
        """Loss curves of both routes from the same initial weights (S steps, same lr schedule), and test-set
        generation throughput of Seq2SeqTrainer.predict(predict_with_generate) against ours."""
        S = 8 if quick else 150
        seed_everything(1)
        t = _trainer(fresh(), dataset, S, batch, lr, False, device, logging_steps=1)
        t.train()
        ref_loss = [h["loss"] for h in t.state.log_history if "loss" in h]
        seed_everything(1)
        # the fastest route of ours, from the same initial weights; a compiled one is reset, not recompiled
        o = graphs_route or compiled_route or _Ours(fresh(), examples, S, batch, lr, device, precision, total=S)
        o.reset(init, total=S)
        o.steps = S
        o()
        our_loss = [float(x) for x in o.losses]
        k = max(1, S // 5)
        gen_n = 16 if quick else 512
        test = dataset.select(range(gen_n))
        model = o.model
        t_pred = _trainer(model, test, 1, batch, lr, False, device)
        # exactly 20 new tokens in both routes, set once in the model's generation config (a length passed to
        # predict() as max_new_tokens made generate() warn at every batch: see train.generation_kwargs)
        model.generation_config.update(**generation_kwargs(20, 1, min_new_tokens=20))
        t0 = time.perf_counter()
        t_pred.predict(test)
        ref_gen = gen_n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        generate_ids(model, [e["input_ids"] for e in examples[:gen_n]], 0, 20, 16 if quick else 256, device,
                     precision, min_new_tokens=20)
        our_gen = gen_n / (time.perf_counter() - t0)
        fps = flops_per_sample(o.model, examples, batch, o.pad_multiple, device, precision, 2 if quick else 16)
        out = {"loss_route": "ours_cudagraphs" if graphs_route else "ours_compiled" if compiled_route else "ours",
               "flops_per_sample": fps, "peak_flops": PEAK_FLOPS if cuda else None,
               "shapes_captured": getattr(graphs_route, "shapes", None),
               "loss_ref_first": float(np.mean(ref_loss[:k])), "loss_ref_last": float(np.mean(ref_loss[-k:])),
               "loss_ours_first": float(np.mean(our_loss[:k])), "loss_ours_last": float(np.mean(our_loss[-k:])),
               "loss_curve_ref": ref_loss, "loss_curve_ours": our_loss,
               "first_call_s": {n: f.first_call_s for n, f in r.items() if isinstance(f, _Ours)},
               "generation_samples_per_s": {"seq2seq_trainer_predict": ref_gen, "ours": our_gen,
                                            "ratio": our_gen / ref_gen}}
        return out

    return Bench(routes=r, reference="seq2seq_trainer", items_per_call=batch * steps, unit="samples/s",
                 config={"shape": "tiny" if quick else "t5-small", "max_source": max_source, "max_target": max_target,
                         "batch": batch, "steps_per_call": steps, "device": str(device), "examples": n},
                 warmup=1, repeats=1 if quick else 2, rounds=1 if quick else 3, check=check,
                 notes="reference fp32 (and bf16=True on GPU); ours: bf16 autocast, fused AdamW, SDPA, length buckets, "
                       "sources padded to a multiple of 64 on a GPU; "
                       "ours_cudagraphs: torch.compile(dynamic=True, mode='reduce-overhead') (CUDA graphs, one per batch "
                       "shape, all captured with the compilation in the untimed warm-up call, check.first_call_s; labels padded to a "
                       "multiple of 32); "
                       "batches padded in 2 loader workers on a GPU; the Trainer timed in steady state (one train() "
                       "paused every steps_per_call steps)")


def bench_summary():
    """Show the newest committed bench record (GPU), or one line saying there is none yet; returns None (a
    returned table would be displayed a second time as the cell's value)."""
    from IPython.display import Markdown, display

    from replicate import bench
    from replicate.results import provenance

    recs = bench.committed("t5_xsum")
    if not recs:
        print("No committed bench record yet (the lead runs `replicate bench t5_xsum` on an H100 and commits it).")
        return None
    rec = recs[0]
    b = rec["bench"]
    df = bench.record_table(rec)
    df["XSum epoch (min)"] = [204_045 / v / 60 for v in b["throughput"].values()]
    c = b.get("check", {})
    if c.get("flops_per_sample") and c.get("peak_flops"):
        # model FLOPs of a sample (counted on our bucketed batches) x samples/s over the GPU's dense bf16 peak
        df["TFLOP/s (model)"] = [c["flops_per_sample"] * v / 1e12 for v in b["throughput"].values()]
        df["share of bf16 peak"] = [c["flops_per_sample"] * v / c["peak_flops"] for v in b["throughput"].values()]
    from replicate.notebook import table

    table(df, "Fine-tuning throughput, t5-small shapes, batch 16; goal: ours >= 3x the reference", "bench",
          floatfmt="{:.3g}", note=provenance(rec))
    c = b.get("check", {})
    if c:
        g = c["generation_samples_per_s"]
        route = c.get("loss_route", "ours")
        display(Markdown(
            f"Loss over the same {len(c['loss_curve_ours'])} steps from the same initial weights, mean of the first / "
            f"last fifth: Trainer {c['loss_ref_first']:.3f} / {c['loss_ref_last']:.3f}, {route} "
            f"{c['loss_ours_first']:.3f} / {c['loss_ours_last']:.3f}. Generation (20 new tokens): Trainer.predict "
            f"{g['seq2seq_trainer_predict']:.0f} samples/s, ours {g['ours']:.0f} samples/s (x{g['ratio']:.1f})."))
        first = c.get("first_call_s", {})
        for route in ("ours_compiled", "ours_cudagraphs"):
            if route in first:
                extra = (f", capturing {c['shapes_captured']} CUDA graphs (one per batch shape)"
                         if route == "ours_cudagraphs" and c.get("shapes_captured") else "")
                display(Markdown(
                    f"`{route}` compiles once per run: its first call (compilation included{extra}) took "
                    f"{first[route]:.0f} s, which the epoch column above leaves out."))
        if c.get("flops_per_sample") and c.get("peak_flops"):
            display(Markdown(
                f"Share of peak: {c['flops_per_sample'] / 1e9:.1f} GFLOP per training sample (forward + backward, "
                f"counted by `torch.utils.flop_counter` on our length-bucketed batches) times samples/s, over "
                f"{c['peak_flops'] / 1e12:.0f} TFLOP/s (dense bf16 peak of an H100/H200)."))
    return None
