"""startup.py sits below cli.py and master.py: neither imports the other at module level."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _loaded_after(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(m for m in sys.modules if m.startswith('pyhaproxy')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(("module", "absent"), [
    ("pyhaproxy.startup", {"pyhaproxy.cli", "pyhaproxy.master"}),
    ("pyhaproxy.cli", {"pyhaproxy.master"}),
])
def test_startup_layering(module: str, absent: set[str]) -> None:
    loaded = _loaded_after(module)
    assert module in loaded
    assert not (loaded & absent)


def test_master_does_not_import_cli() -> None:
    pytest.importorskip("pyhaproxy._core")
    loaded = _loaded_after("pyhaproxy.master")
    assert "pyhaproxy.startup" in loaded
    assert "pyhaproxy.cli" not in loaded
