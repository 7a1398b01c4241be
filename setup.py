"""Build the optional fused feature kernel; everything else is configured in pyproject.toml.

The kernel is plain C++ with a C ABI (no Python or torch headers), loaded with ctypes. It is
compiled for the installing machine's CPU where the compiler allows it, else with portable
flags; if it cannot be compiled at all, installation still succeeds and the features use their
torch path (same values, slower).
"""

import platform
import sys
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, LinkError

if sys.platform == "win32":
    FLAG_SETS = [["/O2", "/std:c++17"]]
else:
    portable = ["-O3", "-std=c++17", "-pthread"]
    native = [*portable, "-march=native"]
    # the inner loops run over 16 atoms: full-width AVX-512 where the CPU has it
    wide = [*native, "-mprefer-vector-width=512"] if platform.machine() in ("x86_64", "AMD64") else native
    FLAG_SETS = [wide, native, portable]


class BuildKernel(build_ext):
    """Try the flag sets in order; give up with a warning rather than fail the installation."""

    def build_extension(self, ext: Extension) -> None:
        for flags in FLAG_SETS:
            ext.extra_compile_args = flags
            try:
                super().build_extension(ext)
                return
            except (CCompilerError, CompileError, LinkError) as error:
                failure = error
        warnings.warn(f"fused feature kernel not built ({failure}); using the torch path", stacklevel=1)


setup(
    ext_modules=[
        Extension(
            "spacegroup_nn._symmetrized_fourier",
            ["spacegroup_nn/csrc/symmetrized_fourier.cpp"],
            language="c++",
            extra_link_args=[] if sys.platform == "win32" else ["-pthread"],
        )
    ],
    cmdclass={"build_ext": BuildKernel},
)
