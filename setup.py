"""Build script: compiles pyhaproxy._core (the worker, ext/_core.pyx) and pyhaproxy._h1test (the
scanner's test and benchmark hooks, ext/_h1test.pyx: kept out of the worker's module)."""

import os
import shlex
import subprocess
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

annotate = os.environ.get("PYHAPROXY_ANNOTATE") == "1"
extra = ["-O2", "-fno-strict-aliasing"]
if os.environ.get("PYHAPROXY_ASAN") == "1":
    extra += ["-fsanitize=address", "-fno-omit-frame-pointer", "-g"]

link = ["-fsanitize=address"] if os.environ.get("PYHAPROXY_ASAN") == "1" else []


def pkg_flags(pkg: str, version: str, what: str, debian: str) -> tuple[list[str], list[str]]:
    """(compile, link) flags of `pkg` >= `version` from pkg-config; a clear error naming the
    Debian package when it is missing."""
    try:
        subprocess.run(["pkg-config", f"--atleast-version={version}", pkg], check=True, capture_output=True)
        cflags = subprocess.run(["pkg-config", "--cflags", pkg], check=True, capture_output=True,
                                text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", pkg], check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(f"error: {what} development files not found by pkg-config: install Debian's "
                 f"'{debian}' (and 'pkg-config'): apt-get install {debian} pkg-config")
    return shlex.split(cflags), shlex.split(libs)


# TLS in the worker (ext/tls.pxi); HTTP/2 framing and HPACK (ext/h2.pxi)
ssl_cflags, ssl_libs = pkg_flags("openssl", "3.0", "OpenSSL 3.0", "libssl-dev")
h2_cflags, h2_libs = pkg_flags("libnghttp2", "1.52", "nghttp2 >= 1.52", "libnghttp2-dev")
# the xxh32/xxh64/xxh3 converters (ext/converters.pxi)
xxh_cflags, xxh_libs = pkg_flags("libxxhash", "0.8", "xxHash >= 0.8", "libxxhash-dev")
exts = [
    Extension("pyhaproxy._core", sources=["ext/_core.pyx", "ext/sockmap.c"], include_dirs=["ext"],
              extra_compile_args=extra + ssl_cflags + h2_cflags + xxh_cflags,
              extra_link_args=link + ssl_libs + h2_libs + xxh_libs + ["-lcrypt"]),
    Extension("pyhaproxy._h1test", sources=["ext/_h1test.pyx"], include_dirs=["ext"],
              extra_compile_args=extra, extra_link_args=link),
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
