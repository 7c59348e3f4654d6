#!/usr/bin/env bash
# Stage the mbert_lang `real` profile's data for the GPU machine (scripts/device.sh: REPLICATE_DATA=.device-data).
# Writes ONE compressed file, .device-data/mbert_lang-real.tar.xz, holding
#   mbert_lang/real/{tatoeba,ud-r2.5,ud-r2.2-conll2018,bucc2018}   (copied from ../shared/data: data set mbert-real;
#                                                                    Tatoeba only for the TATOEBA languages below)
#   models/e5-small-q4/e5-small-q4.bin + PRUNED.json                 (multilingual-e5-small, 4-bit, its vocabulary
#                                                                    pruned to the pieces these data use)
# The pruned file is what travels: the full one (71.6 MB) would not fit in a call's 64 MiB. On the GPU the chapter
# converts it into a Hugging Face folder on first use (convert.build_hf). Unpack there before the run:
#   tar -xJf .device-data/mbert_lang-real.tar.xz -C .device-data && scripts/device.sh "mbert_lang:real" "mbert_lang"
# Needs the local cache to hold mbert-real, e5-small-q4 and multilingual-e5-small (`replicate data fetch NAME`).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# Tatoeba languages that travel: Table 2's eleven, Table 1's ur/sw, Table 5's kk/ga/hsb/kmr (kur), and 15 more in
# Latin script (cheap in pieces) so that "MDS wins in most languages" is judged on 30 languages. All 112 would keep
# 131,657 pieces (a 47 MB file, too big to travel with the rest).
TATOEBA=${TATOEBA:-"deu spa ara ell fra hin rus vie tha tur cmn urd swh kaz gle hsb kur nld ita por pol ces swe dan fin hun ron ind cat eus est lit"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for name in mbert-real e5-small-q4 multilingual-e5-small; do $PY -m replicate data fetch "$name" >/dev/null; done
OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} $PY - "$work" "$TATOEBA" <<'PYEOF'
import json, shutil, sys
from pathlib import Path
from replicate import data
from replicate.papers.mbert_lang import convert as C, data as D

work = Path(sys.argv[1])
codes = sys.argv[2].split()
real = data.cache_path("mbert-real")
dest = work / "mbert_lang" / "real"
shutil.copytree(real, dest, ignore=shutil.ignore_patterns("tatoeba"))
texts, words = [], []
for f in sorted((real / "tatoeba").rglob("tatoeba.*-eng.*")):
    if f.name.split(".")[1].split("-")[0] not in codes:
        continue
    (dest / f.relative_to(real)).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(f, dest / f.relative_to(real))
    texts += f.read_text(encoding="utf-8").splitlines()
for f in sorted(real.rglob("*.conllu")):
    for s in D.read_conllu(f):
        words.append(s[0])
    texts += [x[9:].strip() for x in f.read_text(encoding="utf-8").splitlines() if x.startswith("# text = ")]
for f in sorted((real / "bucc2018").glob("*-en.dev.*")):
    if not f.name.endswith(".gold"):
        texts += [x.split("\t", 1)[-1] for x in f.read_text(encoding="utf-8").splitlines()]
q = C.read_q4(data.cache_path("e5-small-q4") / "e5-small-q4.bin")
used = C.pieces_used(data.cache_path("multilingual-e5-small"), texts, words)
small, old = C.prune(q, used)
out = work / "models" / "e5-small-q4"
C.write_q4(small, out / "e5-small-q4.bin")
C.read_q4(out / "e5-small-q4.bin")
info = {"pieces_kept": len(old), "pieces_full": len(q.pieces), "texts": len(texts), "word_lists": len(words),
        "tatoeba_languages": codes,
        "rule": "the pieces the tokenizer gives the carried Tatoeba, UD and BUCC zh-en texts, and the special pieces"}
(out / "PRUNED.json").write_text(json.dumps(info, indent=1) + "\n")
print(json.dumps(info))
PYEOF
mkdir -p .device-data
tar -C "$work" -cJf .device-data/mbert_lang-real.tar.xz mbert_lang models
ls -la .device-data/mbert_lang-real.tar.xz
