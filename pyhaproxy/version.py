"""What pyhaproxy says it is: the HAProxy version whose configuration language it follows, and its
build features as `haproxy -vv` lists them (`.if feature(NAME)` and `version_atleast()` read these).
"""

from __future__ import annotations

# The configuration language and command line followed: HAProxy 2.6 (1.x configurations included).
HAPROXY_VERSION = "2.6.0"
RELEASE_DATE = "2026/12/02"

# Only what is really there: TLS (OpenSSL, ext/tls.pxi) and the Prometheus exporter
# (`http-request use-service prometheus-exporter`) are; Lua, PCRE, QUIC, threads, compression not.
FEATURES = frozenset({"ACCEPT4", "EPOLL", "GETADDRINFO", "LINUX_SPLICE", "OPENSSL", "PRCTL", "PROMEX", "TFO"})
ABSENT_FEATURES = frozenset({"LUA", "PCRE", "PCRE2", "QUIC", "SYSTEMD", "THREAD", "ZLIB", "SLZ"})


def feature_list() -> str:
    """`+NAME`/`-NAME` words, sorted, as the `Feature list :` line of `haproxy -vv`."""
    names = sorted(FEATURES | ABSENT_FEATURES)
    return " ".join(("+" if n in FEATURES else "-") + n for n in names)
