"""`replicate bench gudn`: GUDN training samples/s at batch 8, text length 512, BERT-base size (random init),
Eurlex-4K's 3956 labels, all three losses.

- ``reference``: the authors' loop: fp32, eager attention, BERT run on the text AND on the label text with both
  padded to 512 tokens at every step, plain AdamW.
- ``ours``: bf16 autocast, PyTorch SDPA attention, texts and label texts (64 tokens of label names) in ONE BERT
  forward, fused AdamW on a GPU. The step is bound by kernel launches on the GPU machine's host (a profile showed
  the GPU busy 17.5 ms of a 97.5 ms step with two forwards), so one forward over twice the rows is faster even
  though the label rows are padded to the text length. Same batch, same weights at the start, same loss (``check`` reports both routes' loss on one batch).
``quick=True``: tiny shapes on the CPU, seconds.
"""
from __future__ import annotations

import copy
from dataclasses import replace

import torch

from replicate.bench import Bench
from replicate.train import autocast, pick_device, seed_everything

from .model import GUDN, make_encoder
from .profiles import PROFILES
from .train import make_optimizer


def _batch(B, T, T_label, n_real_label, L, vocab, device, g):
    ids = torch.randint(5, vocab, (B, T), generator=g)
    lab = torch.randint(5, vocab, (B, n_real_label), generator=g)
    gold = [torch.randperm(L, generator=g)[:5].numpy() for _ in range(B)]
    y = torch.zeros(B, L)
    for i, gi in enumerate(gold):
        y[i, gi] = 1.0

    def label_side(width):  # the same label tokens, padded to `width`
        li = torch.zeros(B, width, dtype=torch.long)
        li[:, :n_real_label] = lab
        m = torch.zeros(B, width, dtype=torch.long)
        m[:, :n_real_label] = 1
        return li.to(device), m.to(device)

    base = {"ids": ids.to(device), "mask": torch.ones(B, T, dtype=torch.long, device=device), "y": y.to(device),
            "gold": gold}
    ref = dict(base, **dict(zip(("label_ids", "label_mask"), label_side(T))))
    fast = dict(base, **dict(zip(("label_ids", "label_mask"), label_side(T_label))))
    return ref, fast


def routes(quick: bool = False) -> Bench:
    device = pick_device("auto") if not quick else torch.device("cpu")
    if quick:
        p = replace(PROFILES["smoke"], hidden=32, layers=2, heads=2, intermediate=64, feature_layers=2,
                    max_len=32, label_max_len=8, feature_mse="pooler")
        B, L, vocab, n_lab = 2, 50, 200, 6
    else:
        p = replace(PROFILES["paper"], bert=None, feature_mse="pooler")  # BERT-base size, random init
        B, L, vocab, n_lab = 8, 3956, 30522, 40
    seed_everything(0)
    enc_ref = make_encoder(p, vocab, pooler=True, fast=False)
    model_ref = GUDN(enc_ref, L, p.feature_layers, p.dropout, "raw").to(device)
    model_fast = copy.deepcopy(model_ref)
    model_fast.bert.config._attn_implementation = "sdpa"  # read at every forward: the copy uses SDPA
    model_fast.one_pass = True  # texts and label texts in one BERT forward (what fit() does on a GPU)
    init = copy.deepcopy(model_ref.state_dict())
    opt_ref = torch.optim.AdamW(model_ref.parameters(), lr=p.lr)
    opt_fast = make_optimizer(model_fast, p.lr, True, device)
    g = torch.Generator().manual_seed(0)
    batch_ref, batch_fast = _batch(B, p.max_len, min(64, p.max_len) if not quick else p.label_max_len, n_lab, L,
                                   vocab, device, g)

    def step(model, opt, batch, precision):
        with autocast(device, precision):
            losses = model(batch, use_feature=True, use_link=True, feature_mse=p.feature_mse)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        opt.step()
        return losses["total"]

    def reference():
        step(model_ref, opt_ref, batch_ref, "fp32")

    def ours():
        step(model_fast, opt_fast, batch_fast, "auto")

    def check() -> dict:
        """Both routes' loss on the same batch from the same weights, dropout off (eval mode)."""
        out = {}
        for name, model, batch, prec in (("reference", model_ref, batch_ref, "fp32"),
                                         ("ours", model_fast, batch_fast, "auto")):
            m = copy.deepcopy(model).eval()
            m.load_state_dict(init)
            with torch.no_grad(), autocast(device, prec):
                out[name] = float(m(batch, feature_mse=p.feature_mse)["total"].float())
        return out

    return Bench(routes={"reference": reference, "ours": ours}, reference="reference", items_per_call=B,
                 unit="samples/s", check=check,
                 config={"batch": B, "max_len": p.max_len, "label_len_ours": batch_fast["label_ids"].shape[1],
                         "hidden": p.hidden, "layers": p.layers, "labels": L, "device": str(device)},
                 warmup=1 if quick else 3, repeats=2 if quick else 10, rounds=2 if quick else 3,
                 notes="reference: fp32 eager, label text padded to max_len, two BERT forwards, plain AdamW; "
                       "ours: bf16 autocast, SDPA, texts and label texts in one BERT forward, fused AdamW")
