"""GUDN (Sec. 3): one BERT shared by texts and label names, a ranking classifier, and the guide network.

- Feature extractor (Sec. 3.2): E = concat of the [CLS] vectors of the last ``feature_layers`` layers (paper: 10),
  followed by a high dropout (0.5) before the classifier, as in LightXML.
- Ranking classifier (Eq. 1, Sec. 3.4): f(x, k) = W_k B(x), a linear layer over all labels; or, for Wiki-500K,
  LightXML's label clusters with dynamic negative sampling (``ClusterRanker``).
- Guide network (Sec. 3.3): L_feature (Eq. 2) = MSE between text and label features, L_link (Eq. 3) = BCE of the
  same classifier applied to the label features; L_class (Eq. 5) = BCE on the text features;
  L_overall = L_class + L_feature + L_link (Eq. 4, 6), equal weights.
- Label input: the gold label names joined into one text through the same BERT ("raw"), or the gold labels as a
  multi-hot vector through a linear map ("onehot", Table 4's alternative).
- Test time uses the text only (``predict`` / ``rank``).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LABEL_INPUTS = ("raw", "onehot")


def make_encoder(params, vocab_size: int, pooler: bool, fast: bool = True):
    """A BertModel: ``from_pretrained(params.model_name_or_path)`` (fp32 weights, whatever the file stores) or a
    fresh one from a BertConfig of the profile's size.

    ``fast`` picks PyTorch's SDPA attention, else the eager ("plain") attention."""
    from transformers import BertConfig, BertModel

    from .data import model_path

    attn = "sdpa" if fast else "eager"
    if params.model_name_or_path:
        return BertModel.from_pretrained(model_path(params.model_name_or_path), add_pooling_layer=pooler,
                                         attn_implementation=attn, dtype=torch.float32)
    cfg = BertConfig(vocab_size=vocab_size, hidden_size=params.hidden_size, num_hidden_layers=params.num_hidden_layers,
                     num_attention_heads=params.num_attention_heads, intermediate_size=params.intermediate_size,
                     max_position_embeddings=max(512, params.max_seq_length), attn_implementation=attn)
    return BertModel(cfg, add_pooling_layer=pooler)


class LinearRanker(nn.Module):
    """W of Eq. 1: one score per label."""

    def __init__(self, in_dim: int, n_labels: int):
        super().__init__()
        self.W = nn.Linear(in_dim, n_labels)

    def loss(self, E: torch.Tensor, y: torch.Tensor, gold: list) -> torch.Tensor:
        """BCE over all labels (Eq. 3 / Eq. 5; mean over entries, as BCEWithLogitsLoss in the code)."""
        return F.binary_cross_entropy_with_logits(self.W(E).float(), y)

    def rank(self, E: torch.Tensor, k: int) -> torch.Tensor:
        return self.W(E).float().topk(min(k, self.W.out_features), dim=-1).indices


class ClusterRanker(nn.Module):
    """LightXML's ranker for very many labels: a meta classifier over label clusters picks the ``top_b`` clusters
    (gold clusters forced in during training: dynamic negative sampling), and only their labels are scored, by
    the dot product of a projected text feature with a label embedding."""

    def __init__(self, in_dim: int, cluster_of: np.ndarray, top_b: int, emb_dim: int = 300):
        super().__init__()
        cluster_of = np.asarray(cluster_of)
        self.n_labels, self.n_clusters = len(cluster_of), int(cluster_of.max()) + 1
        self.top_b = min(top_b, self.n_clusters)
        members = [np.flatnonzero(cluster_of == c) for c in range(self.n_clusters)]
        width = max(len(m) for m in members)
        table = np.full((self.n_clusters, width), -1, dtype=np.int64)
        for c, m in enumerate(members):
            table[c, :len(m)] = m
        self.register_buffer("members", torch.as_tensor(table), persistent=False)
        self.register_buffer("cluster_of", torch.as_tensor(cluster_of, dtype=torch.long), persistent=False)
        self.meta = nn.Linear(in_dim, self.n_clusters)
        self.proj = nn.Linear(in_dim, emb_dim)
        self.emb = nn.Embedding(self.n_labels, emb_dim)

    def _candidates(self, meta_logits: torch.Tensor, gold: list | None):
        scores = meta_logits.detach().float().clone()
        if gold is not None:  # force the gold clusters in (LightXML's training-time candidate set)
            for i, g in enumerate(gold):
                scores[i, self.cluster_of[torch.as_tensor(g, dtype=torch.long, device=scores.device)]] = float("inf")
        chosen = scores.topk(self.top_b, dim=-1).indices  # B x b
        cand = self.members[chosen].flatten(1)  # B x (b * width), -1 = padding
        return chosen, cand

    def _scores(self, E, cand):
        e = self.emb(cand.clamp(min=0))
        s = torch.einsum("bd,bcd->bc", self.proj(E), e).float()
        return s.masked_fill(cand < 0, -1e4)

    def loss(self, E: torch.Tensor, y: torch.Tensor, gold: list) -> torch.Tensor:
        meta = self.meta(E).float()
        y_clusters = torch.zeros_like(meta)
        for i, g in enumerate(gold):
            y_clusters[i, self.cluster_of[torch.as_tensor(g, dtype=torch.long, device=meta.device)]] = 1.0
        _, cand = self._candidates(meta, gold)
        s = self._scores(E, cand)
        y_c = torch.gather(y, 1, cand.clamp(min=0)) * (cand >= 0)
        mask = (cand >= 0).float()
        l_lab = (F.binary_cross_entropy_with_logits(s, y_c, reduction="none") * mask).sum() / mask.sum()
        return F.binary_cross_entropy_with_logits(meta, y_clusters) + l_lab

    def rank(self, E: torch.Tensor, k: int) -> torch.Tensor:
        """The top-k labels: candidates (labels of the ``top_b`` chosen clusters) by sigmoid(label score) x
        sigmoid(cluster score), in [0, 1]; every other label scores -1, so when the chosen clusters hold fewer
        than k labels the list is filled with (valid) labels of other clusters, never with the padding index -1
        of the cluster table (which ``metrics.hits`` would read as the last label)."""
        meta = self.meta(E).float()
        chosen, cand = self._candidates(meta, None)
        p_meta = torch.sigmoid(torch.gather(meta, 1, chosen)).repeat_interleave(self.members.shape[1], dim=1)
        p = torch.sigmoid(self._scores(E, cand)) * p_meta
        # scatter into B x (L + 1): padding entries land in the extra last column, which is dropped
        idx = torch.where(cand >= 0, cand, torch.full_like(cand, self.n_labels))
        full = torch.full((p.shape[0], self.n_labels + 1), -1.0, device=p.device, dtype=p.dtype)
        full = full.scatter(1, idx, p)[:, :self.n_labels]
        return full.topk(min(k, self.n_labels), dim=-1).indices


def label_clusters(texts: list[str], Y, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster labels by bag of words (Sec. 3.4): a label's vector is the normalised sum of the tf-idf vectors of
    its training texts; k-means (scikit-learn) groups them. Returns the cluster id of every label."""
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    X = TfidfVectorizer(max_features=50000, sublinear_tf=True).fit_transform(texts)
    V = normalize(Y.T.tocsr() @ X)
    n_clusters = min(n_clusters, V.shape[0])
    return MiniBatchKMeans(n_clusters=n_clusters, random_state=seed, n_init=3).fit_predict(V)


class GUDN(nn.Module):
    """The shared BERT, the ranking classifier and the guide network's label side."""

    def __init__(self, encoder, n_labels: int, feature_layers: int = 10, dropout: float = 0.5,
                 label_input: str = "raw", ranker: nn.Module | None = None):
        super().__init__()
        if label_input not in LABEL_INPUTS:
            raise ValueError(f"label_input must be one of {LABEL_INPUTS}")
        self.bert = encoder
        self.k = feature_layers
        H = encoder.config.hidden_size
        self.feature_dim = self.k * H
        self.drop = nn.Dropout(dropout)
        self.ranker = ranker if ranker is not None else LinearRanker(self.feature_dim, n_labels)
        self.label_input = label_input
        #: run texts and label texts through BERT in ONE forward (label texts padded to the text length): more GPU
        #: work but half the kernel launches; on a GPU the step is launch-bound, so this is the faster route
        self.one_pass = False
        if label_input == "onehot":  # multi-hot gold labels -> the same feature spaces as the text side
            self.onehot_E = nn.EmbeddingBag(n_labels, self.feature_dim, mode="mean")
            if getattr(encoder, "pooler", None) is not None:
                self.onehot_P = nn.EmbeddingBag(n_labels, H, mode="mean")

    def features(self, ids: torch.Tensor, mask: torch.Tensor):
        """(E, P): E = [CLS] of the last k layers concatenated (B x kH); P = the pooler output (B x H) or None."""
        out = self.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        E = torch.cat([h[:, 0] for h in out.hidden_states[-self.k:]], dim=-1)
        return E, getattr(out, "pooler_output", None)

    def paired_features(self, ids, mask, label_ids, label_mask):
        """features() of the texts and of the label texts, from one BERT forward over both (padding is masked,
        so each row's features are what its own forward would give)."""
        n = max(ids.shape[1], label_ids.shape[1])

        def pad(x):
            return F.pad(x, (0, n - x.shape[1]))

        E, P = self.features(torch.cat([pad(ids), pad(label_ids)]), torch.cat([pad(mask), pad(label_mask)]))
        B = ids.shape[0]
        return (E[:B], None if P is None else P[:B]), (E[B:], None if P is None else P[B:])

    def onehot_features(self, gold: list, device):
        flat = torch.as_tensor(np.concatenate(gold), dtype=torch.long, device=device)
        offsets = torch.as_tensor(np.cumsum([0] + [len(g) for g in gold[:-1]]), dtype=torch.long, device=device)
        P = self.onehot_P(flat, offsets) if hasattr(self, "onehot_P") else None
        return self.onehot_E(flat, offsets), P

    def forward(self, batch: dict, use_feature: bool = True, use_link: bool = True, feature_mse: str = "pooler",
                monitor_feature: bool = False) -> dict:
        """The losses of one batch: L_class (Eq. 5), L_feature (Eq. 2), L_link (Eq. 3) and their sum (Eq. 6).

        ``batch``: ids, mask (text), y (B x L dense 0/1 of this batch), gold (list of label index arrays) and,
        for raw label input, label_ids, label_mask (the joined gold label names)."""
        need_label = use_feature or use_link or monitor_feature
        if need_label and self.label_input == "raw" and self.one_pass:
            (Et, Pt), (El, Pl) = self.paired_features(batch["ids"], batch["mask"], batch["label_ids"],
                                                      batch["label_mask"])
        else:
            Et, Pt = self.features(batch["ids"], batch["mask"])
        y, gold = batch["y"], batch["gold"]
        out = {"class": self.ranker.loss(self.drop(Et), y, gold)}
        total = out["class"]
        if need_label:
            if self.label_input == "raw" and self.one_pass:
                pass  # El, Pl came with the texts' forward
            elif self.label_input == "raw":
                El, Pl = self.features(batch["label_ids"], batch["label_mask"])
            else:
                El, Pl = self.onehot_features(gold, Et.device)
            # the code's choice (pooler outputs) or the paper's (E_t, E_l); without a pooler (a variant that only
            # monitors L_feature) the [CLS] features are compared
            a, b = (Pt, Pl) if feature_mse == "pooler" and Pt is not None else (Et, El)
            out["feature"] = F.mse_loss(a.float(), b.float())
            if use_feature:
                total = total + out["feature"]
            if use_link:
                out["link"] = self.ranker.loss(self.drop(El), y, gold)
                total = total + out["link"]
            if not use_feature:
                out["feature"] = out["feature"].detach()
        out["total"] = total
        return out

    @torch.no_grad()
    def rank(self, ids: torch.Tensor, mask: torch.Tensor, k: int = 5) -> torch.Tensor:
        """Top-k label indices from the text alone (test time: no label input)."""
        E, _ = self.features(ids, mask)
        return self.ranker.rank(E, k)


def variant_flags(variant: str) -> dict:
    """Table 3 / Table 4 variants -> which guides are on and what the label input is."""
    return {
        "bert": dict(use_feature=False, use_link=False, label_input="raw"),
        "gud_f": dict(use_feature=True, use_link=False, label_input="raw"),
        "gud_l": dict(use_feature=False, use_link=True, label_input="raw"),
        "gudn": dict(use_feature=True, use_link=True, label_input="raw"),
        "gudn_onehot": dict(use_feature=True, use_link=True, label_input="onehot"),
    }[variant]
