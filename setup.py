"""Build the optional fused feature kernel; everything else is configured in pyproject.toml.

The kernel is plain C++ with a C ABI (no Python or torch headers), loaded with ctypes. It is
compiled for the installing machine's CPU where the compiler allows it, else with portable
flags; if it cannot be compiled at all, installation still succeeds and the features use their
torch path (same values, slower). It is linked with OpenMP, by soname: torch's wheels ship
their own ``libgomp.so.1``, which is loaded first (the binding imports torch), so the kernel's
parallel loop runs on torch's thread pool instead of a second pool competing for the cores.
Without OpenMP the kernel runs on one thread.
"""

import platform
import sys
import warnings

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, LinkError

if sys.platform == "win32":
    FLAG_SETS = [(["/O2", "/std:c++17", "/openmp"], []), (["/O2", "/std:c++17"], [])]
else:
    portable = ["-O3", "-std=c++17"]
    native = [*portable, "-march=native"]
    # the inner loops run over 16 atoms: full-width AVX-512 where the CPU has it
    wide = [*native, "-mprefer-vector-width=512"] if platform.machine() in ("x86_64", "AMD64") else native
    FLAG_SETS = [
        *(([*flags, "-fopenmp"], ["-fopenmp"]) for flags in (wide, native, portable)),
        (portable, []),
    ]


class BuildKernel(build_ext):
    """Try the flag sets in order; give up with a warning rather than fail the installation."""

    def build_extension(self, ext: Extension) -> None:
        for compile_flags, link_flags in FLAG_SETS:
            ext.extra_compile_args, ext.extra_link_args = compile_flags, link_flags
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
        )
    ],
    cmdclass={"build_ext": BuildKernel},
)
