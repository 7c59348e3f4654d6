"""The model: a pre-trained seq2seq checkpoint (``paper``: t5-small) or a T5 built from a ``T5Config`` (``smoke``,
``gpu``), and the cross-attention read-out used for the interpretability study (section 2.3.4)."""
from __future__ import annotations

import torch

from replicate.data import DataMissing


def load_tokenizer(params, train_texts=None):
    """The checkpoint's tokenizer, or a BPE tokenizer trained offline on ``train_texts`` (``data.train_tokenizer``)."""
    if params.model_name_or_path:
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(params.model_name_or_path)
        except OSError as e:
            raise DataMissing(f"tokenizer of {params.model_name_or_path!r} is not available offline ({e.__class__.__name__}); "
                              "put the checkpoint in the Hugging Face cache or pass a local folder as model_name_or_path=") from None
    from .data import train_tokenizer

    return train_tokenizer(train_texts, params.vocab_size)


def _attn_kwargs():
    return {"attn_implementation": "sdpa"}


def build_model(params, tokenizer) -> torch.nn.Module:
    """``from_pretrained(checkpoint)`` or ``T5ForConditionalGeneration(T5Config(...))`` sized by the profile.

    T5 conventions: the decoder starts from <pad> (id 0), sequences end in </s> (id 1), tied embeddings."""
    from transformers import AutoModelForSeq2SeqLM, T5Config, T5ForConditionalGeneration

    if params.model_name_or_path:
        try:
            try:
                return AutoModelForSeq2SeqLM.from_pretrained(params.model_name_or_path, **_attn_kwargs())
            except (ValueError, ImportError):
                return AutoModelForSeq2SeqLM.from_pretrained(params.model_name_or_path)
        except OSError as e:
            raise DataMissing(f"checkpoint {params.model_name_or_path!r} is not available offline ({e.__class__.__name__}); "
                              "put it in the Hugging Face cache or pass a local folder as model_name_or_path=") from None
    config = T5Config(vocab_size=len(tokenizer), d_model=params.d_model, d_ff=params.d_ff, d_kv=params.d_kv,
                      num_layers=params.num_layers, num_decoder_layers=params.num_layers, num_heads=params.num_heads,
                      dropout_rate=params.dropout_rate, pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                      decoder_start_token_id=tokenizer.pad_token_id)
    try:
        config._attn_implementation = "sdpa"
        return T5ForConditionalGeneration(config)
    except (ValueError, ImportError):
        config._attn_implementation = "eager"
        return T5ForConditionalGeneration(config)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def cross_attention(model, input_ids: torch.Tensor, decoder_input_ids: torch.Tensor) -> torch.Tensor:
    """Cross-attention of each generated token over the source tokens, averaged over layers and heads:
    a [target, source] matrix whose rows sum to 1 (one example, no padding; teacher-forced on the generated sequence).

    The weights are recomputed from each decoder layer's cross-attention projections, caught by forward hooks:
    softmax(q k^T * scaling) -- T5's cross-attention has no relative position bias, and one unpadded example has
    no mask. This does not depend on the attention kernel (SDPA returns no weights, and ``output_attentions``
    is handled differently across transformers releases); a test checks it against eager ``output_attentions``."""
    caught: list[torch.Tensor] = []

    def hook(mod, args, kwargs, out):
        hidden = args[0] if args else kwargs["hidden_states"]
        kv = kwargs.get("key_value_states", args[2] if len(args) > 2 else None)
        b, t, _ = hidden.shape
        q = mod.q(hidden).view(b, t, mod.n_heads, mod.key_value_proj_dim).transpose(1, 2).float()
        k = mod.k(kv).view(b, kv.shape[1], mod.n_heads, mod.key_value_proj_dim).transpose(1, 2).float()
        caught.append(torch.softmax(q @ k.transpose(-1, -2) * float(getattr(mod, "scaling", 1.0) or 1.0), dim=-1)[0])

    handles = [blk.layer[1].EncDecAttention.register_forward_hook(hook, with_kwargs=True)
               for blk in model.decoder.block]
    try:
        model.eval()
        model(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), decoder_input_ids=decoder_input_ids)
    finally:
        for h in handles:
            h.remove()
    if len(caught) != len(model.decoder.block):
        raise RuntimeError(f"caught {len(caught)} cross-attention maps for {len(model.decoder.block)} decoder layers")
    return torch.stack(caught).mean(dim=(0, 1)).cpu()  # layers, heads, tgt, src -> tgt, src
