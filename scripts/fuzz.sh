#!/usr/bin/env bash
# Runs each libFuzzer target for a bounded time from its seed corpus
# (fuzz/corpus/<name>) plus the inputs of earlier crashes
# (fuzz/regressions/<name>), with a fixed seed so that a run is repeatable:
# a slower machine explores a prefix of a faster one's run. Fails on any
# crash, sanitizer report, timeout (-timeout) or out-of-memory (-rss_limit_mb).
#
#   scripts/fuzz.sh BUILD_DIR [SECONDS_PER_FUZZER]
set -euo pipefail
build=${1:?usage: scripts/fuzz.sh BUILD_DIR [SECONDS]}
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
work="$build/fuzz-work"
rm -rf "$work" && mkdir -p "$work"

declare -A dicts=([npy]=npy [safetensors]=json [shard-index]=json
                  [hf-config]=json [placement]=json [mlir]=mlir)
status=0
printf '%-14s %10s %10s %8s  %s\n' fuzzer runs exec/s corpus result
for name in npy safetensors shard-index hf-config placement mlir; do
  corpus="$work/$name"
  mkdir -p "$corpus" "$work/artifacts-$name"
  cp "$root/fuzz/corpus/$name"/* "$corpus/"
  inputs=("$corpus")
  [ -d "$root/fuzz/regressions/$name" ] && inputs+=("$root/fuzz/regressions/$name")
  log="$work/$name.log"
  result=ok
  TMPDIR="$work" "$build/bin/moe-fuzz-$name" "${inputs[@]}" \
    -seed=1 -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
    -max_len=8192 -dict="$root/fuzz/dict/${dicts[$name]}.dict" \
    -artifact_prefix="$work/artifacts-$name/" -print_final_stats=1 \
    >"$log" 2>&1 || { result="FAILED (see $log)"; status=1; }
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
  rate=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$log" | tail -n 1)
  size=$(ls "$corpus" | wc -l)
  printf '%-14s %10s %10s %8s  %s\n' "$name" "${runs:-?}" "${rate:-?}" "$size" "$result"
  if [ "$result" != ok ]; then
    grep -E "ERROR|SUMMARY|==[0-9]+==|runtime error|Test unit written" "$log" | head -n 20 || true
  fi
done
exit "$status"
