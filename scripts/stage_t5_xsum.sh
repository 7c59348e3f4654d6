#!/usr/bin/env bash
# Stage the T5/XSum chapter's real data for the GPU machine (no network there), where scripts/device.sh sets
# REPLICATE_DATA=$PWD/.device-data, so the data cache's t5_xsum/ folder is .device-data/t5_xsum/:
#   .device-data/t5_xsum/debian-summaries/{train,validation,test}.jsonl.xz, counts.json   (~5 MB, xz)
#   .device-data/t5_xsum/xsum-sample/xsum-1000.jsonl, XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json   (~5 MB)
# Both are built here first (`replicate data fetch`): the Debian pairs from the debian-packages records (fetch
# those first), the XSum sample copied from shared/data/xsum-sample with each file's sha256 checked.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
$PY -m replicate data fetch xsum-sample
$PY -m replicate data fetch debian-summaries
cache=$($PY -c "from replicate import paths; print(paths.data_dir())")
mkdir -p .device-data/t5_xsum
for d in debian-summaries xsum-sample; do
  rm -rf ".device-data/t5_xsum/$d"
  cp -r "$cache/t5_xsum/$d" ".device-data/t5_xsum/$d"
done
du -sh .device-data/t5_xsum
