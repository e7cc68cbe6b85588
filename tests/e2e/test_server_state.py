"""`show servers state` and the server state file, against pyhaproxy and /usr/sbin/haproxy (2.6).

- the dump after `set server be/s1 state maint`-like changes (`disable server`, `set weight`) is
  2.6's, line by line, with the time since the last change masked;
- the common reload recipe: the dump written to `server-state-file`, a restart (stop, start) and
  a `-W` reload (SIGUSR2) keep the server in maintenance and the weight set on the CLI;
- the four keywords are accepted, and refused with 2.6's message on a bad value (`-c`);
- the file's rules: a bad value is warned about and that line skipped, a missing file warned about.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers import free_port, wait_until
from tests.helpers.net import stats_command
from tests.helpers.proxy import CMD_VAR

pytestmark = pytest.mark.timeout(90)

HAPROXY = Path("/usr/sbin/haproxy")
HEADER = (
    "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
    "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
    "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl "
    "srv_check_port srv_check_addr srv_agent_addr srv_agent_port"
)

CONFIG = """
    global
        stats socket {sock} level admin
        server-state-base {base}
        server-state-file state
    defaults
        mode http
        timeout connect 1s
        timeout client 5s
        timeout server 5s
        load-server-state-from-file global
    frontend fe
        bind 127.0.0.1:{port}
        default_backend be
    backend be
        server s1 127.0.0.1:{b1}
        server s2 127.0.0.1:{b2} weight 20
        server s3 127.0.0.1:{b3} disabled
    backend be2
        server x 127.0.0.2:{b1} check inter 300 fall 1 rise 1
    """


@pytest.fixture(params=["pyhaproxy", "haproxy"])
def binary(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs against pyhaproxy and against /usr/sbin/haproxy."""
    if request.param == "haproxy":
        if not HAPROXY.exists():
            pytest.skip("Debian's haproxy is not installed")
        monkeypatch.setenv(CMD_VAR, str(HAPROXY))
    else:
        monkeypatch.delenv(CMD_VAR, raising=False)
    return str(request.param)


def masked(dump: str) -> list[str]:
    """The dump's lines with srv_time_since_last_change (the 10th field) masked."""
    out = []
    for line in dump.splitlines():
        f = line.split(" ")
        if line and not line.startswith("#") and len(f) > 9:
            f[9] = "T"
        out.append(" ".join(f))
    return out


def _values(tmp_path: Path) -> dict[str, object]:
    return dict(sock=tmp_path / "admin.sock", base=tmp_path, port=free_port(), b1=free_port(),
                b2=free_port(), b3=free_port())


def _start(proxy, text: str, v: dict[str, object], extra_args: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    px = proxy.start(text, extra_args=extra_args, **v)
    wait_until(lambda: Path(str(v["sock"])).exists(), 10, message="the stats socket")
    return px


def _expected(v: dict[str, object], s1_admin: int, s2_weight: int, restored: bool = False) -> list[str]:
    """(restored: a server restored UP has 2.6's full health, rise + fall - 1, checked or not)"""
    s2_health = 4 if restored else 2
    s1_op = 0 if s1_admin else 2
    s1_health = 0 if s1_admin else 2
    return [
        "1",
        HEADER,
        f"3 be 1 s1 127.0.0.1 {s1_op} {s1_admin} 1 1 T 1 0 {s1_health} 0 0 0 0 - {v['b1']} - 0 0 - - 0",
        f"3 be 2 s2 127.0.0.1 2 0 {s2_weight} 20 T 1 0 {s2_health} 0 0 0 0 - {v['b2']} - 0 0 - - 0",
        f"3 be 3 s3 127.0.0.1 0 5 1 1 T 1 0 0 8 0 0 0 - {v['b3']} - 0 0 - - 0",
    ]


def test_show_servers_state_after_cli_changes(proxy, binary: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    v = _values(tmp_path)
    _start(proxy, CONFIG.replace("        load-server-state-from-file global\n", ""), v)
    sock = v["sock"]
    assert stats_command(sock, "set server be/s1 state maint") == "\n"
    assert stats_command(sock, "set weight be/s2 50") == "\n"
    lines = masked(stats_command(sock, "show servers state be"))
    assert lines == [*_expected(v, 1, 50), ""]
    # be2's server: checked, its check refused (nothing listens on 127.0.0.2:b1), so DOWN, L4CON
    x = wait_until(lambda: (ln if (ln := masked(stats_command(sock, "show servers state be2"))[2])
                            .split(" ")[5] == "0" else ""), 10, message="x DOWN")
    assert x == f"4 be2 1 x 127.0.0.2 0 0 1 1 T 8 2 0 6 0 0 0 - {v['b1']} - 0 0 - - 0"
    assert stats_command(sock, "show servers state nosuch") == "Can't find backend.\n\n"
    assert stats_command(sock, "show servers state fe") == "Can't find backend.\n\n"
    everything = masked(stats_command(sock, "show servers state"))
    assert everything[:5] == _expected(v, 1, 50) and everything[5].startswith("4 be2 1 x ")
    # back to ready, the weight set the other way: 2.6 leaves an unchecked server's health at 0
    assert stats_command(sock, "set server be/s1 state ready;set server be/s2 weight 30") == "\n\n"
    lines = masked(stats_command(sock, "show servers state be"))
    assert lines[2] == f"3 be 1 s1 127.0.0.1 2 0 1 1 T 1 0 0 0 0 0 0 - {v['b1']} - 0 0 - - 0"
    assert lines[3].split(" ")[7:9] == ["30", "20"]
    assert stats_command(sock, "set server be/s1 state sideways") == \
        "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"


def _dump_to_file(v: dict[str, object]) -> None:
    sock = v["sock"]
    assert stats_command(sock, "disable server be/s1") == "\n"
    assert stats_command(sock, "set weight be/s2 50") == "\n"
    (Path(str(v["base"])) / "state").write_text(stats_command(sock, "show servers state"))


def test_state_kept_across_a_restart(proxy, binary: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    v = _values(tmp_path)
    px = _start(proxy, CONFIG, v)
    assert "Can't open global server state file" in wait_until(
        lambda: px.output_text(), 5, message="the missing file warned about")
    _dump_to_file(v)
    px.signal(signal.SIGTERM)
    px.wait_exit(15)
    Path(str(v["sock"])).unlink(missing_ok=True)
    px2 = _start(proxy, CONFIG, v)
    lines = masked(stats_command(v["sock"], "show servers state be"))
    assert lines == [*_expected(v, 1, 50, restored=True), ""]
    rows = stats_command(v["sock"], "show stat").splitlines()
    s1 = next(r for r in rows if r.startswith("be,s1,")).split(",")
    assert s1[17] == "MAINT"
    assert "Server be/s1 is DOWN, changed from server-state after a reload." in px2.output_text()


def test_state_kept_across_a_master_worker_reload(proxy, binary: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    v = _values(tmp_path)
    px = _start(proxy, CONFIG, v, extra_args=("-W",))
    old = px.wait_workers(1)
    _dump_to_file(v)
    px.signal(signal.SIGUSR2)

    def new_worker() -> bool:
        return bool(px.worker_pids()) and px.worker_pids() != old

    if binary == "haproxy":
        # (2.6's master can miss a SIGUSR2 that comes right after its start, seen once in CI
        # under load: once more, for the reference only; ours must take the first)
        try:
            wait_until(new_worker, 5, message="the new worker")
        except AssertionError:
            px.signal(signal.SIGUSR2)
    wait_until(new_worker, 15, message="the new worker")
    # 2.6's stats socket belongs to the worker, and the old one (s1 in maint too, but s2's health
    # not restored) may answer for a while: wait until the new one does
    want = [*_expected(v, 1, 50, restored=True), ""]
    lines = wait_until(lambda: (ln if (ln := masked(stats_command(v["sock"], "show servers state be")))
                                == want else []), 15, message="the new worker's restored state")
    assert lines == want


def test_bad_line_warned_and_skipped(proxy, binary: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    v = _values(tmp_path)
    (tmp_path / "state").write_text(
        "1\n" + HEADER + "\n"
        f"3 be 1 s1 127.0.0.1 0 9 1 1 0 1 0 0 0 0 0 0 - {v['b1']} - 0 0 - - 0\n"
        f"3 be 2 s2 127.0.0.1 0 1 7 20 0 1 0 0 0 0 0 0 - {v['b2']} - 0 0 - - 0\n")
    px = _start(proxy, CONFIG, v)
    assert "server-state application failed for server 'be/s1', invalid srv_admin_state value '9'" \
        in px.output_text()
    lines = masked(stats_command(v["sock"], "show servers state be"))
    assert lines[2].split(" ")[5:8] == ["2", "0", "1"]  # s1 as configured
    assert lines[3].split(" ")[5:8] == ["0", "1", "7"]  # s2 in maint, its weight from the file


@pytest.mark.parametrize("line, error", [
    ("load-server-state-from-file sometimes",
     "'load-server-state-from-file' expects 'global', 'local' or 'none'. Got 'sometimes'"),
    ("load-server-state-from-file local", None),
    ("load-server-state-from-file none", None),
    ("server-state-file-name", None),
    ("server-state-file-name use-backend-name", None),
    ("server-state-file-name be.state", None),
])
def test_keywords_check(proxy, binary: str, tmp_path: Path, line: str, error: str | None) -> None:  # type: ignore[no-untyped-def]
    cfg = proxy.write_config(f"""
        global
            server-state-base {tmp_path}
            server-state-file state
        defaults
            mode http
            timeout connect 1s
            timeout client 5s
            timeout server 5s
        frontend fe
            bind 127.0.0.1:{free_port()}
            default_backend be
        backend be
            {line}
            server s1 127.0.0.1:80
        """)
    done = proxy.run(["-c", "-f", str(cfg)])
    if error is None:
        assert done.returncode == 0, done.stdout + done.stderr
        if line.endswith("local"):  # the file is read under -c too: be's own file is missing
            assert f"Proxy 'be': Can't open server state file '{tmp_path}/be'" in done.stderr
    else:
        assert done.returncode != 0
        assert error in done.stdout + done.stderr


def test_local_file_of_a_backend(proxy, binary: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`load-server-state-from-file local` with `server-state-file-name`: lines of other backends
    skipped, a server the configuration no longer has warned about."""
    v = _values(tmp_path)
    # (a server-state-file-name in defaults is not inherited in 2.6: only be's own one counts)
    text = CONFIG.replace("load-server-state-from-file global",
                          "load-server-state-from-file local\n    server-state-file-name ignored")
    text = text.replace("    backend be\n", "    backend be\n        server-state-file-name be.state\n")
    (tmp_path / "be.state").write_text(
        "1\n" + HEADER + "\n"
        f"3 be 1 s1 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - {v['b1']} - 0 0 - - 0\n"
        f"3 be 9 zz 127.0.0.1 0 1 1 1 0 1 0 0 0 0 0 0 - {v['b1']} - 0 0 - - 0\n"
        f"4 be2 1 x 127.0.0.2 0 1 1 1 0 1 0 0 0 0 0 0 - {v['b1']} - 0 0 - - 0\n")
    px = _start(proxy, text, v)
    out = px.output_text()
    assert "Proxy 'be': can't find server 'zz' in backend 'be'" in out
    lines = masked(stats_command(v["sock"], "show servers state"))
    assert lines[2].split(" ")[5:7] == ["0", "1"]  # s1 in maint
    assert lines[5].split(" ")[6] == "0"  # be2 reads its own (missing) file: x as configured
    assert f"Proxy 'be2': Can't open server state file '{tmp_path}/be2': No such file or directory." in out
