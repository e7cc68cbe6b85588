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


def openssl_flags() -> tuple[list[str], list[str]]:
    """(compile, link) flags of OpenSSL >= 3.0 (TLS in the worker, ext/tls.pxi) from pkg-config."""
    try:
        subprocess.run(["pkg-config", "--atleast-version=3.0", "openssl"], check=True, capture_output=True)
        cflags = subprocess.run(["pkg-config", "--cflags", "openssl"], check=True, capture_output=True,
                                text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", "openssl"], check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit("error: OpenSSL 3.0 development files not found by pkg-config: install Debian's "
                 "'libssl-dev' (and 'pkg-config'): apt-get install libssl-dev pkg-config")
    return shlex.split(cflags), shlex.split(libs)


def nghttp2_flags() -> tuple[list[str], list[str]]:
    """(compile, link) flags of nghttp2 (HTTP/2 framing and HPACK, ext/h2.pxi) from pkg-config."""
    try:
        subprocess.run(["pkg-config", "--atleast-version=1.52", "libnghttp2"], check=True, capture_output=True)
        cflags = subprocess.run(["pkg-config", "--cflags", "libnghttp2"], check=True, capture_output=True,
                                text=True).stdout
        libs = subprocess.run(["pkg-config", "--libs", "libnghttp2"], check=True, capture_output=True,
                              text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit("error: nghttp2 >= 1.52 development files not found by pkg-config: install Debian's "
                 "'libnghttp2-dev' (and 'pkg-config'): apt-get install libnghttp2-dev pkg-config")
    return shlex.split(cflags), shlex.split(libs)


ssl_cflags, ssl_libs = openssl_flags()
h2_cflags, h2_libs = nghttp2_flags()
exts = [
    Extension("pyhaproxy._core", sources=["ext/_core.pyx"], include_dirs=["ext"],
              extra_compile_args=extra + ssl_cflags + h2_cflags,
              extra_link_args=link + ssl_libs + h2_libs + ["-lcrypt"]),
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
