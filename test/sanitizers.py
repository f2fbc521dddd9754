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
