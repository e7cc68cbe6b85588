"""The keyword table's side column: which side of a proxy a keyword acts on."""

from __future__ import annotations

from pyhaproxy.config import parse_text
from pyhaproxy.config.keywords import KEYWORDS
from pyhaproxy.config.kw_proxy import TIMEOUT_SIDES, TIMEOUTS
from tests.helpers.cfgwarn import other_warnings


def test_side_of_reads_the_column() -> None:
    (timeout,) = KEYWORDS["timeout"]
    assert timeout.side_of(["timeout", "client", "1s"]) == ("frontend", "timeout client")
    assert timeout.side_of(["timeout", "connect", "1s"]) == ("backend", "timeout connect")
    assert timeout.side_of(["timeout", "http-keep-alive", "1s"]) is None
    (balance,) = KEYWORDS["balance"]
    assert balance.side_of(["balance", "roundrobin"]) == ("backend", "balance")
    (capture,) = KEYWORDS["capture"]
    assert capture.side_of(["capture", "cookie", "c", "len", "9"]) == ("frontend", "capture")
    (mode,) = KEYWORDS["mode"]
    assert mode.side_of(["mode", "http"]) is None


def test_timeout_sides_name_known_timeouts_only() -> None:
    assert set(TIMEOUT_SIDES) <= set(TIMEOUTS)


def test_one_side_keywords_in_a_listen_are_not_warned_about() -> None:
    cfg = parse_text("listen l\n    bind :80\n    balance leastconn\n    timeout client 2s\n"
                     "    capture cookie c len 9\n    server s 127.0.0.1:1\n", "s.cfg")
    assert other_warnings(cfg) == []
