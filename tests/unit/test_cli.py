"""Command line, -v/-c outputs, syslog/stderr formats, listeners pause/resume, and one real start."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyhaproxy import cli
from pyhaproxy.config.model import MIN_AUTO_MAXCONN, Bind, Config, LogTarget, Proxy
from pyhaproxy.listeners import BindError, bind_all
from pyhaproxy.logs import LOG_INFO, LOG_NOTICE, LOG_WARNING, MasterLog, format_stderr, format_syslog
from tests.helpers.syslog import Syslog

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(
        [sys.executable, "-m", "pyhaproxy", *args],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=str(ROOT),
    )


# --- argument parsing --------------------------------------------------------------------------
def test_parse_basic_flags() -> None:
    o = cli.parse_args(
        ["-f", "a.cfg", "-f", "b.cfg", "-p", "/run/x.pid", "-n", "500", "-N", "50", "-V", "-W"]
    )
    assert o.files == ["a.cfg", "b.cfg"]
    assert o.pidfile == "/run/x.pid"
    assert (o.maxconn, o.maxpconn) == (500, 50)
    assert o.verbose and o.master_worker
    assert not o.daemon and not o.check


def test_parse_daemon_and_debug_modes() -> None:
    # -D no longer implies -q (1.x did): 2.x shows start-up warnings before detaching
    o = cli.parse_args(["-D", "-f", "x"])
    assert o.daemon and not o.quiet
    o = cli.parse_args(["-db", "-f", "x"])
    assert o.foreground and not o.debug
    o = cli.parse_args(["-d", "-f", "x"])
    assert o.debug and not o.foreground
    o = cli.parse_args(["-de", "-dp", "-c", "-q", "-f", "x"])
    assert o.nopoll == {"de", "dp"} and o.check and o.quiet and not o.debug


def test_parse_sf_st_take_following_pids() -> None:
    o = cli.parse_args(["-f", "x", "-sf", "12", "34", "56"])
    assert o.oldpids == [12, 34, 56] and o.oldpids_sig == signal.SIGUSR1
    o = cli.parse_args(["-st", "7", "-f", "x", "-D"])
    assert o.oldpids == [7] and o.oldpids_sig == signal.SIGTERM and o.daemon
    o = cli.parse_args(["-f", "x", "-sf"])
    assert o.oldpids == []


@pytest.mark.parametrize(
    "argv",
    [
        ["-f", "x", "-Z"],
        ["-f"],
        ["-f", "x", "-p"],
        ["-f", "x", "stray"],
        ["-p", "y"],  # no configuration file
        ["-f", "x", "-n", "lots"],
        ["-f", "x", "-sf", "0"],
        ["-f", "x", "-sf", "12", "abc"],
    ],
)
def test_parse_errors(argv: list[str]) -> None:
    with pytest.raises(cli.UsageError):
        cli.parse_args(argv)


def test_version_stops_parsing() -> None:
    assert cli.parse_args(["-v", "-Z"]).version == 1
    assert cli.parse_args(["-vv"]).version == 2


def test_main_usage_on_unknown_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-Z", "-f", "x"]) == 1
    err = capsys.readouterr().err
    assert re.search(r"^Usage : \S+ -f <cfgfile> \[ -vdVD \]", err, re.M)
    assert "-sf/-st [pid ]*" in err


def test_main_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-v"]) == 0
    out = capsys.readouterr().out.splitlines()
    # HAProxy 2.x's first line: "HAProxy version X.Y.Z DATE - ...", what scripts parse
    assert re.fullmatch(r"HAProxy version 2\.6\.\d+ \d{4}/\d\d/\d\d - pyhaproxy 0\.1\.0", out[0])
    assert out[2].startswith("Running on: Linux")
    assert cli.main(["-vv"]) == 0
    assert "Build options :" in capsys.readouterr().out


# --- command line over configuration -----------------------------------------------------------
def _cfg(nbproc: int = 1, daemon: bool = False, quiet: bool = False) -> Config:
    c = Config()
    c.global_.nbproc = nbproc
    c.global_.daemon = daemon
    c.global_.quiet = quiet
    c.proxies = [Proxy("a"), Proxy("b", maxconn=100)]
    return c


def test_apply_options_foreground_forces_one_process() -> None:
    c = _cfg(nbproc=4, daemon=True, quiet=True)
    assert cli.apply_options(c, cli.parse_args(["-db", "-f", "x"])) == []
    assert (c.global_.nbproc, c.global_.daemon, c.global_.quiet) == (1, False, False)


def test_apply_options_nbproc_needs_daemon() -> None:
    c = _cfg(nbproc=3)
    warnings = cli.apply_options(c, cli.parse_args(["-f", "x"]))
    assert c.global_.nbproc == 1
    assert warnings == ["<nbproc> is only meaningful in daemon mode. Setting limit to 1 process."]
    c = _cfg(nbproc=3)
    cli.apply_options(c, cli.parse_args(["-D", "-f", "x"]))
    assert c.global_.nbproc == 3 and c.global_.daemon and not c.global_.quiet


def test_apply_options_maxconn_and_pidfile() -> None:
    c = _cfg()
    cli.apply_options(c, cli.parse_args(["-f", "x", "-n", "321", "-N", "42", "-p", "/tmp/p", "-W"]))
    assert c.global_.maxconn == 321
    assert [p.maxconn for p in c.proxies] == [42, 100]  # -N only where the default applied
    assert c.global_.pidfile == "/tmp/p" and c.global_.master_worker


def test_apply_options_automatic_maxconn() -> None:
    """No maxconn anywhere: 2.6's, from the fd limit (two fds per connection after the reserve
    and three per thread), and every proxy without its own takes it; fd-hard-limit caps it."""
    c = _cfg()
    c.global_.nbthread, c.global_.nbthread_set = 2, True
    c.global_.fd_hard_limit = 4000
    cli.apply_options(c, cli.parse_args(["-f", "x"]))
    assert c.global_.maxconn == (4000 - 10 - 6) // 2     # (no listener, no check, no stats socket)
    assert [p.maxconn for p in c.proxies] == [c.global_.maxconn, 100]
    c = _cfg()
    c.global_.fd_hard_limit = 150
    cli.apply_options(c, cli.parse_args(["-f", "x"]))
    assert c.global_.maxconn == MIN_AUTO_MAXCONN


# --- -c on real files, through python -m pyhaproxy ---------------------------------------------
VALID = """\
global
    maxconn 100
listen test 127.0.0.1:{port}
    mode tcp
    contimeout 5000
    clitimeout 5000
    srvtimeout 5000
    server s1 127.0.0.1:{backend}
"""


def test_check_valid_config(tmp_path: Path) -> None:
    f = tmp_path / "ok.cfg"
    f.write_text(VALID.format(port=free_port(), backend=free_port()))
    r = run_cli("-c", "-f", str(f))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Configuration file is valid\n"     # (2.6: no file name)
    r = run_cli("-q", "-c", "-f", str(f))
    assert r.returncode == 0 and r.stdout == ""


def test_check_invalid_config(tmp_path: Path) -> None:
    f = tmp_path / "bad.cfg"
    f.write_text(VALID.format(port=free_port(), backend=free_port()) + "    nosuchkeyword 1\n")
    r = run_cli("-c", "-f", str(f))
    assert r.returncode == 1
    assert r.stdout == ""
    assert f"[ALERT] parsing [{f}:9] : " in r.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    r = run_cli("-c", "-f", str(tmp_path / "nope.cfg"))
    assert r.returncode == 1 and "[ALERT]" in r.stderr


# --- log formats -------------------------------------------------------------------------------
def _local(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    return time.mktime((y, mo, d, h, mi, s, 0, 0, -1))


def test_format_syslog() -> None:
    now = _local(2026, 11, 4, 9, 5, 7)
    line = format_syslog(16, LOG_INFO, 123, "Proxy test started.", now)
    assert line == b"<134>Nov  4 09:05:07 haproxy[123]: Proxy test started.\n"
    line = format_syslog(3, LOG_WARNING, 9, "x\n", _local(2026, 1, 21, 23, 59, 0))
    assert line == b"<28>Jan 21 23:59:00 haproxy[9]: x\n"


def test_format_syslog_cut_at_1024() -> None:
    # 2.6 cuts header + message at `len` (1024) and then adds the newline: 1025 bytes
    line = format_syslog(23, 0, 1, "y" * 5000, _local(2026, 3, 1, 0, 0, 0))
    assert len(line) == 1025 and line.endswith(b"y\n") and line.startswith(b"<184>Mar  1 ")
    # to an fd (stdout/stderr) the newline is inside the `len`
    assert len(format_syslog(23, 0, 1, "y" * 5000, 0.0, fmt="raw", maxlen=80, is_fd=True)) == 80


def test_format_headers_of_2_6() -> None:
    now = _local(2026, 11, 4, 9, 5, 7) + 0.25
    pid = 77
    assert format_syslog(16, LOG_INFO, pid, "m", now, fmt="raw") == b"m\n"
    assert format_syslog(16, LOG_INFO, pid, "m", now, fmt="short") == b"<6>m\n"
    assert format_syslog(16, LOG_INFO, pid, "m", now, fmt="priority") == b"<134>m\n"
    assert format_syslog(16, LOG_INFO, pid, "m", now, "tg", host="hst") == \
        b"<134>Nov  4 09:05:07 hst tg[77]: m\n"
    assert format_syslog(16, LOG_INFO, pid, "m", now, fmt="rfc3164") == \
        b"<134>Nov  4 09:05:07 localhost haproxy[77]: m\n"
    assert re.fullmatch(rb"<134>1 2026-11-04T09:05:07\.250000[-+]\d\d:\d\d - haproxy 77 - - m\n",
                        format_syslog(16, LOG_INFO, pid, "m", now, fmt="rfc5424"))
    assert re.fullmatch(rb"<6>2026-11-04T09:05:07\.250000[-+]\d\d:\d\d m\n",
                        format_syslog(16, LOG_INFO, pid, "m", now, fmt="timed"))


def test_format_stderr_day_of_year_from_zero() -> None:
    line = format_stderr("ALERT", "boom\n", 42, _local(2026, 1, 1, 1, 2, 3))
    assert line == "[ALERT] 000/010203 (42) : boom\n"
    assert format_stderr("WARNING", "w", 7, _local(2026, 2, 1, 23, 0, 9)) == "[WARNING] 031/230009 (7) : w\n"


def test_master_log_sends_udp_with_level_filter() -> None:
    with Syslog() as rx:
        port = rx.port
        c = Config()
        c.global_.logs = [LogTarget(f"127.0.0.1:{port}", "local0", "notice")]
        log = MasterLog(c.global_, quiet=True)
        try:
            log.info("dropped by the max level")
            log.notice("kept")
            data = rx.datagram(2)
            assert re.fullmatch(rb"<133>\w{3} [ \d]\d \d\d:\d\d:\d\d haproxy\[\d+\]: kept\n", data)
            p = Proxy("px", logs=[LogTarget(f"127.0.0.1:{port}", "local1", "debug")])
            log.proxy_log(p, LOG_NOTICE, "Proxy px started.")
            assert rx.datagram(2).startswith(b"<141>")
        finally:
            log.close()


# --- listeners ---------------------------------------------------------------------------------
def _listen_cfg(port: int, name: str = "px", noreuseport: bool = False) -> Config:
    c = Config()
    c.global_.noreuseport = noreuseport
    c.proxies = [Proxy(name, binds=[Bind("127.0.0.1", port, port)], maxconn=64)]
    return c


def test_reuseport_lets_a_new_process_bind_beside_the_old_one() -> None:
    """SO_REUSEPORT, as haproxy 2.x on Linux: `-sf` binds before the old process stops."""
    port = free_port()
    ls = bind_all(_listen_cfg(port))
    try:
        beside = bind_all(_listen_cfg(port, "new"))
        beside[0].close()
    finally:
        for lst in ls:
            lst.close()


def test_bind_error_message_and_pause_resume() -> None:
    port = free_port()
    ls = bind_all(_listen_cfg(port, noreuseport=True))
    try:
        assert len(ls) == 1 and ls[0].port == port and ls[0].backlog == 64
        with pytest.raises(BindError) as ei:
            bind_all(_listen_cfg(port, "other", noreuseport=True))
        assert str(ei.value) == "cannot bind socket for proxy other. Aborting."
        # paused: the port can be taken by another SO_REUSEADDR socket, and resume then fails
        assert ls[0].pause()
        other = bind_all(_listen_cfg(port, "other", noreuseport=True))
        assert not ls[0].resume()
        other[0].close()
        assert ls[0].resume()
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass
    finally:
        for lst in ls:
            lst.close()


def test_bind_reuse_and_disabled_proxy() -> None:
    port = free_port()
    c = Config()
    c.proxies = [Proxy("r", binds=[Bind("127.0.0.1", port, port)]), Proxy("off", disabled=True,
                                                                         binds=[Bind("", port, port)])]
    first = bind_all(c)
    try:
        assert len(first) == 1  # the disabled proxy binds nothing
        table = {lst.key: lst for lst in first}
        again = bind_all(c, reuse=table)
        assert [lst.sock for lst in again] == [lst.sock for lst in first]
    finally:
        for lst in first:
            lst.close()


# --- a real start, when the worker is built ----------------------------------------------------
def _core_built() -> bool:
    try:
        import pyhaproxy._core  # noqa: F401
        import pyhaproxy.worker  # noqa: F401,I001
    except ImportError:
        return False
    return True


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


@pytest.mark.skipif(not _core_built(), reason="pyhaproxy._core not built")
def test_daemon_start_pidfile_and_soft_stop(tmp_path: Path) -> None:
    backend = socket.socket()
    backend.bind(("127.0.0.1", 0))
    backend.listen(8)
    port = free_port()
    f = tmp_path / "t.cfg"
    f.write_text(VALID.format(port=port, backend=backend.getsockname()[1]))
    pidfile = tmp_path / "h.pid"
    pids: list[int] = []
    try:
        r = run_cli("-D", "-p", str(pidfile), "-f", str(f))
        assert r.returncode == 0, r.stderr
        master = int(pidfile.read_text())
        pids.append(master)
        assert pidfile.read_text() == f"{master}\n"
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        pids.extend(int(c) for c in children)
        assert len(children) == 1
        c = socket.create_connection(("127.0.0.1", port), timeout=3)
        srv, _ = backend.accept()
        c.sendall(b"ping")
        assert srv.recv(10) == b"ping"
        os.kill(master, signal.SIGUSR1)
        # the port is released at once, the session still works, then everything exits
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except ConnectionRefusedError:
                break
            time.sleep(0.05)
        else:
            pytest.fail("still listening after SIGUSR1")
        srv.sendall(b"pong")
        assert c.recv(10) == b"pong"
        c.close()
        srv.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids)
        assert pidfile.exists()  # HAProxy leaves the pidfile behind
    finally:
        for p in pids:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        backend.close()


def test_bind_failure_exits_1_without_pidfile(tmp_path: Path) -> None:
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        f = tmp_path / "t.cfg"
        f.write_text(VALID.format(port=holder.getsockname()[1], backend=free_port()))
        pidfile = tmp_path / "h.pid"
        r = run_cli("-D", "-p", str(pidfile), "-f", str(f))
        assert r.returncode == 1
        assert re.search(r"^\[ALERT\] \d{3}/\d{6} \(\d+\) : cannot bind socket for proxy test\. Aborting\.$",
                         r.stderr, re.M)
        assert not pidfile.exists()
    finally:
        holder.close()


# --- 2.x command line -----------------------------------------------------------------------------
def test_2x_multi_letter_flags_before_the_1x_rule() -> None:
    o = cli.parse_args(["-Ws", "-f", "a.cfg", "-S", "/run/m.sock,mode,600,level,admin", "-x", "/run/x.sock",
                        "-L", "peer1", "-dV", "-dM", "-dW", "-dD"])
    assert (o.master_worker, o.sd_notify) == (True, True)
    assert o.master_cli == ["/run/m.sock,mode,600,level,admin"]
    assert (o.expose_fd, o.localpeer, o.zero_warning, o.diag) == ("/run/x.sock", "peer1", True, True)
    assert not o.debug  # -dV/-dM are not -d
    o = cli.parse_args(["-W", "-f", "a.cfg"])
    assert (o.master_worker, o.sd_notify) == (True, False)


@pytest.mark.parametrize("argv", [["-f", "a.cfg", "-S"], ["-f", "a.cfg", "-S", "127.0.0.1:9999"],
                                  ["-f", "a.cfg", "-S", "/x,bogus,1"], ["-f", "a.cfg", "-x"]])
def test_bad_2x_flags_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(cli.UsageError):
        cli.parse_args(argv)


def test_sd_notify_datagrams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pyhaproxy.sdnotify import Notifier

    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind(str(tmp_path / "n.sock"))
    rx.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "n.sock"))
    n = Notifier(True)
    n.ready()
    n.reloading()
    n.stopping()
    assert rx.recv(100).startswith(b"READY=1\nMAINPID=")
    assert rx.recv(100) == b"RELOADING=1\n"
    assert rx.recv(100) == b"STOPPING=1\n"
    Notifier(False).ready()  # -W without s: nothing sent
    with pytest.raises(TimeoutError):
        rx.settimeout(0.2)
        rx.recv(100)
    rx.close()
