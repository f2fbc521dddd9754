#!/usr/bin/env bash
# What the benchmark needs beyond the build: OpenBLAS (the sgemm roofline)
# and Debian's PyTorch and NumPy (the eager peer), Matplotlib (the scaling
# plot of the expert-parallel cost model). Not needed for tests.
set -euo pipefail
packages=(libopenblas-dev python3-torch python3-numpy python3-matplotlib)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
