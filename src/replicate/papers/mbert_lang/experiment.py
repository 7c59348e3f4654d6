"""The chapter's experiments, each stored as a result record (re-used when its config is unchanged):

``lm`` (the small masked LM, generated profiles), ``means`` (R_L^l, Sec. 2), ``translation`` (Table 1, Figures 1-2,
Tables 6-7), ``tatoeba`` (Table 2), ``bucc`` (Table 3), ``pos`` (Table 4). Notebooks call ``Workspace`` and the
``table*`` / ``figure*`` helpers below.
"""
from __future__ import annotations

import random
from functools import cached_property
from pathlib import Path

import pandas as pd
import torch

from replicate import paths, reported
from replicate.config import as_dict
from replicate.results import ResultStore, committed_records, config_key, provenance
from replicate.train import autocast, pick_device, seed_everything, set_threads

from . import data as D
from . import metrics as MT
from . import model as M
from . import train as T
from .profiles import METHODS

CHAPTER = "mbert_lang"
#: Bumped when the code changes what a record holds.
VERSION = 1

LM_KEYS = ("seed", "model_name", "data_dir", "languages", "n_concepts", "sentences_per_language", "code_switch",
           "hidden_size", "num_layers", "num_heads", "vocab_size", "max_len", "train_steps", "batch_size", "lr")
DATA_KEYS = ("n_translate", "n_tatoeba", "tatoeba_languages", "bucc_languages", "pos_languages", "pos_max_train")


class Workspace:
    """Parameters, device, the model and its records for one profile."""

    def __init__(self, params, profile: str):
        self.p = params
        self.profile = profile
        self.store = ResultStore(CHAPTER, profile)
        self.device = pick_device(params.device)
        self.generated = params.model_name == "generated"
        if self.device.type == "cpu":
            set_threads()
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()

    # ---------------------------------------------------------------- configs and places
    def cfg(self, *keys: str) -> dict:
        d = as_dict(self.p)
        return {"version": VERSION, **{k: d[k] for k in LM_KEYS + DATA_KEYS + keys}}

    @property
    def work_dir(self) -> Path:
        """Generated data and the trained model (outside results/, so that weights are never committed)."""
        # "ud_trees": the generated UD files carry real dependency trees (an older cache had flat ones)
        return paths.data_dir() / CHAPTER / f"{self.profile}-{config_key('work', {**self.cfg(), 'ud_trees': 1})[:12]}"

    def autocast(self):
        return autocast(self.device, self.p.precision)

    def root(self, name: str) -> Path:
        """Where data set ``name`` lives: the generated copy (written on first use) or the real one."""
        if not self.generated:
            return D.real_root(self.p.data_dir, name)
        root = self.work_dir / "data"
        if not (root / "DONE").is_file():
            p = self.p
            D.write_generated(root, p.languages, p.n_concepts, p.seed, p.sentences_per_language, p.code_switch,
                              n_xnli=p.n_translate, n_tatoeba=p.n_tatoeba, tatoeba_languages=p.tatoeba_languages,
                              bucc_languages=p.bucc_languages, pos_languages=p.pos_languages,
                              n_bucc=max(300, p.n_tatoeba), n_ud_train=p.pos_max_train,
                              n_ud_test=max(200, p.n_tatoeba // 2))
            (root / "DONE").write_text("ok\n")
        return root

    def wiki(self, lang: str) -> list[str]:
        return D.load_text(self.root("wiki_text"), lang)

    # ---------------------------------------------------------------- the model
    def _train_lm(self) -> dict:
        p = self.p
        seed_everything(p.seed)
        texts = [s for lang in p.languages for s in self.wiki(lang)]
        random.Random(p.seed).shuffle(texts)
        tok = M.train_tokenizer(texts, p.vocab_size)
        seed_everything(p.seed)
        mlm = M.small_bert(len(tok), p.hidden_size, p.num_layers, p.num_heads, p.max_len)
        losses = T.pretrain_mlm(mlm, tok, texts, self.device, p.train_steps, p.batch_size, p.lr, p.max_len, p.seed,
                                checkpoint=self.work_dir / "mlm.ckpt", autocast=self.autocast())
        M.save(mlm.cpu(), tok, self.work_dir / "model")
        tail = losses[-max(1, len(losses) // 20):]
        return {"metrics": {"final_loss": sum(tail) / len(tail), "first_loss": losses[0],
                            "n_params": sum(x.numel() for x in mlm.parameters()), "vocab": len(tok),
                            "corpus_sentences": len(texts)},
                "curves": {"loss": losses}}

    def lm_record(self) -> dict:
        if not self.generated:
            return {"metrics": {"model": self.p.model_name}, "curves": {}}
        return self.store.run("lm", self.cfg(), self._train_lm, seed=self.p.seed)

    @cached_property
    def lm(self):
        """(tokenizer, masked LM on the device)."""
        if self.generated:
            folder = self.work_dir / "model"
            if not (folder / "config.json").is_file():
                self._train_lm()
            tok, mlm = M.load_pretrained(str(folder))
        else:
            tok, mlm = M.load_pretrained(self.p.model_name)
        return tok, mlm.to(self.device).eval()

    @property
    def model_path(self) -> str:
        return str(self.work_dir / "model") if self.generated else self.p.model_name

    # ---------------------------------------------------------------- language means (Sec. 2)
    def means_record(self) -> dict:
        self.lm_record()

        def fn():
            tok, mlm = self.lm
            means = {lang: M.language_means(mlm, tok, self.wiki(lang), self.device, self.p.means_tokens,
                                            max_len=self.p.max_len, autocast=self.autocast())
                     for lang in self.p.languages}
            return {"metrics": summarize_means(means), "means": {k: v.tolist() for k, v in means.items()}}

        return self.store.run("means", self.cfg("means_tokens"), fn, seed=self.p.seed)

    def means(self) -> dict[str, torch.Tensor]:
        return {k: torch.tensor(v) for k, v in self.means_record()["means"].items()}

    # ---------------------------------------------------------------- token translation (Sec. 3)
    def translation_record(self) -> dict:
        keys = ("means_tokens", "directions", "alphas", "shift_layer", "sweep_direction", "sweep_alphas")
        R = self.means()
        return self.store.run("translation", self.cfg(*keys), lambda: self._translation(R), seed=self.p.seed)

    def _translation(self, R) -> dict:
        p = self.p
        tok, mlm = self.lm
        langs = sorted({x for d in (*p.directions, p.sweep_direction) for x in d.split("-")} | {"en"})
        xnli = D.load_xnli(self.root("xnli"), langs)
        xnli = {k: v[:p.n_translate] for k, v in xnli.items()}
        toks = {k: M.tokens(tok, v, p.max_len) for k, v in xnli.items()}
        V = {k: MT.token_set(v) for k, v in toks.items()}
        kw = dict(max_len=p.max_len, autocast=self.autocast())

        def run(direction, alpha, layer):
            s, t = direction.split("-")
            vec = alpha * (R[t][layer] - R[s][layer])
            out = M.decode(mlm, tok, xnli[s], self.device, layer, vec, **kw)
            return out, MT.bleu1(out, toks[t]), MT.convert_rate(out, V[s], V[t])

        rows, samples = [], []
        for d in T_progress(p.directions, "Table 1"):
            for a in p.alphas:
                out, b, c = run(d, a, p.shift_layer)
                rows.append({"direction": d, "alpha": a, "bleu1": b, "convert": c})
                s, t = d.split("-")
                samples.append({"direction": d, "alpha": a, "input": xnli[s][0], "ground_truth": xnli[t][0],
                                "output": tok.convert_tokens_to_string(out[0])})
        grid = []
        n = M.num_layers(mlm)
        for layer in T_progress(range(n + 1), f"{p.sweep_direction} alpha x layer"):
            for a in p.sweep_alphas:
                _, b, c = run(p.sweep_direction, a, layer)
                grid.append({"layer": layer, "alpha": a, "bleu1": b, "convert": c})
        identity = [{"direction": d, "bleu1_self": MT.bleu1(run(d, 0.0, p.shift_layer)[0], toks[d.split("-")[0]])}
                    for d in p.directions[:1]]
        token_sets = [{"lang": k, "size": len(V[k]), "overlap_en": len(V["en"] & V[k])} for k in langs]
        m = {f"table1/{r['direction']}/{kind}/{r['alpha']:g}": r[key] for r in rows
             for kind, key in (("bleu1", "bleu1"), ("convert", "convert"))}
        m.update({f"table6/{r['lang']}/size": r["size"] for r in token_sets})
        m.update({f"table6/{r['lang']}/overlap": r["overlap_en"] for r in token_sets})
        return {"metrics": m, "table1": rows, "grid": grid, "samples": samples, "token_sets": token_sets,
                "identity": identity, "n_sentences": len(xnli["en"])}

    # ---------------------------------------------------------------- retrieval (Sec. 4)
    def _embed(self, texts, layer):
        tok, mlm = self.lm
        x, n = M.sentence_embeddings(mlm, tok, texts, self.device, layer, max_len=self.p.max_len,
                                     autocast=self.autocast())
        R = (x * n[:, None]).sum(0) / n.sum()  # the layer's mean over this data set's tokens
        return x.to(self.device), R.to(self.device)

    def tatoeba_record(self) -> dict:
        self.lm_record()

        def fn():
            p, out = self.p, {}
            for lang in T_progress(p.tatoeba_languages, "Tatoeba"):
                xs, ys = D.load_tatoeba(self.root("tatoeba"), lang)
                x, R_x = self._embed(xs[:p.n_tatoeba], p.retrieval_layer)
                y, R_y = self._embed(ys[:p.n_tatoeba], p.retrieval_layer)
                for meth in METHODS:
                    out[f"table2/{meth}/{lang}"] = MT.top1_accuracy(*MT.shifted(x, y, R_x, R_y, meth))
            return {"metrics": out}

        return self.store.run("tatoeba", self.cfg("retrieval_layer"), fn, seed=self.p.seed)

    def bucc_record(self) -> dict:
        self.lm_record()

        def fn():
            p, out, extra = self.p, {}, {}
            for lang in T_progress(p.bucc_languages, "BUCC"):
                mined = {}
                for split in ("sample", "training"):
                    b = D.load_bucc(self.root(f"bucc2018_{lang}_{split}"), lang, split)
                    sid, eid = list(b.src), list(b.en)
                    x, R_x = self._embed([b.src[i] for i in sid], p.retrieval_layer)
                    y, R_y = self._embed([b.en[i] for i in eid], p.retrieval_layer)
                    for meth in METHODS:
                        j, s = MT.margin_candidates(*MT.shifted(x, y, R_x, R_y, meth), k=p.margin_k)
                        mined[split, meth] = ([(sid[a], eid[int(c)]) for a, c in enumerate(j)], s.tolist(), b.gold)
                for meth in METHODS:
                    thr, f_dev = MT.best_threshold(*mined["sample", meth])
                    out[f"table3/dev/{meth}/{lang}"] = f_dev
                    out[f"table3/test/{meth}/{lang}"] = MT.f1_at(*mined["training", meth][:2],
                                                                  mined["training", meth][2], thr)
                    extra[f"{meth}/{lang}"] = thr
            return {"metrics": out, "thresholds": extra}

        return self.store.run("bucc", self.cfg("retrieval_layer", "margin_k"), fn, seed=self.p.seed)

    # ---------------------------------------------------------------- zero-shot POS (Sec. 5)
    def pos_record(self) -> dict:
        R_pre = self.means()
        keys = ("means_tokens", "pos_layer", "pos_epochs", "pos_lr", "pos_batch")
        return self.store.run("pos", self.cfg(*keys), lambda: self._pos(R_pre), seed=self.p.seed)

    def _pos(self, R_pre) -> dict:
        from transformers import AutoModelForTokenClassification

        p, l = self.p, self.p.pos_layer
        tok, _ = self.lm
        ud = self.root("ud")
        train = D.load_ud(ud, "en", "train")[:p.pos_max_train]
        kw = dict(max_len=p.max_len, autocast=self.autocast())
        return self._zero_shot(
            R_pre, l, p.pos_languages, lambda lang: D.load_ud(ud, lang, "test"), "POS test",
            make=lambda: AutoModelForTokenClassification.from_pretrained(self.model_path, num_labels=len(T.UPOS)),
            finetune=lambda m, vec: T.finetune_pos(m, tok, train, self.device, p.pos_epochs, p.pos_lr, p.pos_batch,
                                                   seed=p.seed, layer=l, vector=vec, **kw),
            score=lambda m, sents, vec: {"table4": T.pos_accuracy(m, tok, sents, self.device, l, vec, **kw)})

    def _zero_shot(self, R_pre, layer: int, languages, test_of, desc: str, make, finetune, score) -> dict:
        """Sec. 5's protocol for a task: fine-tune on English twice (plainly; with Zero-mean, -R_en of the
        pre-trained model at ``layer``), take the fine-tuned model's language means for MDS, and score every test
        language with Original (no shift), Zero-mean (-R_L of the pre-trained model) and MDS (R_en - R_L of the
        fine-tuned model). ``score`` returns {table prefix: value}; averages over ``languages`` are added."""
        p, l = self.p, layer
        tok, _ = self.lm
        models, curves = {}, {}
        for name, vec in (("plain", None), ("zero-mean", -R_pre["en"][l])):
            seed_everything(p.seed)
            models[name] = make()
            curves[name] = finetune(models[name], vec)
        # MDS uses the means of the fine-tuned model (Sec. 5.1), on the same corpus as R_pre
        R_ft = {lang: M.language_means(models["plain"], tok, self.wiki(lang), self.device, p.means_tokens,
                                       max_len=p.max_len, autocast=self.autocast())
                for lang in ("en", *languages)}
        out = {}
        for lang in T_progress(("en", *languages), desc):
            sents = test_of(lang)
            for meth, m, vec in (("Original", models["plain"], None), ("Zero-mean", models["zero-mean"], -R_pre[lang][l]),
                                 ("MDS", models["plain"], R_ft["en"][l] - R_ft[lang][l])):
                for prefix, v in score(m, sents, vec).items():
                    out[f"{prefix}/{meth}/{lang}"] = v
        for prefix in {k.split("/")[0] for k in out}:
            for meth in METHODS:
                vals = [out[f"{prefix}/{meth}/{lang}"] for lang in languages]
                out[f"{prefix}/{meth}/Average"] = sum(vals) / len(vals)
        return {"metrics": out, "curves": curves}

    # ---------------------------------------------------------------- zero-shot dependency parsing (Sec. 5, Table 5)
    def parse_record(self) -> dict:
        R_pre = self.means()
        keys = ("means_tokens", "parse_languages", "parse_layer", "parse_epochs", "parse_lr", "parse_batch",
                "parse_max_train")
        return self.store.run("parse", self.cfg(*keys), lambda: self._parse(R_pre), seed=self.p.seed)

    def _parse(self, R_pre) -> dict:
        from transformers import AutoModel

        p = self.p
        tok, mlm = self.lm
        l = M.num_layers(mlm) if p.parse_layer < 0 else p.parse_layer
        # Table 5's languages need not be among the profile's languages: their pre-trained means are taken here
        R_pre = {**R_pre, **{x: M.language_means(mlm, tok, self.wiki(x), self.device, p.means_tokens,
                                                 max_len=p.max_len, autocast=self.autocast())
                             for x in p.parse_languages if x not in R_pre}}
        ud = self.root("ud")
        train = D.load_ud(ud, "en", "train", trees=True)[:p.parse_max_train]
        kw = dict(max_len=p.max_len, autocast=self.autocast())

        def score(m, sents, vec):
            uas, las = T.attachment_scores(m, tok, sents, T.UD_RELS, self.device, l, vec, **kw)
            return {"table5": las, "uas": uas}

        rec = self._zero_shot(
            R_pre, l, p.parse_languages, lambda lang: D.load_ud(ud, lang, "test", trees=True), "parsing test",
            make=lambda: T.BiaffineParser(AutoModel.from_pretrained(self.model_path), len(T.UD_RELS)),
            finetune=lambda m, vec: T.finetune_parser(m, tok, train, T.UD_RELS, self.device, p.parse_epochs,
                                                      p.parse_lr, p.parse_batch, seed=p.seed, layer=l, vector=vec,
                                                      **kw),
            score=score)
        rec["layer"] = l
        return rec


def T_progress(it, desc):
    from replicate.train import progress

    return progress(list(it), desc=desc)


def summarize_means(means: dict[str, torch.Tensor]) -> dict:
    """Per layer: the mean pairwise cosine similarity of the language means and the mean norm of R_L - R_en."""
    langs = list(means)
    n_layers = next(iter(means.values())).shape[0]
    out = {}
    for l in range(n_layers):
        cos = [float(torch.cosine_similarity(means[a][l], means[b][l], dim=0))
               for i, a in enumerate(langs) for b in langs[i + 1:]]
        dist = [float((means[a][l] - means["en"][l]).norm() / means["en"][l].norm()) for a in langs if a != "en"]
        out[f"layer{l}/mean_cosine"] = sum(cos) / max(len(cos), 1)
        out[f"layer{l}/rel_shift_norm"] = sum(dist) / max(len(dist), 1)
    return out


# ------------------------------------------------------------------------------------------------ tables
def compare(measured: dict, profile: str, prefix: str) -> pd.DataFrame:
    """reported.compare over the paper's numbers whose key starts with ``prefix`` and that we measured."""
    keys = [k for k in reported.load(CHAPTER) if k.startswith(prefix) and k in measured]
    df = reported.compare(CHAPTER, measured, profile, keys)
    df.insert(0, "key", [k[len(prefix):] for k in keys])
    return df.drop(columns=["quantity"])


def ours_only(measured: dict, prefix: str) -> pd.DataFrame:
    """Our numbers that the paper does not report (e.g. generated-only languages)."""
    rep = reported.load(CHAPTER)
    rows = [{"key": k[len(prefix):], "ours": v} for k, v in measured.items() if k.startswith(prefix) and k not in rep]
    return pd.DataFrame(rows)


def wide(measured: dict, prefix: str, row_of, col_of) -> pd.DataFrame:
    """Our numbers under ``prefix`` as a paper-shaped table: 'ours (paper)' per cell."""
    rep = reported.load(CHAPTER)
    cells: dict = {}
    for k, v in measured.items():
        if not k.startswith(prefix):
            continue
        rest = k[len(prefix):]
        paper = rep.get(k, {}).get("value")
        cells.setdefault(row_of(rest), {})[col_of(rest)] = f"{v:.1f}" + (f" ({paper:g})" if paper is not None else "")
    return pd.DataFrame(cells).T


def gpu_params():
    """The ``gpu`` profile's parameters (to label figures drawn from its committed records)."""
    from .profiles import GPU

    return GPU


def gpu_records(experiment: str) -> list[dict]:
    return committed_records(CHAPTER, "gpu", experiment)


def show_gpu(experiment: str, prefix: str, profile_note: str = "gpu") -> pd.DataFrame | None:
    """The committed GPU record of ``experiment`` compared with the paper, or None (and one line) if none yet."""
    recs = gpu_records(experiment)
    if not recs:
        print(f"No committed GPU record for `{experiment}` yet (the lead runs `replicate run mbert_lang --profile gpu` "
              "on an H100 and commits results/mbert_lang/gpu/).")
        return None
    rec = recs[-1]
    print("GPU record:", provenance(rec))
    return compare(rec["metrics"], "gpu", prefix)
