"""The worker's hot path compiles to plain C: no Python API call in any cdef function but start-up ones.

This is the check `cython -a` would show as white lines, done on the generated C of ext/_core.pyx.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Functions that run once at start-up, in the master, or only for tests.
ALLOWED = {"3Shm__srv", "fill_addr", "copy_name", "int_array", "rules_setup_proxy", "errors_setup_proxy",
           "acl_setup", "httpreq_setup", "_hr_copy", "appsession_setup_proxy", "setup_proxy",
           "setup_server", "_struct_fields", "sample_setup", "format_setup", "maps_setup", "_smp_copy",
           "logformat_setup", "vars_setup", "maps_build", "maps_refresh",
           "tls_setup", "_tls_bind", "_tls_ctx", "_tls_errors", "_tls_dh", "_tls_dh_file",  # tls: start-up
           "tls_fd_table", "tls_srv_setup", "_tls_srv_build", "_tls_client_ca",   # tls: start-up
           "h2o_setup",     # HTTP/2 towards the servers: start-up (ext/h2srv.pxi)
           "tls_ctx_protocol",
           "stk_tables_setup", "8StkTable__data",   # stick tables: start-up; the master's accessor
           "userlists_setup",
           "11TlsContexts_install"}   # tls: the worker installs the master's contexts (start-up)
DIRECTIVES = "cdivision=True,boundscheck=False,wraparound=False,initializedcheck=False"  # as setup.py
IGNORED_CALLS = ("__Pyx_RefNanny", "__Pyx_TraceCall", "__Pyx_TraceReturn")


@pytest.mark.timeout(120)
def test_cdef_functions_make_no_python_calls(tmp_path: Path) -> None:
    out = tmp_path / "_core.c"
    subprocess.run(
        [sys.executable, "-m", "cython", "-3", "-X", DIRECTIVES,
         "-I", str(ROOT / "ext"), "-I", str(ROOT / "ext" / "includes"),
         str(ROOT / "ext" / "_core.pyx"), "-o", str(out)],
        check=True, capture_output=True,
    )
    c = out.read_text()
    offenders = {}
    names = []
    for m in re.finditer(r"\n(static [^\n;{]*?__pyx_f_(?:9pyhaproxy_)?5_core_(\w+)\([^)]*\)) \{\n", c):
        name = m.group(2)
        names.append(name)
        body = c[m.end(): c.index("\n}\n", m.end())]
        calls = {x for x in re.findall(r"\b(Py\w+|__Pyx_\w+)\(", body) if not x.startswith(IGNORED_CALLS)}
        if calls and name not in ALLOWED:
            offenders[name] = sorted(calls)
    assert {"event_loop", "sess_io", "http_relay_io", "h1_parse_request", "chan_xfer"} <= set(names)
    assert offenders == {}
