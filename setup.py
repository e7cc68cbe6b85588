"""Build script: compiles pyhaproxy._core (the worker, ext/_core.pyx) and pyhaproxy._h1test (the
scanner's test and benchmark hooks, ext/_h1test.pyx: kept out of the worker's module)."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

annotate = os.environ.get("PYHAPROXY_ANNOTATE") == "1"
extra = ["-O2", "-fno-strict-aliasing"]
if os.environ.get("PYHAPROXY_ASAN") == "1":
    extra += ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"]

link = ["-fsanitize=address"] if os.environ.get("PYHAPROXY_ASAN") == "1" else []
exts = [
    Extension(name, sources=[src], include_dirs=["ext"], extra_compile_args=extra, extra_link_args=link)
    for name, src in (("pyhaproxy._core", "ext/_core.pyx"), ("pyhaproxy._h1test", "ext/_h1test.pyx"))
]

setup(
    ext_modules=cythonize(
        exts,
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
