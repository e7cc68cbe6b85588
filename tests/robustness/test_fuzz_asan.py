"""The C scanner built once with AddressSanitizer and fuzzed in a subprocess.

ext/_h1test.pyx (the scanner, ext/h1.pxi) is cythonized and compiled into a temporary directory
with `-fsanitize=address`
(the in-tree build is left alone), then a child Python loads that build with libasan preloaded
and PYTHONMALLOC=malloc (so every bytes object is its own malloc block with redzones around it)
and throws mutated requests, responses, chunked bodies, header edits and PROXY protocol headers
(ext/proxyproto.pxi) at it. Any out-of-bounds
access aborts the child with an ASan report, which fails the test.

Skipped only when gcc or libasan is really missing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
ITERATIONS = int(os.environ.get("ROBUSTNESS_ASAN_ITERATIONS", "20000"))


def libasan() -> str | None:
    """Path of the compiler's libasan.so, or None when gcc or the library is missing."""
    gcc = shutil.which("gcc")
    if gcc is None:
        return None
    out = subprocess.run([gcc, "-print-file-name=libasan.so"], capture_output=True, text=True, timeout=30)
    path = out.stdout.strip()
    # gcc echoes the bare name back when it does not know the file
    return path if out.returncode == 0 and os.path.isabs(path) and os.path.exists(path) else None


BUILD = textwrap.dedent("""
    from Cython.Build import cythonize
    from setuptools import Extension, setup
    flags = ["-O1", "-g", "-fsanitize=address", "-fno-omit-frame-pointer", "-fno-strict-aliasing", "-w"]
    ext = Extension("pyhaproxy._h1test", sources=["ext/_h1test.pyx"], include_dirs=["ext"],
                    extra_compile_args=flags, extra_link_args=["-fsanitize=address"])
    setup(script_args=["-q", "build_ext", "--inplace"],
          ext_modules=cythonize([ext], include_path=["ext", "ext/includes"], language_level=3, quiet=True,
                                compiler_directives={"boundscheck": False, "wraparound": False,
                                                     "cdivision": True, "initializedcheck": False}))
""")

FUZZ = textwrap.dedent("""
    import random, sys
    from pyhaproxy import _h1test
    assert "asan" in _h1test.__file__, _h1test.__file__
    n = int(sys.argv[1])
    rnd = random.Random(20261127)
    alphabet = b"\\x00\\t\\n\\r \\x01\\x0b\\x7f\\x80\\xff:;,=/*-_aAzZ09Hh\\""
    def mutate(base):
        b = bytearray(base)
        for _ in range(rnd.randint(1, 6)):
            op = rnd.randrange(5)
            i = rnd.randrange(len(b) + 1)
            c = alphabet[rnd.randrange(len(alphabet))]
            if op == 0 and i < len(b):
                b[i] = c
            elif op == 1:
                b.insert(i, c)
            elif op == 2 and i < len(b):
                del b[i]
            elif op == 3:
                b[i:i] = b[rnd.randrange(len(b) + 1):][:rnd.randrange(64)]
            else:
                del b[i:i + rnd.randrange(16)]
        return bytes(b)
    reqs = [
        b"GET /a?b=c HTTP/1.1\\r\\nHost: x\\r\\nCookie: a=1; SERVERID=s1; b=2\\r\\n"
        b"Connection: close\\r\\n\\r\\n",
        b"POST /p HTTP/1.1\\r\\nHost: x\\r\\nTransfer-Encoding: gzip, chunked\\r\\n\\r\\n"
        b"5\\r\\nhello\\r\\n0\\r\\n\\r\\n",
        b"POST /p HTTP/1.0\\r\\nContent-Length: 5\\r\\nContent-Length: 5\\r\\n\\r\\nhello",
        b"GET /" + b"a" * 8170 + b" HTTP/1.1\\r\\n\\r\\n",
        b"GET / HTTP/1.1\\r\\n" + b"X: v\\r\\n" * 101 + b"\\r\\n",
        b"GET / HTTP/1.1\\r\\nX: " + b"v" * 8170 + b"\\r\\n\\r\\n",
    ]
    rsps = [b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nSet-Cookie: SERVERID=A; path=/\\r\\n\\r\\nok",
            b"HTTP/1.0 304 Not Modified\\r\\nConnection: keep-alive\\r\\n\\r\\n"]
    chunks = [b"5;x=y\\r\\nhello\\r\\n1A\\r\\n" + b"z" * 26 + b"\\r\\n0\\r\\nT: 1\\r\\n\\r\\n",
              b"0\\r\\n\\r\\n"]
    sig = b"\\r\\n\\r\\n\\x00\\r\\nQUIT\\n"
    pps = [b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\\r\\n",
           b"PROXY TCP6 2001:db8::1 ::1 1 65535\\r\\n", b"PROXY UNKNOWN\\r\\n",
           sig + b"\\x21\\x11\\x00\\x1c" + bytes(12) + b"\\x02\\x00\\x03abc\\x03\\x00\\x04" + bytes(4)
           + b"\\x05\\x00\\x00",
           sig + b"\\x21\\x21\\x00\\x24" + bytes(36), sig + b"\\x21\\x31\\x00\\xd8" + bytes(216)]
    counts = {"req": 0, "rsp": 0, "chunk": 0, "edit": 0, "cookie": 0, "proxy": 0}
    for i in range(n):
        data = mutate(reqs[i % len(reqs)])
        r = _h1test.h1_parse_request_py(data)
        counts["req"] += 1
        for cut in (len(data) // 2, len(data) - 1):
            _h1test.h1_parse_request_py(data[:cut])
        if r["ret"] > 0 and i % 3 == 0:
            ops = [("add", b"X-Forwarded-For", b"127.0.0.1"), ("del", 0)] if r["headers"] else [
                ("add", b"X", b"y")]
            try:
                _h1test.h1_edit_py(data, ops[: rnd.randint(1, len(ops))])
            except ValueError:
                pass
            counts["edit"] += 1
        data = mutate(rsps[i % len(rsps)])
        _h1test.h1_parse_response_py(data)
        counts["rsp"] += 1
        data = mutate(chunks[i % len(chunks)])
        _h1test.h1_chunk_py(data)
        _h1test.h1_chunk_py(data, 1 + i % 5)
        counts["chunk"] += 1
        value = mutate(b"a=1; SERVERID=s1; b=2")
        _h1test.h1_find_cookie_py(value, b"SERVERID")
        _h1test.h1_find_setcookie_py(value, b"SERVERID")
        counts["cookie"] += 1
        data = mutate(pps[i % len(pps)])
        for cut in (len(data), len(data) // 2, len(data) - 1):
            _h1test.pp_parse_full_py(data[:max(cut, 0)])
        counts["proxy"] += 1
    print("ASAN-FUZZ-OK", counts)
""")


@pytest.fixture(scope="module")
def asan_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed: cannot build the AddressSanitizer variant")
    if libasan() is None:
        pytest.skip("libasan.so is not installed (gcc -print-file-name=libasan.so finds nothing)")
    work = tmp_path_factory.mktemp("asan")
    shutil.copytree(ROOT / "ext", work / "ext",
                    ignore=shutil.ignore_patterns("_h1test.c", "*.html", "*.so"))
    (work / "pyhaproxy").mkdir()
    (work / "pyhaproxy" / "__init__.py").write_text('"""ASan build of pyhaproxy._h1test (fuzz test)."""\n')
    (work / "build_asan.py").write_text(BUILD)
    done = subprocess.run([sys.executable, "build_asan.py"], cwd=work, capture_output=True, text=True,
                          timeout=540)
    assert done.returncode == 0, f"ASan build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    built = list((work / "pyhaproxy").glob("_h1test*.so"))
    assert built, "the ASan build produced no extension"
    # The test must not pass on an uninstrumented build.
    assert b"__asan_report" in built[0].read_bytes(), "the extension is not instrumented"
    asan_dir = work / "asan"
    asan_dir.mkdir()
    shutil.move(str(work / "pyhaproxy"), str(asan_dir / "pyhaproxy"))
    return asan_dir


def test_scanner_under_asan(asan_build: Path) -> None:
    lib = libasan()
    assert lib is not None
    (asan_build / "fuzz.py").write_text(FUZZ)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LD_PRELOAD": lib,
        "PYTHONMALLOC": "malloc",
        "PYTHONPATH": str(asan_build),
        # CPython itself leaks at exit by design; only memory errors matter here.
        "ASAN_OPTIONS": "detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=99",
    }
    done = subprocess.run([sys.executable, "-S", str(asan_build / "fuzz.py"), str(ITERATIONS)],
                          cwd=asan_build, env=env, capture_output=True, text=True, timeout=500)
    report = done.stderr[-6000:]
    assert "AddressSanitizer" not in done.stderr, report
    assert done.returncode == 0 and "ASAN-FUZZ-OK" in done.stdout, f"rc={done.returncode}\n{report}"
    print(done.stdout.strip())   # the counts, shown with -s


def test_asan_catches_an_overflow(asan_build: Path) -> None:
    """Control: the preloaded runtime really reports a heap overflow in this setup."""
    lib = libasan()
    assert lib is not None
    src = asan_build / "overflow.c"
    src.write_text("#include <stdlib.h>\nint main(void){char *p=malloc(8);volatile char c=p[8];"
                   "free(p);return c;}\n")
    exe = asan_build / "overflow"
    subprocess.run(["gcc", "-fsanitize=address", "-g", str(src), "-o", str(exe)], check=True, timeout=120)
    done = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60,
                          env={"ASAN_OPTIONS": "detect_leaks=0"})
    assert done.returncode != 0 and "heap-buffer-overflow" in done.stderr
