# cython: language_level=3
"""pyhaproxy's one extension module: the worker's event loop and everything on its hot path.

Each concern lives in its own .pxi, included here so that calls between them can be inlined
(several extension modules cimporting each other cannot); .pxd files hold plain C declarations.
"""

from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memset, memcpy, memmove, memcmp, memchr, strlen, strcmp, strncmp
from libc.stdio cimport snprintf
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from linux cimport *
from shm cimport *
from openssl cimport *          # tls: OpenSSL 3.0 (ext/tls.pxi)
from nghttp2 cimport *          # HTTP/2 framing and HPACK (ext/h2stream.pxi, ext/h2.pxi)
from xxhash cimport *           # the xxh32/xxh64/xxh3 converters (ext/converters.pxi)
from sockmap cimport *          # the TCP fast path's BPF side (ext/sockmap.c, ext/sockmap.pxi)

include "h1.pxi"
include "h1chunk.pxi"
include "h1edit.pxi"
include "connerr.pxi"            # 2.6's connection error codes (fc_err) and messages
include "proxyproto.pxi"
include "types.pxi"
include "convert.pxi"
include "pools.pxi"
include "sockmap.pxi"           # TCP fast path: the generation's SOCKHASH, a session's kernel counts
include "h2stream.pxi"          # HTTP/2 streams as their sessions see them (virtual client fds)
include "tlscache.pxi"          # tls: the session cache shared by the workers
include "tls.pxi"               # tls: contexts, TLS client I/O
include "h2srv.pxi"             # HTTP/2 towards the servers: a layer above TLS on the server fd
include "shmview.pxi"
include "stktable.pxi"           # stick tables in shared memory
include "channel.pxi"
include "errors.pxi"
include "backend.pxi"
include "pattern.pxi"
include "sample.pxi"
include "converters.pxi"
include "logbuf.pxi"
include "logformat.pxi"
include "logline.pxi"
include "listeners.pxi"
include "srvpool.pxi"           # idle server connections shared by HTTP/2 streams
include "session.pxi"
include "tlssess.pxi"           # tls: handshake of a session
include "tlssrv.pxi"            # tls: towards the servers (server ... ssl)
include "connect.pxi"
include "tcp.pxi"
include "acl.pxi"
include "rules.pxi"
include "urinorm.pxi"           # normalize-uri (2.6's uri_normalizer.c)
include "httpreq.pxi"
include "appsession.pxi"
include "http.pxi"
include "h2.pxi"                # HTTP/2 client connections (nghttp2): each stream a session
include "loop.pxi"
include "setup.pxi"
