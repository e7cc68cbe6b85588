# haproxy 2.6's connection error codes (its CO_ER_* numbering, configuration.txt `fc_err_str`)
# and their messages: what `fc_err`/`fc_err_str` return and what the line of a connection that
# failed before its session began says (a refused PROXY header, a failed TLS handshake). Only
# the codes pyhaproxy can meet are named; the table has every message, as the fetch may be
# compared against 2.6's list.

cdef enum:
    CO_ER_NONE = 0
    CO_ER_PRX_EMPTY = 11        # the PROXY protocol codes run 11..17 (proxyproto.pxi)
    CO_ER_SSL_EMPTY = 24        # closed before sending a byte of the handshake
    CO_ER_SSL_ABORT = 25        # an error before a byte of the handshake
    CO_ER_SSL_TIMEOUT = 26
    CO_ER_SSL_CA_FAIL = 30
    CO_ER_SSL_CRT_FAIL = 31
    CO_ER_SSL_HANDSHAKE = 34
    CO_ER_MAX = 43


cdef const char *CONN_ERR_STR[44]
CONN_ERR_STR[:] = [
    b"Success", b"Reached configured maxconn value", b"Too many sockets on the process",
    b"Too many sockets on the system", b"Out of system buffers",
    b"Protocol or address family not supported", b"General socket error",
    b"Source port range exhausted", b"Can't bind to source address",
    b"Out of local source ports on the system", b"Local source address already in use",
    b"Connection closed while waiting for PROXY protocol header",
    b"Connection error while waiting for PROXY protocol header",
    b"Timeout while waiting for PROXY protocol header", b"Truncated PROXY protocol header received",
    b"Received something which does not look like a PROXY protocol header",
    b"Received an invalid PROXY protocol header",
    b"Received an unhandled protocol in the PROXY protocol header",
    b"Connection closed while waiting for NetScaler Client IP header",
    b"Connection error while waiting for NetScaler Client IP header",
    b"Timeout while waiting for a NetScaler Client IP header",
    b"Truncated NetScaler Client IP header received",
    b"Received an invalid NetScaler Client IP magic number",
    b"Received an unhandled protocol in the NetScaler Client IP header",
    b"Connection closed during SSL handshake", b"Connection error during SSL handshake",
    b"Timeout during SSL handshake", b"Too many SSL connections",
    b"Out of memory when initializing an SSL connection",
    b"Rejected a client-initiated SSL renegotiation attempt",
    b"SSL client CA chain cannot be verified", b"SSL client certificate not trusted",
    b"Server presented an SSL certificate different from the configured one",
    b"Server presented an SSL certificate different from the expected one",
    b"SSL handshake failure", b"SSL handshake failure after heartbeat",
    b"Stopped a TLSv1 heartbeat attack (CVE-2014-0160)",
    b"Attempt to use SSL on an unknown target (internal error)", b"Server refused early data",
    b"SOCKS4 Proxy write error during handshake", b"SOCKS4 Proxy read error during handshake",
    b"SOCKS4 Proxy deny the request", b"SOCKS4 Proxy handshake aborted by server",
    b"SSL fatal error",
]


cdef const char *conn_err_str(int code) noexcept nogil:
    if code < 0 or code > CO_ER_MAX:
        return NULL
    return CONN_ERR_STR[code]
