#!/usr/bin/env bash
# `make check-python`: install build/ into a fresh prefix, `pip install
# ./python` against it into a virtual environment (Debian's python3 with
# its numpy, pybind11 and matplotlib: --system-site-packages), then run
# examples/python/run_layer.py and python/tests. The Hugging Face drop-in's
# test (moec.torch.patch on every family) needs torch and transformers,
# which only PyPI has: they are installed into the venv (about 3 GB with
# torch's CUDA libraries; 89 s on the 2-core CI machine's network) unless
# MOEC_CHECK_TORCH=0, which skips those tests.
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/moec-check-python.XXXXXX")
trap 'rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
/usr/bin/python3 -m venv --system-site-packages "$work/venv"
# Build from a copy: pip's in-tree build would leave build/ and egg-info
# in python/.
cp -r python "$work/src"
start=$(date +%s)
MOEC_PREFIX="$work/prefix" "$work/venv/bin/pip" install --quiet --no-build-isolation \
  --no-deps --disable-pip-version-check "$work/src" > "$work/pip.log" 2>&1 || {
  cat "$work/pip.log" >&2
  exit 1
}
echo "check-python: pip install ./python took $(( $(date +%s) - start )) s"
if [ "${MOEC_CHECK_TORCH:-1}" != 0 ]; then
  start=$(date +%s)
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check \
    torch==2.15.0 transformers==5.24.0 > "$work/pip-torch.log" 2>&1 || {
    cat "$work/pip-torch.log" >&2
    exit 1
  }
  echo "check-python: pip install torch transformers took $(( $(date +%s) - start )) s"
fi
# Out of the source tree, so that `import moec` is the installed package.
cd "$work"
"$work/venv/bin/python" "$root/examples/python/run_layer.py" \
  "$root/examples/configs/mixtral-tiny/config.json" | sed 's/^/  /'
MOEC_SOURCE="$root" "$work/venv/bin/python" -m unittest discover -s "$root/python/tests" -v 2>&1 |
  tee "$work/unittest.log" | sed 's/^/  /'
grep -q "^OK" "$work/unittest.log" || { echo "check-python: FAILED" >&2; exit 1; }
echo "check-python: OK"
