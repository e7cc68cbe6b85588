"""server_state.py without processes: the dump's lines and the loader's rules (2.6's
src/server_state.c), with a dict-backed stand-in for the shared memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyhaproxy import server_state
from pyhaproxy.config import parse_text


class FakeShm:
    def __init__(self, n: int) -> None:
        self.info = [dict(state=1, admin_down=0, weight=1, check_status=0, check_health=2,
                          last_change_ms=0) for _ in range(n)]

    def srv_info(self, i: int) -> dict[str, Any]:
        return self.info[i]

    def srv_admin_down(self, i: int) -> bool:
        return bool(self.info[i]["admin_down"])

    def set_srv_admin_down(self, i: int, down: bool) -> None:
        self.info[i]["admin_down"] = int(down)

    def srv_state(self, i: int) -> int:
        return int(self.info[i]["state"])

    def set_srv_state(self, i: int, state: int, now_ms: int = 0) -> None:
        self.info[i]["state"] = state

    def set_srv_weight(self, i: int, w: int) -> None:
        self.info[i]["weight"] = w

    def set_srv_check(self, i: int, status: int, duration_ms: int, health: int, code: int = 0) -> None:
        self.info[i].update(check_status=status, check_health=health)


def _cfg(tmp_path: Path, extra: str = "") -> Any:
    return parse_text(f"""
global
    stats socket {tmp_path}/s.sock
    server-state-base {tmp_path}
    server-state-file state
defaults
    mode http
    load-server-state-from-file global
    {extra}
frontend fe
    bind 127.0.0.1:8080
    default_backend be
backend be
    server s1 127.0.0.1:81
    server s2 127.0.0.1:82 weight 20 disabled
""")


def test_dump_lines(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    shm = FakeShm(2)
    shm.info[1].update(admin_down=1, weight=20, check_health=0)
    out = server_state.dump(cfg, shm, now=100.0, started=90.0).splitlines()
    assert out[0] == "1" and out[1] == "# " + server_state.FIELDS
    assert out[2] == "3 be 1 s1 127.0.0.1 2 0 1 1 10 1 0 2 0 0 0 0 - 81 - 0 0 - - 0"
    assert out[3] == "3 be 2 s2 127.0.0.1 0 5 20 20 10 1 0 0 8 0 0 0 - 82 - 0 0 - - 0"
    assert server_state.dump(cfg, shm, "fe") == "Can't find backend.\n"


def _load(tmp_path: Path, text: str) -> tuple[list[server_state.Restore], list[str]]:
    (tmp_path / "state").write_text(text)
    warnings: list[str] = []
    return server_state.load(_cfg(tmp_path), warnings.append), warnings


HEAD = "1\n# header\n"


def test_load_rules(tmp_path: Path) -> None:
    rs, w = _load(tmp_path, HEAD + "3 be 1 s1 127.0.0.1 0 1 50 1 0 1 0 0 0 0 0 0 - 81 - 0 0 - - 0\n"
                                   "3 be 2 s2 127.0.0.1 2 0 7 20 0 1 0 0 0 0 0 0 - 82 - 0 0 - - 0\n")
    assert w == []
    # s1: FMAINT restored, the CLI weight too (the configured weight is the file's iweight);
    # s2: the file says not disabled, the configuration says disabled: the configuration wins
    assert [(r.gi, r.maint, r.weight, r.op) for r in rs] == [(0, True, 50, 0), (1, True, 7, 2)]
    rs, w = _load(tmp_path, HEAD + "3 be 1 s1 127.0.0.1 2 0 50 3 0 1 0 0 0 0 0 0 - 81 - 0 0 - - 0\n"
                                   "9 other 1 s1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 81 - 0 0 - - 0\n")
    # the configured weight changed since (3 -> 1): it wins; a line of another backend is unused
    assert [(r.gi, r.maint, r.weight) for r in rs] == [(0, None, None)] and w == []


def test_bad_value_skips_the_line(tmp_path: Path) -> None:
    rs, w = _load(tmp_path, HEAD + "3 be 1 s1 127.0.0.1 7 0 1 1 0 1 0 0 0 0 0 0 - 81 - 0 0 - - 0\n")
    assert rs == []
    assert w == ["server-state application failed for server 'be/s1', invalid srv_op_state value '7'"]


def test_version_and_corruption(tmp_path: Path) -> None:
    _rs, w = _load(tmp_path, "2\n")
    assert w == [f"config: Can't get version of the global server state file '{tmp_path}/state'."]
    rs, w = _load(tmp_path, HEAD + "3 be 1 s1 127.0.0.1 0 1\n")
    assert rs == [] and w == [f"config: corrupted global server state file '{tmp_path}/state' at line 2."]
    # a last line without its newline is "truncated" for 2.6's fgets() loop
    rs, w = _load(tmp_path, HEAD + "3 be 1 s1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - 81 - 0 0 - - 0")
    assert rs == [] and "corrupted" in w[0]


def test_missing_file(tmp_path: Path) -> None:
    warnings: list[str] = []
    assert server_state.load(_cfg(tmp_path), warnings.append) == []
    assert warnings == [f"config: Can't open global server state file '{tmp_path}/state': "
                        "No such file or directory"]
