#!/usr/bin/env bash
# Stage the GUDN `real` profile's data for the GPU machine (scripts/device.sh carries .device-data/, which is
# REPLICATE_DATA there). Everything that travels must stay under 64 MiB in all, so this stages in two parts:
#
#   scripts/stage_gudn.sh data    # the debtags corpus, texts xz-compressed (about 2.5 MB): .device-data/gudn/debtags
#   scripts/stage_gudn.sh model   # all-MiniLM-L6-v2 with its weights rounded to fp16 (about 45 MB; the fp32 file
#                                 # is 91 MB): .device-data/models/all-MiniLM-L6-v2
#   scripts/stage_gudn.sh all     # both (about 48 MB: carry it alone, without other chapters' data)
#
# The source is the local data cache ($REPLICATE_DATA, default ~/.cache/replicate), filled by
#   replicate data fetch gudn-debtags && replicate data fetch all-minilm-l6-v2
# The fp16 copy's SOURCE.json says that it was rounded, from which file (sha256), and the largest change of a
# weight; the training loads it as fp32 (make_encoder), and the records keep that SOURCE.json.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-data}
cache=${REPLICATE_DATA:-$HOME/.cache/replicate}
py=${PYTHON:-.venv/bin/python}
if [[ $what == data || $what == all ]]; then
  src=$cache/gudn/debtags
  [[ -f $src/BUILD.json ]] || { echo "no debtags corpus in $src: run replicate data fetch gudn-debtags" >&2; exit 2; }
  dst=.device-data/gudn/debtags
  rm -rf "$dst" && mkdir -p "$dst"
  for f in "$src"/*.txt; do xz -T1 -9 -c "$f" > "$dst/$(basename "$f").xz"; done
  cp "$src/BUILD.json" "$dst/"
  du -sh "$dst"
fi
if [[ $what == model || $what == all ]]; then
  src=$cache/models/all-MiniLM-L6-v2
  [[ -f $src/model.safetensors ]] || { echo "no model in $src: run replicate data fetch all-minilm-l6-v2" >&2; exit 2; }
  dst=.device-data/models/all-MiniLM-L6-v2
  rm -rf "$dst" && mkdir -p "$dst"
  cp "$src"/{config.json,vocab.txt,tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$dst/"
  "$py" - "$src" "$dst" <<'PY'
import hashlib, json, sys
import torch
from safetensors.torch import load_file, save_file
src, dst = sys.argv[1], sys.argv[2]
w = load_file(f"{src}/model.safetensors")
half = {k: v.to(torch.float16).contiguous() for k, v in w.items()}
err = max(float((half[k].float() - v).abs().max()) for k, v in w.items())
rel = max(float(((half[k].float() - v).abs() / v.abs().clamp(min=1e-3)).max()) for k, v in w.items())
save_file(half, f"{dst}/model.safetensors", metadata={"format": "pt"})
sha = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
info = {"staged_by": "scripts/stage_gudn.sh", "rounded_to": "float16 (for transport; loaded as float32)",
        "from": {"file": "model.safetensors", "sha256": sha(f"{src}/model.safetensors"),
                 "source": json.load(open(f"{src}/SOURCE.json")) if __import__("os").path.exists(f"{src}/SOURCE.json") else None},
        "max_abs_change": err, "max_rel_change_above_1e-3": rel, "sha256": sha(f"{dst}/model.safetensors")}
json.dump(info, open(f"{dst}/SOURCE.json", "w"), indent=1)
print(f"fp16 copy: largest change of a weight {err:.2e} (relative {rel:.2e})")
PY
  du -sh "$dst"
fi
du -sh .device-data 2>/dev/null || true
