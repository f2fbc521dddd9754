# -*- Python -*-
# lit configuration for the gtest unit tests: every test binary in this build
# folder whose name ends in "Tests".

import os
import sys

import lit.formats

config.name = "MOE-Unit"
config.suffixes = []
config.test_source_root = config.moe_unit_obj_root
config.test_exec_root = config.moe_unit_obj_root
config.test_format = lit.formats.GoogleTest(".", "Tests")

sys.path.insert(0, os.path.join(config.moe_src_root, "test"))
import sanitizers
sanitizers.configure(config, config.moe_sanitize, config.moe_src_root)
