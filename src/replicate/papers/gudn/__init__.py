"""GUDN: a guide network for extreme multi-label text classification (Wang et al., 2022).

Modules: ``profiles`` (parameters, no torch), ``data`` (LightXML/AttentionXML layout, generated corpus, tokenizer),
``metrics`` (P@k, nDCG@k, PSP@k on sparse labels), ``model`` (shared BERT, ranking classifier, guide losses),
``train`` (training/evaluation, DDP-ready, resumable), ``experiment`` (the paper's tables), ``bench``.
"""
