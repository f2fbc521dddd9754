#!/usr/bin/env bash
# Installs exactly the Debian packages moec needs to build and test, skipping
# those already present. Every entry point (Makefile targets, .ci/run) calls it
# first, so a bare machine of the project's kind needs nothing else.
set -euo pipefail

# clang-22 and its runtimes build the libFuzzer targets (make fuzz); OpenMPI
# is the CPU communicator of expert parallelism and runs its tests (mpirun);
# pkg-config finds the installed runtime in make check-install; Debian's
# python3 with venv, headers, pybind11, numpy and matplotlib builds and tests
# the Python package (make check-python).
packages=(
  cmake ninja-build g++ make ccache python3 libgtest-dev nlohmann-json3-dev
  llvm-22-dev llvm-22-tools libmlir-22-dev mlir-22-tools libomp-22-dev
  clang-22 libclang-rt-22-dev openmpi-bin libopenmpi-dev pkg-config
  python3-venv python3-dev python3-pybind11 python3-numpy python3-setuptools
  python3-wheel python3-matplotlib
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
