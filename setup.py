"""Build script: compiles the one Cython extension, pyhaproxy._core, from ext/_core.pyx."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

annotate = os.environ.get("PYHAPROXY_ANNOTATE") == "1"
extra = ["-O2", "-fno-strict-aliasing"]
if os.environ.get("PYHAPROXY_ASAN") == "1":
    extra += ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"]

ext = Extension(
    "pyhaproxy._core",
    sources=["ext/_core.pyx"],
    include_dirs=["ext"],
    extra_compile_args=extra,
    extra_link_args=["-fsanitize=address"] if os.environ.get("PYHAPROXY_ASAN") == "1" else [],
)

setup(
    ext_modules=cythonize(
        [ext],
        include_path=["ext", "ext/includes"],
        language_level=3,
        annotate=annotate,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
