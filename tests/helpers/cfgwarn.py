"""A parsed config's warnings other than 2.6's "missing timeouts for ..." (tested by itself in
tests/e2e/test_check_verdict.py): the unit tests that count warnings parse small configs, most
without timeouts, to test other warnings."""

from __future__ import annotations

from typing import Any


def other_warnings(cfg: Any) -> list[str]:
    return [w for w in cfg.warnings if "missing timeouts for " not in w]
