"""The chapter's experiments, one record each through ``replicate.results.record`` (key: the experiment, the full
parameters and the chapter's code fingerprint):

``run_lm`` (the small masked LM of the generated profiles, or the MLM head trained on a frozen encoder that has
none), ``run_means`` (R_L^l, Sec. 2), ``run_translation`` (Table 1, Figures 1-2, Tables 6-7), ``run_tatoeba``
(Table 2), ``run_bucc`` (Table 3), ``run_pos`` (Table 4), ``run_parse`` (Table 5). Notebooks call these and draw
with ``report``.
"""
from __future__ import annotations

import json
import random
from functools import cached_property
from pathlib import Path

import torch

from replicate import data as shared_data
from replicate import paths
from replicate.config import as_dict
from replicate.results import code_fingerprint, config_key, record
from replicate.train import autocast, pick_device, seed_everything, set_threads

from . import data as D
from . import metrics as MT
from . import model as M
from . import train as T
from .profiles import METHODS

CHAPTER = "mbert_lang"
#: The fields that make the generated data sets and the small masked LM (the work folder's name hashes them with
#: the chapter's code fingerprint, so a code change makes them again).
WORK_FIELDS = ("seed", "languages", "n_concepts", "sentences_per_language", "code_switch", "hidden_size",
               "num_layers", "num_heads", "vocab_size", "max_seq_length", "max_steps", "per_device_train_batch_size",
               "learning_rate", "n_translate", "n_tatoeba", "tatoeba_languages", "bucc_languages", "pos_languages",
               "pos_max_train")
HEAD_FIELDS = ("seed", "model_name_or_path", "dataset_name", "data_dir", "max_seq_length", "mlm_head_steps",
               "mlm_head_learning_rate", "mlm_head_batch_size", "directions", "sweep_direction", "text_prefix")


class Workspace:
    """Parameters, device, the model and its records for one profile."""

    def __init__(self, params, profile: str):
        self.p = params
        self.profile = profile
        self.device = pick_device(params.device)
        self.generated = params.generated
        self.real = params.dataset_name == "real"
        if self.device.type == "cpu":
            set_threads()
        import transformers

        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()

    def record(self, experiment: str, fn) -> dict:
        return record(CHAPTER, self.profile, experiment, self.p, fn, seed=self.p.seed)

    # ---------------------------------------------------------------- places
    def _hashed(self, fields) -> str:
        d = as_dict(self.p)
        return config_key("work", {k: d[k] for k in fields}, code_fingerprint(CHAPTER))[:12]

    @property
    def work_dir(self) -> Path:
        """Generated data and the trained small model (in the data cache: weights are never committed)."""
        return paths.data_dir() / CHAPTER / f"{self.profile}-{self._hashed(WORK_FIELDS)}"

    def autocast(self):
        return autocast(self.device, self.p.precision)

    def root(self, name: str) -> Path:
        """Where data set ``name`` lives: the generated copy (written on first use), the real one."""
        p = self.p
        if self.real:
            base = Path(p.data_dir).expanduser() if p.data_dir else shared_data.require("mbert-real")
            return base / D.REAL_PARTS[name]
        if not self.generated:
            return D.real_root(p.data_dir, name)
        root = self.work_dir / "data"
        if not (root / "DONE").is_file():
            D.write_generated(root, p.languages, p.n_concepts, p.seed, p.sentences_per_language, p.code_switch,
                              n_xnli=p.n_translate, n_tatoeba=p.n_tatoeba, tatoeba_languages=p.tatoeba_languages,
                              bucc_languages=p.bucc_languages, pos_languages=p.pos_languages,
                              n_bucc=max(300, p.n_tatoeba), n_ud_train=p.pos_max_train,
                              n_ud_test=max(200, p.n_tatoeba // 2))
            (root / "DONE").write_text("ok\n")
        return root

    def prefix(self, texts):
        return [self.p.text_prefix + t for t in texts] if self.p.text_prefix else list(texts)

    def wiki(self, lang: str) -> list[str]:
        """The monolingual corpus of ``lang`` for its means (real data: Tatoeba + UD text, no Wikipedia here)."""
        if self.real:
            base = Path(self.p.data_dir).expanduser() if self.p.data_dir else shared_data.require("mbert-real")
            return self.prefix(D.real_text(base, lang))
        return self.prefix(D.load_text(self.root("wiki_text"), lang))

    def ud(self, parse: bool = False) -> Path:
        if self.real:
            return self.root("ud_parse" if parse else "ud")
        return self.root("ud")

    def ud_train(self, trees: bool = False):
        """English training sentences: all English train files of the POS release (real data: GUM r2.5; the
        paper's EWT train file is not here)."""
        return D.load_ud(self.ud(), "en", "train", trees=trees)

    # ---------------------------------------------------------------- the model
    @property
    def model_path(self) -> str:
        """What from_pretrained loads: the small model's folder, the converted e5 folder, or the given name."""
        name = self.p.model_name_or_path
        if self.generated:
            return str(self.work_dir / "model")
        if name in shared_data.sources():
            cached = shared_data.cache_path(name)
            if shared_data.missing(name):
                cached = shared_data.fetch(name)  # e.g. convert the 4-bit file into a Hugging Face folder
            return str(cached)
        return name

    def model_info(self) -> dict:
        """What the loaded model is (its converted folder's SOURCE.json: pieces kept when pruned)."""
        f = Path(self.model_path) / "SOURCE.json"
        return json.loads(f.read_text()) if f.is_file() else {"model": self.p.model_name_or_path}

    def _train_lm(self) -> dict:
        p = self.p
        seed_everything(p.seed)
        texts = [s for lang in p.languages for s in self.wiki(lang)]
        random.Random(p.seed).shuffle(texts)
        tok = M.train_tokenizer(texts, p.vocab_size)
        seed_everything(p.seed)
        mlm = M.small_bert(len(tok), p.hidden_size, p.num_layers, p.num_heads, p.max_seq_length)
        losses = T.pretrain_mlm(mlm, tok, texts, self.device, p.max_steps, p.per_device_train_batch_size,
                                p.learning_rate, p.max_seq_length, p.seed,
                                checkpoint=paths.checkpoint_path(CHAPTER, self.profile, f"mlm-{self._hashed(WORK_FIELDS)}.ckpt"),
                                autocast=self.autocast())
        M.save(mlm.cpu(), tok, self.work_dir / "model")
        tail = losses[-max(1, len(losses) // 20):]
        out = {"metrics": {"final_loss": sum(tail) / len(tail), "first_loss": losses[0],
                           "n_params": sum(x.numel() for x in mlm.parameters()), "vocab": len(tok),
                           "corpus_sentences": len(texts)},
               "curves": {"loss": losses}}
        (self.work_dir / "model" / "TRAINING.json").write_text(json.dumps(out))
        return out

    # --- the MLM head of an encoder without one
    @property
    def head_file(self) -> Path:
        return paths.checkpoint_path(CHAPTER, self.profile, f"mlm-head-{self._hashed(HEAD_FIELDS)}.pt")

    def head_corpora(self) -> tuple[list[str], list[str]]:
        """(training text, held-out text) of the MLM head: the raw sentences of every UD treebank here and the
        Tatoeba sentences of the languages outside Table 1; held out, the Tatoeba sentences of Table 1's
        languages (which its translations read)."""
        base = self.root("tatoeba").parent
        used = {x for d in (*self.p.directions, self.p.sweep_direction) for x in d.split("-")} - {"en"}
        used_codes = {D.TATOEBA_CODE[x] for x in used if x in D.TATOEBA_CODE}
        train: list[str] = []
        for part in ("ud", "ud_parse"):
            for f in sorted((base / D.REAL_PARTS[part]).rglob("*.conllu")):
                with open(f, encoding="utf-8") as fh:
                    train += [x[len("# text = "):].strip() for x in fh if x.startswith("# text = ")]
        held: list[str] = []
        for code in D.tatoeba_codes(self.root("tatoeba")):
            xs, _ = D.load_tatoeba_code(self.root("tatoeba"), code)
            (held if code in used_codes else train).extend(xs)
        random.Random(self.p.seed).shuffle(train)
        random.Random(self.p.seed + 1).shuffle(held)
        return self.prefix(train), self.prefix(held[:self.p.mlm_head_eval_sentences])

    def _train_head(self) -> dict:
        p = self.p
        train, held = self.head_corpora()
        seed_everything(p.seed)
        tok, mlm = M.with_new_mlm_head(self.model_path)
        before = T.mlm_accuracy(mlm.to(self.device), tok, held, self.device, p.max_seq_length, p.seed,
                                autocast=self.autocast())
        seed_everything(p.seed)
        ck = self.head_file.with_suffix(".ckpt")
        losses = T.train_mlm_head(mlm, tok, train, self.device, p.mlm_head_steps, p.mlm_head_batch_size,
                                  p.mlm_head_learning_rate, p.max_seq_length, p.seed, checkpoint=ck,
                                  autocast=self.autocast())
        acc, ce = T.mlm_accuracy(mlm, tok, held, self.device, p.max_seq_length, p.seed, autocast=self.autocast())
        self.head_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save({k: v.cpu() for k, v in mlm.cls.state_dict().items()}, self.head_file)
        T.Checkpointer(ck).clear()
        tail = losses[-max(1, len(losses) // 20):]
        return {"metrics": {"head_accuracy": acc, "head_cross_entropy": ce, "head_accuracy_untrained": before[0],
                            "final_loss": sum(tail) / len(tail), "first_loss": losses[0],
                            "train_sentences": len(train), "heldout_sentences": len(held),
                            "head_params": sum(x.numel() for x in M.mlm_head_parameters(mlm))},
                "curves": {"loss": losses}, "model": self.model_info()}

    def lm_record(self) -> dict:
        if self.generated:
            def fn():
                f = self.work_dir / "model" / "TRAINING.json"
                return json.loads(f.read_text()) if f.is_file() else self._train_lm()
            return self.record("lm", fn)
        if self.p.mlm_head_steps > 0:
            return self.record("lm", self._train_head)
        return {"metrics": {"model": self.p.model_name_or_path}, "curves": {}, "model": self.model_info()}

    @cached_property
    def lm(self):
        """(tokenizer, masked LM on the device); an encoder without a head gets the trained head."""
        if self.generated:
            if not (self.work_dir / "model" / "config.json").is_file():
                self._train_lm()
            tok, mlm = M.load_pretrained(str(self.work_dir / "model"))
        elif self.p.mlm_head_steps > 0:
            if not self.head_file.is_file():
                self._train_head()
            tok, mlm = M.with_new_mlm_head(self.model_path)
            mlm.cls.load_state_dict(torch.load(self.head_file, map_location="cpu"))
            mlm.tie_weights()
        else:
            tok, mlm = M.load_pretrained(self.model_path)
        return tok, mlm.to(self.device).eval()

    @cached_property
    def encoder(self):
        """(tokenizer, the encoder alone on the device): means, retrieval (no head needed)."""
        from transformers import AutoModel, AutoTokenizer

        if self.generated or "lm" in self.__dict__:
            tok, mlm = self.lm
            return tok, M.encoder_of(mlm)
        return AutoTokenizer.from_pretrained(self.model_path), AutoModel.from_pretrained(self.model_path).to(self.device).eval()

    # ---------------------------------------------------------------- language means (Sec. 2)
    def _means(self, langs) -> dict[str, torch.Tensor]:
        tok, enc = self.encoder
        return {lang: M.language_means(enc, tok, self.wiki(lang), self.device, self.p.means_tokens,
                                       max_len=self.p.max_seq_length, autocast=self.autocast(),
                                       token_budget=self.p.token_budget)
                for lang in langs}

    def means_record(self) -> dict:
        self.lm_record()

        def fn():
            langs = list(self.p.languages)
            if not self.generated:  # Table 5's languages too (their means shift the parser)
                langs += [x for x in self.p.parse_languages if x not in langs]
            means = self._means(langs)
            corpus = {lang: len(self.wiki(lang)) for lang in langs}
            return {"metrics": summarize_means({k: means[k] for k in self.p.languages}),
                    "means": {k: v.tolist() for k, v in means.items()}, "corpus_sentences": corpus,
                    "names": {k: D.LANGUAGE_NAMES.get(k, k) for k in langs}}

        return self.record("means", fn)

    def means(self) -> dict[str, torch.Tensor]:
        return {k: torch.tensor(v) for k, v in self.means_record()["means"].items()}

    # ---------------------------------------------------------------- token translation (Sec. 3)
    def pairs(self, direction: str) -> tuple[list[str], list[str]]:
        """(source sentences, their translations) of ``direction``: XNLI's parallel test sentences (generated and
        paper data), or the Tatoeba pairs of the non-English side (real data: no XNLI here)."""
        s, t = direction.split("-")
        n = self.p.n_translate
        if self.real:
            if "en" not in (s, t):
                raise ValueError(f"direction {direction}: the real data pair every language with English only")
            xs, en = D.load_tatoeba(self.root("tatoeba"), t if s == "en" else s)
            src, tgt = (en, xs) if s == "en" else (xs, en)
            return self.prefix(src[:n]), self.prefix(tgt[:n])
        xnli = self._xnli()
        return xnli[s][:n], xnli[t][:n]

    @cached_property
    def _xnli_cache(self):
        p = self.p
        langs = sorted({x for d in (*p.directions, p.sweep_direction) for x in d.split("-")} | {"en"})
        return D.load_xnli(self.root("xnli"), langs)

    def _xnli(self):
        return self._xnli_cache

    def translation_record(self) -> dict:
        self.lm_record()
        R = self.means()
        return self.record("translation", lambda: self._translation(R))

    def _translation(self, R) -> dict:
        p = self.p
        tok, mlm = self.lm
        kw = dict(max_len=p.max_seq_length, autocast=self.autocast())
        data = {d: self.pairs(d) for d in dict.fromkeys((*p.directions, p.sweep_direction))}
        toks = {d: (M.tokens(tok, a, p.max_seq_length), M.tokens(tok, b, p.max_seq_length)) for d, (a, b) in data.items()}
        V = {}  # V_L: the token set of each language's sentences (Table 6)
        for d, (a, b) in toks.items():
            s, t = d.split("-")
            V.setdefault(s, set()).update(MT.token_set(a))
            V.setdefault(t, set()).update(MT.token_set(b))

        def run(direction, alpha, layer):
            s, t = direction.split("-")
            vec = alpha * (R[t][layer] - R[s][layer])
            out = M.decode(mlm, tok, data[direction][0], self.device, layer, vec, **kw)
            return out, MT.bleu1(out, toks[direction][1]), MT.convert_rate(out, V[s], V[t])

        rows, samples, third = [], [], []
        for d in T_progress(p.directions, "Table 1"):
            s, t = d.split("-")
            others = set().union(*(V[x] for x in V if x not in (s, t))) - V[s] - V[t]
            for a in p.alphas:
                out, b, c = run(d, a, p.shift_layer)
                rows.append({"direction": d, "alpha": a, "bleu1": b, "convert": c})
                n_out = sum(len(o) for o in out)
                third.append({"direction": d, "alpha": a,
                              "third_language_share": 100.0 * sum(y in others for o in out for y in o) / max(n_out, 1)})
                samples.append({"direction": d, "alpha": a, "input": data[d][0][0], "ground_truth": data[d][1][0],
                                "output": tok.convert_tokens_to_string(out[0])})
        grid = []
        n = M.num_layers(mlm)
        for layer in T_progress(range(n + 1), f"{p.sweep_direction} alpha x layer"):
            for a in p.sweep_alphas:
                _, b, c = run(p.sweep_direction, a, layer)
                grid.append({"layer": layer, "alpha": a, "bleu1": b, "convert": c})
        identity = [{"direction": d, "bleu1_self": MT.bleu1(run(d, 0.0, p.shift_layer)[0], toks[d][0])}
                    for d in p.directions[:1]]
        token_sets = [{"lang": k, "size": len(V[k]), "overlap_en": len(V.get("en", set()) & V[k])} for k in sorted(V)]
        m = {f"table1/{r['direction']}/{kind}/{r['alpha']:g}": r[key] for r in rows
             for kind, key in (("bleu1", "bleu1"), ("convert", "convert"))}
        m.update({f"table6/{r['lang']}/size": r["size"] for r in token_sets})
        m.update({f"table6/{r['lang']}/overlap": r["overlap_en"] for r in token_sets})
        m.update({f"third/{r['direction']}/{r['alpha']:g}": r["third_language_share"] for r in third})
        return {"metrics": m, "table1": rows, "grid": grid, "samples": samples, "token_sets": token_sets,
                "identity": identity, "third_language": third, "n_sentences": {d: len(v[0]) for d, v in data.items()},
                "token_sets_from": "Tatoeba pairs" if self.real else "XNLI test"}

    # ---------------------------------------------------------------- retrieval (Sec. 4)
    def _embed_all(self, texts):
        """Mean-pooled embeddings of every layer and each layer's mean over this data set's tokens."""
        tok, enc = self.encoder
        x, n = M.sentence_embeddings_all(enc, tok, self.prefix(texts), self.device, max_len=self.p.max_seq_length,
                                         autocast=self.autocast())
        R = (x * n[:, None, None]).sum(0) / n.sum()
        return x.to(self.device), R.to(self.device)

    def tatoeba_record(self) -> dict:
        self.lm_record()

        def fn():
            p, out, layers = self.p, {}, {}
            folder = self.root("tatoeba")
            todo = [(lang, D.TATOEBA_CODE[lang]) for lang in p.tatoeba_languages]
            if self.real and p.tatoeba_all:
                known = {c for _, c in todo}
                todo += [(c, c) for c in D.tatoeba_codes(folder) if c not in known and c != "eng"]
            for lang, code in T_progress(todo, "Tatoeba"):
                xs, ys = D.load_tatoeba_code(folder, code)
                x, R_x = self._embed_all(xs[:p.n_tatoeba])
                y, R_y = self._embed_all(ys[:p.n_tatoeba])
                per = {}
                for meth in METHODS:
                    per[meth] = [MT.top1_accuracy(*MT.shifted(x[:, l], y[:, l], R_x[l], R_y[l], meth))
                                 for l in range(x.shape[1])]
                    group = "table2" if lang in p.tatoeba_languages else "tatoeba_all"  # the rest: not Table 2's
                    out[f"{group}/{meth}/{lang}"] = per[meth][p.retrieval_layer]
                layers[lang] = per
            paper = [x for x in p.tatoeba_languages]
            for meth in METHODS:
                out[f"table2/{meth}/Average"] = sum(out[f"table2/{meth}/{x}"] for x in paper) / len(paper)
                avg = [sum(layers[x][meth][l] for x in paper) / len(paper) for l in range(len(layers[paper[0]][meth]))]
                best = max(range(len(avg)), key=avg.__getitem__)
                out[f"best/{meth}/layer"] = best
                out[f"best/{meth}/Average"] = avg[best]
            return {"metrics": out, "layers": layers, "n_pairs": {k: len(v["Original"]) for k, v in layers.items()}}

        return self.record("tatoeba", fn)

    def bucc_record(self) -> dict:
        self.lm_record()

        def fn():
            p, out, extra = self.p, {}, {}
            splits = ("dev",) if self.real else ("sample", "training")
            for lang in T_progress(p.bucc_languages, "BUCC"):
                mined = {}
                for split in splits:
                    folder = self.root("bucc") if self.real else self.root(f"bucc2018_{lang}_{split}")
                    b = D.load_bucc(folder, lang, split)
                    sid, eid = list(b.src), list(b.en)
                    x, R_x = self._embed_all([b.src[i] for i in sid])
                    y, R_y = self._embed_all([b.en[i] for i in eid])
                    l = p.retrieval_layer
                    for meth in METHODS:
                        j, s = MT.margin_candidates(*MT.shifted(x[:, l], y[:, l], R_x[l], R_y[l], meth), k=p.margin_k)
                        mined[split, meth] = ([(sid[a], eid[int(c)]) for a, c in enumerate(j)], s.tolist(), b.gold)
                for meth in METHODS:
                    thr, f_dev = MT.best_threshold(*mined[splits[0], meth])
                    out[f"table3/dev/{meth}/{lang}"] = f_dev
                    extra[f"{meth}/{lang}"] = thr
                    if len(splits) > 1:
                        out[f"table3/test/{meth}/{lang}"] = MT.f1_at(*mined["training", meth][:2],
                                                                      mined["training", meth][2], thr)
            return {"metrics": out, "thresholds": extra,
                    "note": "dev F1 at the threshold tuned on dev itself (no test set here)" if self.real else ""}

        return self.record("bucc", fn)

    # ---------------------------------------------------------------- zero-shot POS (Sec. 5)
    def pos_record(self) -> dict:
        self.lm_record()
        R_pre = self.means()
        return self.record("pos", lambda: self._pos(R_pre))

    def _pos(self, R_pre) -> dict:
        from transformers import AutoModelForTokenClassification

        p, l = self.p, self.p.pos_layer
        tok, _ = self.encoder
        ud = self.ud()
        train = self.ud_train()[:p.pos_max_train]
        kw = dict(max_len=p.max_seq_length, autocast=self.autocast())
        return self._zero_shot(
            R_pre, l, p.pos_languages, lambda lang: D.load_ud(ud, lang, "test"), "POS test",
            make=lambda: AutoModelForTokenClassification.from_pretrained(self.model_path, num_labels=len(T.UPOS)),
            finetune=lambda m, vec: T.finetune_pos(m, tok, train, self.device, p.pos_epochs, p.pos_learning_rate,
                                                   p.pos_batch_size, seed=p.seed, layer=l, vector=vec, **kw),
            score=lambda m, sents, vec: {"table4": T.pos_accuracy(m, tok, sents, self.device, l, vec, **kw)},
            n_train=len(train))

    def _zero_shot(self, R_pre, layer: int, languages, test_of, desc: str, make, finetune, score, n_train: int) -> dict:
        """Sec. 5's protocol for a task: fine-tune on English twice (plainly; with Zero-mean, -R_en of the
        pre-trained model at ``layer``), take the fine-tuned model's language means for MDS, and score every test
        language with Original (no shift), Zero-mean (-R_L of the pre-trained model) and MDS (R_en - R_L of the
        fine-tuned model). ``score`` returns {table prefix: value}; averages over ``languages`` are added."""
        p, l = self.p, layer
        tok, _ = self.encoder
        models, curves = {}, {}
        for name, vec in (("plain", None), ("zero-mean", -R_pre["en"][l])):
            seed_everything(p.seed)
            models[name] = make()
            curves[name] = finetune(models[name], vec)
        # MDS uses the means of the fine-tuned model (Sec. 5.1), on the same corpus as R_pre
        R_ft = {lang: M.language_means(models["plain"], tok, self.wiki(lang), self.device, p.means_tokens,
                                       max_len=p.max_seq_length, autocast=self.autocast(),
                                       token_budget=p.token_budget)
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
        return {"metrics": out, "curves": curves, "n_train": n_train}

    # ---------------------------------------------------------------- zero-shot dependency parsing (Sec. 5, Table 5)
    def parse_record(self) -> dict:
        self.lm_record()
        R_pre = self.means()
        return self.record("parse", lambda: self._parse(R_pre))

    def _parse(self, R_pre) -> dict:
        from transformers import AutoModel

        p = self.p
        tok, enc = self.encoder
        l = M.num_layers(enc) if p.parse_layer < 0 else p.parse_layer
        # Table 5's languages need not be among the profile's languages: their pre-trained means are taken here
        R_pre = {**R_pre, **self._means([x for x in p.parse_languages if x not in R_pre])}
        ud = self.ud(parse=True)
        train = self.ud_train(trees=True)[:p.parse_max_train]
        kw = dict(max_len=p.max_seq_length, autocast=self.autocast())

        def score(m, sents, vec):
            uas, las = T.attachment_scores(m, tok, sents, T.UD_RELS, self.device, l, vec, **kw)
            return {"table5": las, "uas": uas}

        rec = self._zero_shot(
            R_pre, l, p.parse_languages,  # English's test trees are in the POS release (CoNLL 2018's six have none)
            lambda lang: D.load_ud(self.ud() if lang == "en" else ud, lang, "test", trees=True), "parsing test",
            make=lambda: T.BiaffineParser(AutoModel.from_pretrained(self.model_path), len(T.UD_RELS)),
            finetune=lambda m, vec: T.finetune_parser(m, tok, train, T.UD_RELS, self.device, p.parse_epochs,
                                                      p.parse_learning_rate, p.parse_batch_size, seed=p.seed,
                                                      layer=l, vector=vec, **kw),
            score=score, n_train=len(train))
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


# ------------------------------------------------------------------------------------------------ entry points
def _ws(params, profile: str) -> Workspace:
    """One Workspace per (parameters, profile) in this process, so that entry points share the loaded model."""
    key = (profile, repr(params))
    if key not in _WORKSPACES:
        _WORKSPACES.clear()
        _WORKSPACES[key] = Workspace(params, profile)
    return _WORKSPACES[key]


_WORKSPACES: dict = {}


def run_lm(params, profile: str) -> dict:
    """The small masked LM (generated), the MLM head on the frozen encoder (mlm_head_steps > 0), or the model."""
    return _ws(params, profile).lm_record()


def run_means(params, profile: str) -> dict:
    """R_L^l of every language and layer (Sec. 2)."""
    return _ws(params, profile).means_record()


def run_translation(params, profile: str) -> dict:
    """Table 1, Figures 1-2, Tables 6-7: token translation by the mean difference shift."""
    return _ws(params, profile).translation_record()


def run_tatoeba(params, profile: str) -> dict:
    """Table 2: Tatoeba top-1 with Original / Zero-mean / MDS at every layer."""
    return _ws(params, profile).tatoeba_record()


def run_bucc(params, profile: str) -> dict:
    """Table 3: BUCC 2018 mining F1."""
    return _ws(params, profile).bucc_record()


def run_pos(params, profile: str) -> dict:
    """Table 4: zero-shot POS tagging from English."""
    return _ws(params, profile).pos_record()


def run_parse(params, profile: str) -> dict:
    """Table 5: zero-shot dependency parsing from English (LAS and UAS)."""
    return _ws(params, profile).parse_record()
