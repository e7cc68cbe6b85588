"""ext/ reads as layers: a .pxi uses only what it defines or what a file included before it defines.

The include order of ext/_core.pyx is the dependency order (types -> pools -> channels -> error
pages -> server choice -> log -> listeners -> sessions -> connect -> TCP relay -> rules -> HTTP ->
loop -> setup). Cython would accept a call to a function defined further down; this test does
not, so that a newcomer reading the files in order never meets a name that is explained later.
Each file's first comment says what it offers; docs/architecture.md has the map.
"""

from __future__ import annotations

import re
from pathlib import Path

EXT = Path(__file__).resolve().parents[2] / "ext"
_H = r"[ \t]"  # (never \s: a definition does not run over a line end)
_KINDS = r"(?!inline|extern|enum|struct|class)"
_FUNC = re.compile(rf"^(?:cdef|cpdef){_H}+(?:inline{_H}+)?{_KINDS}[\w \t\*]+?\b(\w+){_H}*\(", re.M)
_TYPE = re.compile(r"^(?:cdef|cpdef)\s+(?:enum|struct|class)\s+(\w+)", re.M)
_GLOBAL = re.compile(
    rf"^cdef{_H}+{_KINDS}[\w \t\*]+?\b(\w+){_H}*(?:\[[^\]]*\])*{_H}*(?:=.*)?$", re.M)
_PYDEF = re.compile(r"^def\s+(\w+)", re.M)
_ENUM_BODY = re.compile(r"^(?:cdef|cpdef)\s+enum[^\n]*:\n((?:[ \t]+[^\n]*\n|\n)+)", re.M)


def _strip(text: str) -> str:
    text = re.sub(r'"""[\s\S]*?"""', '""', text)
    text = re.sub(r"#[^\n]*", "", text)
    return re.sub(r'b?"(?:\\.|[^"\\\n])*"', '""', text)


def include_order() -> list[str]:
    return re.findall(r'^include "([^"]+)"', (EXT / "_core.pyx").read_text(), re.M)


def defined_names(text: str) -> set[str]:
    text = _strip(text)
    names = set(_FUNC.findall(text)) | set(_TYPE.findall(text)) | set(_GLOBAL.findall(text))
    names |= set(_PYDEF.findall(text))
    for body in _ENUM_BODY.findall(text):
        names |= set(re.findall(r"^[ \t]+(\w+)", body, re.M))
    return names


def upward_references() -> dict[tuple[str, str], set[str]]:
    """(file, later file) -> names the first uses from the second."""
    order = include_order()
    owner: dict[str, str] = {}
    for f in order:
        for name in defined_names((EXT / f).read_text()):
            owner.setdefault(name, f)
    found: dict[tuple[str, str], set[str]] = {}
    for i, f in enumerate(order):
        for word in set(re.findall(r"\b\w+\b", _strip((EXT / f).read_text()))):
            o = owner.get(word)
            if o is not None and order.index(o) > i:
                found.setdefault((f, o), set()).add(word)
    return found


def test_the_layer_check_sees_definitions() -> None:
    """The parser of this test finds the names it must (or the next test would pass vacuously)."""
    order = include_order()
    assert order[0] == "h1.pxi" and "types.pxi" in order and order[-1] == "setup.pxi"
    defs = {f: defined_names((EXT / f).read_text()) for f in order}
    assert {"sess_close", "sess_fail", "http_send_error"} <= defs["session.pxi"]
    assert {"g_msg", "http_client_io"} <= defs["http.pxi"]
    assert {"px_t", "MODE_HTTP", "ST_ERRPAGE"} <= defs["types.pxi"]
    assert {"g_now", "buf_get"} <= defs["pools.pxi"]


def test_no_pxi_uses_a_name_defined_in_a_later_file() -> None:
    assert upward_references() == {}


def test_each_pxi_opens_with_what_it_offers() -> None:
    for f in include_order():
        first = (EXT / f).read_text().lstrip().splitlines()[0]
        assert first.startswith("#") and len(first) > 20, f"{f} does not open by saying what it is"


def test_session_states_are_distinct() -> None:
    """sess_t.state values are declared in more than one file (types, rules, tlssess): two with
    one value would make a session in one state run the other's code."""
    states: dict[int, str] = {}
    for f in include_order():
        for name, value in re.findall(r"^\s+(ST_\w+)\s*=\s*(\d+)", (EXT / f).read_text(), re.M):
            assert int(value) not in states, f"{name} and {states[int(value)]} are both {value}"
            states[int(value)] = name
    assert {"ST_FREE", "ST_TURNAROUND", "ST_TLS_HS", "ST_TARPIT"} <= set(states.values())
