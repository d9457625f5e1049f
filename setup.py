"""Build step for the optional C confidence kernel (kernels/cpu/confidence.c); everything else is in pyproject.toml.

The kernel is an ordinary shared library loaded with ctypes (no Python C API),
built as an *optional* setuptools extension: where no C compiler is there the
build warns and the install still succeeds, and dgcode uses its numpy path
(dgcode/engine/confidence_kernel.py says so once on stderr). `pip install -e .`
builds it in place, into dgcode/engine/_kernels/; a wheel carries it at the
same place.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# No -ffast-math: the kernel relies on IEEE float semantics and its own summation order (docs/kernels.md).
# -fno-trapping-math only lets gcc if-convert selects (it changes no computed value); -ffp-contract=fast lets
# the AVX2 / AVX-512 clones fuse multiply-adds (about 20% faster; their last bits may differ from baseline's).
UNIX_FLAGS = ["-O3", "-std=c11", "-pthread", "-ffp-contract=fast", "-fno-trapping-math", "-fvisibility=hidden"]


class BuildKernels(build_ext):
    """build_ext for plain shared libraries: compiler-specific flags, no PyInit_ symbol expected."""

    def build_extensions(self):
        for ext in self.extensions:
            if self.compiler.compiler_type == "unix":
                ext.extra_compile_args = UNIX_FLAGS
                ext.extra_link_args = ["-pthread", "-lm"]
            elif self.compiler.compiler_type == "msvc":
                ext.extra_compile_args = ["/O2", "/fp:precise"]
        super().build_extensions()

    def get_export_symbols(self, ext):
        return ext.export_symbols  # the C ABI's own exported functions, not PyInit_<name>

    def copy_extensions_to_source(self):  # --inplace and editable installs: the folder holds no Python
        build_py = self.get_finalized_command("build_py")
        for ext in self.extensions:
            os.makedirs(build_py.get_package_dir(ext.name.rpartition(".")[0]), exist_ok=True)
        super().copy_extensions_to_source()

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:  # an optional extension: never fail the install
            print(f"dgcode: the C confidence kernel was not built ({exc}); dgcode will use numpy",
                  file=sys.stderr)


setup(
    ext_modules=[Extension("dgcode.engine._kernels.confidence", sources=["kernels/cpu/confidence.c"],
                           include_dirs=["kernels/cpu"], depends=["kernels/cpu/confidence.h"],
                           optional=True)],
    cmdclass={"build_ext": BuildKernels},
)
