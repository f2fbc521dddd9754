#!/usr/bin/env bash
# device-check.sh - the NCCL communicator on a GPU machine, in one run of
# a few minutes; needs no network.
#
#   scripts/device-check.sh            (from any folder; builds in build-device/)
#
# Builds moe-nccl-check (lib/Runtime/Comm/NCCLCommunicator.cpp, the MPI
# communicator and tools/moe-nccl-check), then runs its checks at one rank:
# device exchanges checked byte by byte, sizes the ranks disagree on, a
# timeout and the abort it causes. Where MPI is installed it also runs
# under mpirun: -np 1, and -np 2, which must be refused with NCCL's
# one-rank-per-GPU rule on a machine of one GPU and must pass on two.
#
# With LLVM/MLIR 22 installed it builds through the project's CMake and runs
# the lit tests of test/Integration/NCCL too. Without them (the lent GPU
# machines have none) it compiles the three sources directly against the
# CUDA toolkit's static runtime and the first NCCL it finds: $NCCL_HOME,
# the toolkit, /usr, or the nvidia-nccl Python wheel. Prints one
# "device-check: STEP: ok|FAILED|skipped" line per step, each command's
# output before it, and exits 1 if a step failed.
set -u
cd "$(dirname "$0")/.."
BUILD=${DEVICE_CHECK_BUILD:-build-device}
mkdir -p "$BUILD"
failed=0

report() { # STEP STATUS [WHY]
  echo "device-check: $1: $2${3:+ ($3)}"
  [ "$2" = FAILED ] && failed=1
  return 0
}

# Runs a command with a time limit; prints its output and exit status.
step() { # LIMIT COMMAND...
  local limit=$1
  shift
  echo "+ $*"
  timeout --kill-after=10 "$limit" "$@" 2>&1
  local status=$?
  echo "exit status $status"
  return $status
}

nvidia-smi -L || report nvidia-smi FAILED "no GPU listed"

NVCC=$(command -v nvcc || true)
CUDA_HOME=${CUDA_HOME:-$([ -n "$NVCC" ] && dirname "$(dirname "$NVCC")" || echo /usr/local/cuda)}
echo "CUDA toolkit: $CUDA_HOME"

if [ -d /usr/lib/llvm-22/lib/cmake/mlir ]; then
  # The project's build: CMake finds CUDA, NCCL and MPI itself.
  # (MoERuntimeNCCL needs MPI for the unique id.)
  if step 240 cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DMOEC_ENABLE_NCCL=ON -DMOEC_ENABLE_MPI=ON &&
      step 240 ninja -C "$BUILD" moe-nccl-check; then
    report build ok "CMake"
  else
    report build FAILED "CMake"
    exit 1
  fi
  CHECK=$BUILD/bin/moe-nccl-check
  HAVE_MPI=yes
else
  # No LLVM: compile the NCCL pieces alone.
  NCCL_INC= NCCL_LIB=
  WHEEL=$(python3 -c 'import nvidia.nccl as m; print(list(m.__path__)[0])' 2>/dev/null || true)
  for dir in ${NCCL_HOME:-} "$CUDA_HOME" /usr /usr/local $WHEEL; do
    [ -f "$dir/include/nccl.h" ] || continue
    for lib in "$dir"/lib64/libnccl.so.2 "$dir"/lib/libnccl.so.2 \
               "$dir"/lib/x86_64-linux-gnu/libnccl.so.2; do
      if [ -f "$lib" ]; then
        NCCL_INC=$dir/include NCCL_LIB=$lib
        break 2
      fi
    done
  done
  if [ -z "$NCCL_LIB" ]; then
    report build FAILED "no nccl.h with libnccl.so.2 found; set NCCL_HOME"
    exit 1
  fi
  echo "NCCL: $NCCL_INC, $NCCL_LIB"
  CUDART=$(ls "$CUDA_HOME"/lib64/libcudart_static.a "$CUDA_HOME"/lib/libcudart_static.a \
             "$CUDA_HOME"/targets/*/lib/libcudart_static.a 2>/dev/null | head -1)
  CUDA_INC=$(dirname "$(ls "$CUDA_HOME"/include/cuda_runtime.h \
             "$CUDA_HOME"/targets/*/include/cuda_runtime.h 2>/dev/null | head -1)")
  if [ -z "$CUDART" ] || [ "$CUDA_INC" = . ]; then
    report build FAILED "no libcudart_static.a or cuda_runtime.h under $CUDA_HOME; set CUDA_HOME"
    exit 1
  fi
  echo "CUDA runtime: $CUDA_INC, $CUDART"
  # Without MPI the communicator runs at one rank alone.
  MPI_FLAGS=() HAVE_MPI=no
  if command -v mpicxx >/dev/null; then
    read -r -a MPI_FLAGS <<<"-DMOEC_HAVE_MPI $(mpicxx --showme:compile) $(mpicxx --showme:link)"
    HAVE_MPI=yes
  fi
  if step 240 "${CXX:-c++}" -std=c++17 -O2 -Iinclude -I"$CUDA_INC" \
      -I"$NCCL_INC" lib/Runtime/Comm/NCCLCommunicator.cpp \
      lib/Runtime/Comm/MPICommunicator.cpp \
      tools/moe-nccl-check/moe-nccl-check.cpp -o "$BUILD/moe-nccl-check" \
      "$CUDART" "$NCCL_LIB" \
      -Wl,-rpath,"$(dirname "$NCCL_LIB")" -ldl -lrt -lpthread "${MPI_FLAGS[@]}"; then
    report build ok "direct; MPI: $HAVE_MPI"
  else
    report build FAILED "direct"
    exit 1
  fi
  CHECK=$BUILD/moe-nccl-check
fi

step 60 "$CHECK" --probe
case $? in
  0) report probe ok ;;
  3) report probe FAILED "no CUDA device: nothing below can pass"; exit 1 ;;
  *) report probe FAILED ;;
esac
DEVICES=$("$CHECK" --probe 2>/dev/null | sed -n 's/^cuda devices: //p')

if step 120 "$CHECK" --timeout 30; then
  report "one rank" ok
else
  report "one rank" FAILED
fi

MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
if [ $HAVE_MPI = no ] || ! command -v mpirun >/dev/null; then
  report "mpirun -np 1" skipped "no MPI"
  report "mpirun -np 2" skipped "no MPI"
else
  if step 120 "${MPIRUN[@]}" -np 1 "$CHECK" --timeout 30; then
    report "mpirun -np 1" ok
  else
    report "mpirun -np 1" FAILED
  fi
  output=$(step 120 "${MPIRUN[@]}" -np 2 "$CHECK" --timeout 30)
  echo "$output"
  if [ "${DEVICES:-0}" -ge 2 ]; then
    [ "$(grep -c 'all checks passed' <<<"$output")" = 2 ] &&
      report "mpirun -np 2" ok || report "mpirun -np 2" FAILED
  else
    [ "$(grep -c 'NCCL runs one rank per GPU' <<<"$output")" = 2 ] &&
      report "mpirun -np 2 (refused on one GPU)" ok ||
      report "mpirun -np 2 (refused on one GPU)" FAILED
  fi
fi

if [ -d /usr/lib/llvm-22/lib/cmake/mlir ]; then
  if step 180 /usr/lib/llvm-22/bin/lit -sv "$BUILD/test/Integration/NCCL"; then
    report lit ok
  else
    report lit FAILED
  fi
else
  report lit skipped "no LLVM 22: lit's FileCheck and the CMake build are missing"
fi

[ $failed = 0 ] && echo "device-check: all steps passed" ||
  echo "device-check: some steps FAILED"
exit $failed
