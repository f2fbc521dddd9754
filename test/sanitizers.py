# Sanitizer settings for lit, shared by the regression and unit suites.
# In a sanitizer build (MOEC_SANITIZE) every report aborts the process, so a
# test fails even where it expects a non-zero exit (`not` treats a signal as
# a failure).

import os


def configure(config, sanitize, src_root):
    if not sanitize:
        return
    config.available_features.add("sanitizer")
    common = "abort_on_error=1:halt_on_error=1:print_stacktrace=1"
    config.environment["ASAN_OPTIONS"] = common + ":detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
    config.environment["UBSAN_OPTIONS"] = common
    # use_tls=0: gcc 12's LeakSanitizer crashes walking the dynamic TLS of
    # libomp's worker threads (glibc 2.36); no root lives only in TLS here.
    config.environment["LSAN_OPTIONS"] = "use_tls=0:suppressions=" + os.path.join(
        src_root, "test", "lsan.supp") + ":print_suppressions=0"


def mpi_environment(config):
    """What runs before mpirun: in a sanitizer build, the ranks' ASan
    settings without leak detection. OpenMPI loads its components with
    dlopen and unloads them at MPI_Finalize, leaving allocations LeakSanitizer
    can attribute to no module (a bare MPI_Init/MPI_Finalize program reports
    them too), so no suppression can name them. The same code paths run
    leak-checked in the single-process tests; ASan and UBSan stay on."""
    options = config.environment.get("ASAN_OPTIONS")
    if not options:
        return ""
    return "env ASAN_OPTIONS=%s:detect_leaks=0 " % options.replace(
        ":detect_leaks=1", "")
