#!/usr/bin/env bash
# run.sh - the GPU checks and benchmark in one run on the device machine,
# from the repository root, with the bundle that scripts/gpu-bundle.sh built
# here (device tool: carry [".gpu-bundle"], timeout_s 540):
#
#   bash bench/gpu/run.sh            results in $OUT (default gpu-results/)
#   BENCH_ARGS="--tokens 1,128,2048 --shapes mixtral-8x7b" bash bench/gpu/run.sh
#                                    a smaller grid (bench/gpu/bench.py --help)
#
# 1. the device: name, driver, clocks, torch;
# 2. correctness (bench/gpu/check.py): each tiny family, sm_90a and sm_80
#    libraries, at the stated bf16 tolerance against the CPU reference;
#    batch invariance (1 vs 4096 tokens, bit for bit); determinism (two
#    runs, identical bytes);
# 3. the lit tests of test/Integration/CUDA where lit and moe-compile are
#    there (the GPU machines have neither: step 2 covers the same);
# 4. the benchmark (bench/gpu/bench.py) on the full-size layers.
# Every part is time-boxed (all of it under 8 minutes) and the run goes on
# after a failure. Writes run.log, checks.json, bench.json, bench.md and
# summary.json to $OUT, prints "run: STEP: STATUS" lines and exits 1 if a
# step failed.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-gpu-results}
BUNDLE=${BUNDLE:-.gpu-bundle}
CHECK_SECONDS=${CHECK_SECONDS:-120}
BENCH_SECONDS=${BENCH_SECONDS:-300}
mkdir -p "$OUT"
exec > >(tee "$OUT/run.log") 2>&1
export PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
START=$(date +%s)
declare -A STATUS

say() { echo "$(date -u +%H:%M:%S) [$(($(date +%s) - START))s] $*"; }
# Runs a step with a time limit: STEP SECONDS COMMAND...
step() {
  local name=$1 limit=$2
  shift 2
  say "== $name (at most ${limit}s): $*"
  timeout --kill-after=10 "$limit" "$@"
  local rc=$?
  case $rc in
  0) STATUS[$name]=ok ;;
  124 | 137) STATUS[$name]="timed out" ;;
  *) STATUS[$name]="FAILED (exit $rc)" ;;
  esac
  say "run: $name: ${STATUS[$name]}"
}

say "== device"
nvidia-smi --query-gpu=name,driver_version,pci.bus_id,memory.total,clocks.sm,clocks.mem,clocks.max.sm,clocks.max.mem,power.limit,temperature.gpu --format=csv ||
  say "nvidia-smi failed"
$PY -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).multi_processor_count, "SMs")' ||
  say "torch sees no GPU"
uname -r
ldd --version | head -1

if [ ! -f "$BUNDLE/bundle.json" ]; then
  say "run: bundle: FAILED (no $BUNDLE/bundle.json: run scripts/gpu-bundle.sh here and carry it)"
  exit 1
fi
cat "$BUNDLE/bundle.json"
# The libraries must load here: only the C library is allowed.
for so in "$BUNDLE"/lib/*.so; do
  ldd "$so" | grep -q 'not found' && say "run: ldd $so: FAILED" && ldd "$so"
done

step checks "$CHECK_SECONDS" $PY bench/gpu/check.py --bundle "$BUNDLE" \
  --json "$OUT/checks.json" --deadline $((CHECK_SECONDS - 20))

if command -v lit >/dev/null && [ -x build/bin/moe-compile ]; then
  step lit 60 lit -sv build/test/Integration/CUDA
else
  STATUS[lit]="skipped (no lit or no build/ here; checks cover it)"
  say "run: lit: ${STATUS[lit]}"
fi

step bench $((BENCH_SECONDS + 30)) $PY bench/gpu/bench.py --bundle "$BUNDLE" \
  --json "$OUT/bench.json" --table "$OUT/bench.md" --deadline "$BENCH_SECONDS" \
  ${BENCH_ARGS:-}

nvidia-smi --query-gpu=clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv || true
failed=0
{
  echo "{\"seconds\": $(($(date +%s) - START)), \"steps\": {"
  sep=""
  for name in checks lit bench; do
    echo "$sep\"$name\": \"${STATUS[$name]:-not run}\""
    sep=","
    case ${STATUS[$name]:-} in ok | skipped*) ;; *) failed=1 ;; esac
  done
  echo "}}"
} >"$OUT/summary.json"
cat "$OUT/summary.json"
say "run: done in $(($(date +%s) - START))s"
# Let tee write the end of run.log before the machine collects $OUT.
exec 1>&- 2>&-
sleep 1
exit $failed
