#!/usr/bin/env bash
# Run chapters' `gpu` profiles and benches on the lent GPU machine (no network there), following
# ../shared/device/README.md. Carry .whl (wheels the GPU image lacks: ../shared/device/wheels.sh) and .device-data
# (real data at hand, e.g. Fashion-MNIST in torchvision's raw layout). Results come back as $OUT/results.tgz.
#
#   scripts/device.sh "neural_mechanics gudn:real" "neural_mechanics"   # chapters[:profile] to run (default gpu),
#                                                                       # chapters to bench
# Extra `replicate run` arguments for every run: RUN_ARGS="-p seed=1"; a chapter's own: "gudn:real:-p,seed=1".
set -uo pipefail
SECONDS=0
run_chapters=${1:-}
bench_chapters=${2:-}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=/tmp/site:$PWD/src PATH=/tmp/site/bin:$PATH PYTHONUNBUFFERED=1
export REPLICATE_DATA=$PWD/.device-data REPLICATE_PROGRESS=0 MPLBACKEND=Agg
# papermill's kernel must see the same packages: register a kernel that uses this python with the same path.
python3 -m ipykernel install --prefix /tmp/site --name python3 >/dev/null 2>&1
export JUPYTER_PATH=/tmp/site/share/jupyter
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
status=0
# Pack what came out after every step, so a run cut off by the call's time limit still returns what finished.
save() { tar czf "$OUT/results.tgz" --exclude='*.pt' --exclude='checkpoints' results; (cd book/executed 2>/dev/null && tar czf "$OUT/executed.tgz" .); }
for spec in $run_chapters; do
  IFS=: read -r ch profile extra <<< "$spec"
  profile=${profile:-gpu}
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout "${RUN_LIMIT:-300}" python3 -m replicate run "$ch" --profile "$profile" -q ${RUN_ARGS:-} ${extra//,/ } 2>&1 \
    | tee -a "$OUT/device.log" || status=1
  echo "== $ch $profile profile: $(( $(date +%s) - start )) s" | tee -a "$OUT/device.log"
  save
done
for ch in $bench_chapters; do
  timeout "${BENCH_LIMIT:-180}" python3 -m replicate bench "$ch" 2>&1 | tee -a "$OUT/device.log" || status=1
  save
done
echo "device.sh done in $SECONDS s"
exit $status
