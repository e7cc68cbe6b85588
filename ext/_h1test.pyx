# cython: language_level=3
"""Test and benchmark hooks of the HTTP/1 scanner and the PROXY protocol codec: Python
wrappers around ext/h1.pxi and ext/proxyproto.pxi.

A module of its own (pyhaproxy._h1test), so that the worker's pyhaproxy._core carries no
test-only code; it compiles the same .pxi files the worker uses.
"""

from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset, memcpy, memcmp, memchr, strlen
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from linux cimport *

include "h1.pxi"
include "h1chunk.pxi"
include "h1edit.pxi"
include "h1_py.pxi"
include "connerr.pxi"
include "proxyproto.pxi"
include "proxyproto_py.pxi"
