"""Builds moec._moec against an installed moec (`cmake --install`).

The prefix is $MOEC_PREFIX, or the one whose bin/ holds the moe-compile on
PATH. Its pkg-config file gives the headers and the static runtime (and MPI
where moec was built with it); its bin/ is recorded in moec/_prefix.py for
moec.compile to find the tools.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from pybind11.setup_helpers import Pybind11Extension, build_ext
from setuptools import setup
from setuptools.command.build_py import build_py


def moec_prefix():
    prefix = os.environ.get("MOEC_PREFIX")
    if not prefix:
        tool = shutil.which("moe-compile")
        if not tool:
            sys.exit("moec: set MOEC_PREFIX to an installed moec (cmake --install "
                     "build --prefix P) or put its bin/ on PATH")
        prefix = str(Path(tool).resolve().parent.parent)
    pc = Path(prefix) / "lib" / "pkgconfig" / "moec.pc"
    if not pc.is_file():
        sys.exit(f"moec: {pc} not found: MOEC_PREFIX must be an installed moec "
                 "(cmake --install build --prefix P)")
    return Path(prefix).resolve()


PREFIX = moec_prefix()


def pkg_config(*args):
    env = dict(os.environ, PKG_CONFIG_PATH=str(PREFIX / "lib" / "pkgconfig"))
    try:
        out = subprocess.run(["pkg-config", *args, "moec"], env=env, check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"moec: pkg-config {' '.join(args)} moec failed: {e}")
    return out.split()


class BuildPyWithPrefix(build_py):
    """Records where the tools are, for moec.compile."""

    def run(self):
        super().run()
        target = Path(self.build_lib) / "moec" / "_prefix.py"
        target.write_text(f'"""Written by setup.py."""\nBIN_DIR = {str(PREFIX / "bin")!r}\n')


flags = pkg_config("--cflags")
libs = pkg_config("--libs")
extension = Pybind11Extension(
    "moec._moec",
    ["src/moec_ext.cpp"],
    include_dirs=[f[2:] for f in flags if f.startswith("-I")],
    extra_compile_args=[f for f in flags if not f.startswith("-I")],
    extra_link_args=libs,
    cxx_std=17,
)

setup(ext_modules=[extension], cmdclass={"build_ext": build_ext, "build_py": BuildPyWithPrefix})
