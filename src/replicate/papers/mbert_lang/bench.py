"""`replicate bench mbert_lang`: language-mean extraction (R_L^l for all 13 layers, Sec. 2) in tokens/s.

Routes, on the same chunk of sentences (lengths spread over 64..512 tokens, as Wikipedia sentences and paragraphs
are), at bert-base-multilingual shapes (BertConfig(vocab_size=119547), random init; no download):

* ``fp32_padded`` (reference): batches of 16 in corpus order, each padded to 512, fp32, sums of every layer's
  hidden states accumulated on the device.
* ``bf16_autocast_padded``: the same with bf16 autocast (the issue's 679k tokens/s on an H100 at 16 x 512).
* ``ours``: the chapter's own ``model.means_of_ids`` (what ``language_means`` runs): bf16 autocast, SDPA
  attention, the chunk sorted by length and cut into batches of up to 16 x 512 = 8192 padded tokens (short
  sentences go in big batches, so the GPU is not starved by small ones), fp32 sums on the device, no host
  synchronisation.
* ``ours_bf16_weights``: the same with the weights cast to bf16 (no per-layer autocast casts).
* ``ours_bf16_16k``: bf16 weights and full batches of 16,384 padded tokens (the chapter's ``token_budget``) over a
  chunk of 512 sentences, so that every batch is full and length-sorted packing leaves little padding (issue
  19: a stock BertModel at these shapes ran 2.0-2.2M tokens/s on an H200 this way).

Tokens counted are real (non-pad) tokens. ``check`` compares the routes' language means on the chunk and times
cosine top-k / margin retrieval over BUCC-sized sets (100k x 100k embeddings of 768 dims) on the GPU.
"""
from __future__ import annotations

import time

import torch

from replicate.bench import Bench
from replicate.train import pick_device

from . import metrics as MT
from . import model as M


def _model(vocab, hidden, layers, heads, max_pos, device, dtype=torch.float32):
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=4 * hidden, max_position_embeddings=max_pos, attn_implementation="sdpa")
    torch.manual_seed(0)
    return BertModel(cfg, add_pooling_layer=False).to(device=device, dtype=dtype).eval()


def routes(quick: bool = False) -> Bench:
    device = pick_device("cpu" if quick else "auto")
    if quick:
        vocab, hidden, layers, heads, max_len, batch, n_sent, n_ret = 1000, 64, 2, 2, 64, 4, 16, 2000
    else:
        vocab, hidden, layers, heads, max_len, batch, n_sent, n_ret = 119547, 768, 12, 12, 512, 16, 512, 100_000
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(max_len // 8, max_len + 1, (n_sent,), generator=g)
    ids = torch.randint(1000 if vocab > 2000 else 5, vocab, (n_sent, max_len), generator=g)
    mask = (torch.arange(max_len)[None, :] < lengths[:, None]).long()
    ids = (ids * mask).to(device)
    mask = mask.to(device)
    n_tokens = int(lengths.sum())
    # forward FLOPs per real token: the layers' matmuls (2 x weights) and attention (QK^T and AV over the
    # sentence's own length, on average); the fraction of the GPU's peak follows from tokens/s x this
    mean_len = float((lengths.float() ** 2).sum() / lengths.sum())
    flops_per_token = 2 * layers * (4 * hidden * hidden + 2 * hidden * 4 * hidden) + 4 * layers * hidden * mean_len
    fp32 = _model(vocab, hidden, layers, heads, max_len, device)
    bf16 = _model(vocab, hidden, layers, heads, max_len, device, torch.bfloat16 if device.type == "cuda" else torch.float32)
    bf16.load_state_dict(fp32.state_dict())
    seqs = [ids[i, :int(lengths[i])].tolist() for i in range(n_sent)]
    budget = batch * max_len

    @torch.inference_mode()
    def padded(model, ac):
        acc = torch.zeros(layers + 1, hidden, device=device)
        for s in range(0, n_sent, batch):
            with ac():
                acc += M.hidden_sums(model, ids[s:s + batch], mask[s:s + batch])
        return acc / n_tokens

    def ours(model, ac, token_budget=budget):
        return lambda: M.means_of_ids(model, seqs, 0, device, token_budget, ac())

    import contextlib

    no_ac = contextlib.nullcontext
    bf_ac = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else no_ac
    r = {"fp32_padded": lambda: padded(fp32, no_ac), "bf16_autocast_padded": lambda: padded(fp32, bf_ac),
         "ours": ours(fp32, bf_ac), "ours_bf16_weights": ours(bf16, no_ac),
         "ours_bf16_16k": ours(bf16, no_ac, 16384 if device.type == "cuda" else budget)}

    def check() -> dict:
        ref, fast = r["fp32_padded"](), r["ours"]()
        rel = float(((fast - ref).norm(dim=1) / ref.norm(dim=1)).max())
        x = torch.randn(n_ret, hidden, generator=g).to(device, torch.bfloat16 if device.type == "cuda" else torch.float32)
        y = (x + 0.5 * torch.randn(n_ret, hidden, generator=g).to(device, x.dtype))[torch.randperm(n_ret, generator=g).to(device)]
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        _, top = MT.topk_cosine(x, y, 1)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        MT.margin_candidates(x, y, k=4)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        return {"means_max_rel_diff_vs_fp32": rel, "retrieval_n": n_ret, "top1_cosine_s": t1 - t0,
                "margin_mining_s": t2 - t1}

    return Bench(routes=r, reference="fp32_padded", items_per_call=n_tokens, unit="tokens/s",
                 config={"device": device.type, "vocab": vocab, "hidden": hidden, "layers": layers, "batch": batch,
                         "max_len": max_len, "sentences_per_call": n_sent, "real_tokens_per_call": n_tokens,
                         "retrieval_n": n_ret, "token_budget_ours": budget, "token_budget_16k": 16384,
                         "forward_flops_per_token": flops_per_token},
                 warmup=1 if quick else 2, repeats=2 if quick else 5, rounds=2 if quick else 3, check=check,
                 notes="language means of all layers; tokens/s counts real (non-pad) tokens; fraction of peak = "
                       "tokens/s x forward_flops_per_token / the GPU's dense bf16 peak (H200: 989 TFLOP/s)")
