# -*- Python -*-
# lit configuration for the moec test suite.

import os
import subprocess
import sys

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "MOE"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py", "Inputs", "Unit"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.moe_obj_root, "test")

config.substitutions.append(("%PATH%", config.environment["PATH"]))
config.substitutions.append(("%moe_src_root", config.moe_src_root))
# Test helpers are standard-library Python, run by the Python running lit.
config.substitutions.append(("%python", sys.executable))

llvm_config.with_system_environment(["HOME", "TMP", "TEMP"])
llvm_config.use_default_substitutions()

# Tests run the tools just built, then LLVM's FileCheck/not/count.
llvm_config.with_environment("PATH", config.moe_tools_dir, append_path=True)
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)

tools = [ToolSubst(name, unresolved="fatal")
         for name in ["moe-opt", "moe-translate", "moe-compile", "moe-run",
                      "moe-plan"]]
llvm_config.add_tool_substitutions(tools, [config.moe_tools_dir])

# JIT execution tests run lowered modules with Debian's mlir-runner and the
# runner utilities (printMemrefF32, memrefCopy).
lib_dir = os.path.join(os.path.dirname(config.llvm_tools_dir), "lib")
config.substitutions.append(
    ("%mlir_runner_libs",
     "-shared-libs=" + ",".join([os.path.join(lib_dir, name) for name in
                                 ["libmlir_c_runner_utils.so", "libmlir_runner_utils.so",
                                  "libomp.so"]] + [config.moe_embedded_runtime_so])))
config.substitutions.append(
    ("%mlir_runner", os.path.join(config.llvm_tools_dir, "mlir-runner")))

# GPU codegen tests check the emitted PTX with ptxas (no GPU needed):
# spills and wgmma serialisation notes fail them (scripts/check-ptx.py).
config.substitutions.append(
    ("%check-ptx", sys.executable + " " +
     os.path.join(config.moe_src_root, "scripts", "check-ptx.py")))
import shutil
if shutil.which("ptxas") or os.path.exists("/usr/local/cuda/bin/ptxas"):
    config.available_features.add("ptxas")
# The NVVM target links libdevice (math.exp, math.erf of the epilogues) from
# the toolkit it finds through these variables: pass them on, else name the
# toolkit whose ptxas the tests use.
for var in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT"):
    if var in os.environ:
        config.environment[var] = os.environ[var]
if "ptxas" in config.available_features and not any(
        var in os.environ for var in ("CUDA_HOME", "CUDA_PATH", "CUDA_ROOT")):
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    config.environment["CUDA_HOME"] = os.path.dirname(
        os.path.dirname(os.path.realpath(ptxas)))

# Engine features for `REQUIRES:`.
if config.moe_have_cuda:
    config.available_features.add("cuda")
if config.moe_have_nccl:
    config.available_features.add("nccl")
if config.moe_have_mpi:
    config.available_features.add("mpi")


def count_cuda_devices():
    """The CUDA devices this machine can use: what moe-nccl-check --probe
    finds where it is built (exit 0 and "cuda devices: N"), else how many GPUs
    nvidia-smi -L lists; 0 on any failure."""
    probe = os.path.join(config.moe_tools_dir, "moe-nccl-check")
    command = [probe, "--probe"] if os.path.exists(probe) else ["nvidia-smi", "-L"]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return 0
    if result.returncode != 0:
        return 0
    if command[0] == probe:
        for line in result.stdout.splitlines():
            if line.startswith("cuda devices: "):
                return int(line.split(": ", 1)[1])
        return 0
    return sum(1 for line in result.stdout.splitlines() if line.startswith("GPU "))


# A usable GPU (`cuda-device`), and several (`multi-gpu`: NCCL runs one rank
# per GPU, so its multi-rank tests need them).
cuda_devices = count_cuda_devices()
if cuda_devices >= 1:
    config.available_features.add("cuda-device")
if cuda_devices >= 2:
    config.available_features.add("multi-gpu")
sys.path.insert(0, os.path.dirname(__file__))
import sanitizers
sanitizers.configure(config, config.moe_sanitize, config.moe_src_root)

# Ranks of expert parallelism on one machine: more ranks than cores, and as
# root where CI runs as root (OpenMPI refuses both by default). The ranks
# inherit the environment, sanitizer settings included (see sanitizers.py
# for the one they change).
config.substitutions.append(
    ("%mpirun", sanitizers.mpi_environment(config) + "mpirun --oversubscribe" +
     (" --allow-run-as-root" if os.geteuid() == 0 else "")))
# C test programs that load a compiled library are built as it is: with the
# sanitizers' runtimes in a sanitizer build.
config.substitutions.append(
    ("%sanitize_cflags",
     "-fsanitize=" + config.moe_sanitize if config.moe_sanitize else ""))
