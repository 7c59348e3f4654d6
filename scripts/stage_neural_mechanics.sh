#!/usr/bin/env bash
# Stage the Neural Mechanics chapter's GPU data into the ignored folder .device-data/ (carried to the GPU machine by
# scripts/device.sh conventions): Fashion-MNIST's four gz files (30 MB) in torchvision's raw layout, for the `gpu`
# profile and scripts/resume_check.py. Sources, first found: the data cache ($REPLICATE_DATA or
# ~/.cache/replicate)/fashion-mnist, a Debian package already unpacked in /tmp/fm, or Debian's
# `dataset-fashion-mnist` (apt-get download; ../shared/device/README.md). The paper slice needs no data (generated).
set -euo pipefail
cd "$(dirname "$0")/.."
dst=.device-data/fashion-mnist/FashionMNIST/raw
files="train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz"
have() { for f in $files; do [ -s "$1/$f" ] || return 1; done; }
if have "$dst"; then echo "Fashion-MNIST already staged in $dst"; du -sh "$dst"; exit 0; fi
cache=${REPLICATE_DATA:-$HOME/.cache/replicate}/fashion-mnist/FashionMNIST/raw
src=""
if have "$cache"; then src=$cache
elif have /tmp/fm/usr/share/datasets/fashion-mnist; then src=/tmp/fm/usr/share/datasets/fashion-mnist
else
  work=$(mktemp -d)
  (cd "$work" && apt-get download dataset-fashion-mnist >/dev/null && dpkg -x dataset-fashion-mnist_*.deb fm)
  src=$work/fm/usr/share/datasets/fashion-mnist
  have "$src" || { echo "dataset-fashion-mnist did not hold the four gz files in $src" >&2; exit 1; }
fi
mkdir -p "$dst"
for f in $files; do cp "$src/$f" "$dst/$f.part" && mv "$dst/$f.part" "$dst/$f"; done
echo "Fashion-MNIST staged in $dst from $src"; du -sh "$dst"
