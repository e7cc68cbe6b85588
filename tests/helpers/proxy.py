"""Start pyhaproxy as a real process for end-to-end tests, and always clean up after it.

`ProxyLauncher` (the `proxy` fixture) writes configs into the test's tmp_path, starts
`python -m pyhaproxy` in the foreground (`-db`) or as a daemon (`-D -p pidfile`), waits until its
listeners are up, and in teardown kills every process it started *by PID*: the command it ran,
the master named in the pidfile, and all their descendants (collected with psutil before any
signal is sent), plus any process carrying this test's private environment tag (that catches
daemons that double-forked away from the tree, or instances started by a shell script).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

from .net import is_listening, wait_until

ROOT = Path(__file__).resolve().parents[2]
TAG_VAR = "PYHAPROXY_TEST_TAG"
# Set PYHAPROXY_CMD (e.g. "/usr/sbin/haproxy") to run the same tests against another binary,
# which is how the tests themselves can be checked against a real HAProxy.
CMD_VAR = "PYHAPROXY_CMD"


def base_command() -> list[str]:
    """The command that runs the proxy: `python -m pyhaproxy` unless PYHAPROXY_CMD is set."""
    custom = os.environ.get(CMD_VAR)
    return shlex.split(custom) if custom else [sys.executable, "-m", "pyhaproxy"]

Address = tuple[str, int]


def substitute(text: str, values: Mapping[str, object]) -> str:
    """Replace `{name}` by values[name] for the names given; every other brace is left alone.

    (str.format would choke on regex quantifiers such as `{2}` in reqrep lines.)
    """

    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        return str(values[key]) if key in values else m.group(0)

    return re.sub(r"\{(\w+)\}", repl, text)


def render_config(text: str, **values: object) -> str:
    """Dedent a config written inline in a test and substitute `{name}` placeholders; the text
    ends with a LF (both binaries refuse a last line without one: it may have been cut short)."""
    out = substitute(textwrap.dedent(text).lstrip("\n"), values)
    return out if out.endswith("\n") else out + "\n"


def _strip_comment(line: str) -> str:
    out = []
    prev = ""
    for ch in line:
        if ch == "#" and prev != "\\":
            break
        out.append(ch)
        prev = ch
    return "".join(out)


def _parse_addresses(spec: str) -> list[Address]:
    found: list[Address] = []
    for item in spec.split(","):
        item = item.strip()
        if ":" not in item:
            continue
        host, _, ports = item.rpartition(":")
        host = "0.0.0.0" if host in ("", "*") else host
        if "-" in ports:
            lo, hi = ports.split("-", 1)
            if lo.isdigit() and hi.isdigit():
                found += [(host, p) for p in range(int(lo), int(hi) + 1)]
        elif ports.isdigit():
            found.append((host, int(ports)))
    return found


def config_listen_addresses(text: str) -> list[Address]:
    """Addresses a config listens on: `listen NAME ADDR`, `listen ADDR`, `frontend NAME ADDR`
    and `bind ADDR` lines, skipping sections marked `disabled`."""
    sections: list[tuple[list[Address], bool]] = []
    current: list[Address] | None = None
    disabled = False
    for raw in text.splitlines():
        words = _strip_comment(raw).split()
        if not words:
            continue
        kw = words[0]
        if kw in ("global", "defaults", "listen", "frontend", "backend", "userlist", "peers"):
            if current is not None:
                sections.append((current, disabled))
            current, disabled = [], False
            if kw in ("listen", "frontend") and len(words) >= 2:
                spec = words[2] if len(words) >= 3 else (words[1] if ":" in words[1] else "")
                current += _parse_addresses(spec)
        elif current is not None and kw == "bind" and len(words) >= 2:
            current += _parse_addresses(words[1])
        elif current is not None and kw == "disabled":
            disabled = True
    if current is not None:
        sections.append((current, disabled))
    return [a for addrs, dis in sections if not dis for a in addrs]


def _read_text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _pid_gone(pid: int) -> bool:
    """True if pid does not exist or is a zombie (a daemon reparented to a non-reaping init)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class ProxyProcess:
    """One started pyhaproxy command (and, in daemon mode, the master it left running)."""

    def __init__(self, launcher: ProxyLauncher, name: str, cfg: Path, argv: list[str],
                 proc: subprocess.Popen[bytes], stdout: Path, stderr: Path,
                 pidfile: Path | None, daemon: bool) -> None:
        self.launcher = launcher
        self.name = name
        self.cfg = cfg
        self.argv = argv
        self.proc = proc
        self.stdout_path = stdout
        self.stderr_path = stderr
        self.pidfile = pidfile
        self.daemon = daemon
        self._master_pid: int | None = None

    @property
    def pid(self) -> int:
        """PID of the command we ran (in daemon mode it exits once the service is up)."""
        return self.proc.pid

    @property
    def master_pid(self) -> int:
        """The master: from the pidfile in daemon mode, else the foreground process itself."""
        if self._master_pid is not None:
            return self._master_pid
        if self.daemon:
            assert self.pidfile is not None
            pid = read_pidfile(self.pidfile)
            if pid is None:
                raise AssertionError(f"{self.name}: no pid in {self.pidfile}\n{self.stderr_text()}")
            self._master_pid = pid
            return pid
        return self.proc.pid

    def stdout_text(self) -> str:
        return _read_text(self.stdout_path)

    def stderr_text(self) -> str:
        return _read_text(self.stderr_path)

    def output_text(self) -> str:
        """stdout and stderr together (for messages)."""
        return f"--- stdout ---\n{self.stdout_text()}\n--- stderr ---\n{self.stderr_text()}"

    def signal(self, sig: int) -> None:
        """Send `sig` to the master (which forwards it to its workers)."""
        os.kill(self.master_pid, sig)

    def alive(self) -> bool:
        """True while the master runs."""
        if not self.daemon:
            return self.proc.poll() is None
        return not _pid_gone(self.master_pid)

    def worker_pids(self) -> list[int]:
        """PIDs of the master's direct children (its workers), sorted."""
        try:
            return sorted(c.pid for c in psutil.Process(self.master_pid).children()
                          if c.status() != psutil.STATUS_ZOMBIE)
        except psutil.NoSuchProcess:
            return []

    def wait_workers(self, n: int, timeout: float = 15.0) -> list[int]:
        """The worker PIDs once there are exactly `n` (the master forks them after its
        listeners are bound, so a test that just started it may see fewer)."""
        return wait_until(lambda: pids if len(pids := self.worker_pids()) == n else [], timeout,
                          message=f"{self.name}: {n} workers")

    def wait_exit(self, timeout: float = 15.0) -> int | None:
        """Wait for the master to exit; return its exit code when known (foreground mode),
        None for a daemon (not our child). AssertionError if it still runs after `timeout`."""
        if not self.daemon:
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{self.name} still running after {timeout}s\n"
                                     f"{self.output_text()}") from None
        pid = self.master_pid
        wait_until(lambda: _pid_gone(pid), timeout, message=f"{self.name} master {pid} to exit")
        return None

    def wait_ready(self, addresses: Sequence[Address], timeout: float) -> None:
        """Wait until every address listens; fail early (with stderr) if the master exits."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive():
                rc = self.proc.poll()
                raise AssertionError(f"{self.name} exited (rc={rc}) before listening on {addresses}\n"
                                     f"{self.output_text()}")
            if all(is_listening(h, p) for h, p in addresses):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not listening on {addresses} after {timeout}s\n"
                                     f"{self.output_text()}")
            time.sleep(0.05)
        # pyhaproxy's master binds before it forks its workers (imports take a while on a cold
        # machine): a test reading worker_pids() right after start must see them
        if os.environ.get(CMD_VAR) is None:
            while self.alive() and not self.worker_pids() and time.monotonic() < deadline:
                time.sleep(0.02)


def read_pidfile(path: Path) -> int | None:
    """First pid in a pidfile, or None if missing/empty."""
    try:
        first = path.read_text().split()
    except OSError:
        return None
    return int(first[0]) if first and first[0].isdigit() else None


class ProxyLauncher:
    """Factory behind the `proxy` fixture. See the module docstring.

    Typical use::

        px = proxy.start('''
            listen t 127.0.0.1:{port}
                mode tcp
                server s1 127.0.0.1:{bport}
            ''', port=p, bport=backend.port)
        px.signal(signal.SIGUSR1); px.wait_exit(10)
    """

    def __init__(self, tmp_path: Path, grace: float = 3.0) -> None:
        self.tmp_path = tmp_path
        self.grace = grace
        self.tag = uuid.uuid4().hex
        self.processes: list[ProxyProcess] = []
        self.completed: list[tuple[str, subprocess.CompletedProcess[str]]] = []
        self.tracked_pids: set[int] = set()
        self.tracked_pidfiles: set[Path] = set()
        self._count = 0

    # -- environment -------------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """Environment for processes we start: in-tree pyhaproxy first on PYTHONPATH, and this
        test's tag so teardown can find every descendant even after daemonisation."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env[TAG_VAR] = self.tag
        env.setdefault("PYTHONUNBUFFERED", "1")
        if extra:
            env.update(extra)
        return env

    def haproxy_wrapper_env(self) -> dict[str, str]:
        """env() with a tmp bin dir first on PATH holding `haproxy` (and `pyhaproxy`) scripts
        that exec `python -m pyhaproxy "$@"`: lets shell scripts written for HAProxy run ours."""
        bindir = self.tmp_path / "bin"
        bindir.mkdir(exist_ok=True)
        for name in ("haproxy", "pyhaproxy"):
            script = bindir / name
            cmd = " ".join(shlex.quote(w) for w in base_command())
            script.write_text(f'#!/bin/sh\nexec {cmd} "$@"\n')
            script.chmod(0o755)
        env = self.env()
        env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
        return env

    # -- configs -----------------------------------------------------------------------------

    def write_config(self, text: str, name: str | None = None, **values: object) -> Path:
        """Write a config (dedented, `{name}` placeholders substituted) into tmp_path."""
        self._count += 1
        path = self.tmp_path / (name or f"haproxy{self._count}.cfg")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render_config(text, **values))
        return path

    # -- starting ----------------------------------------------------------------------------

    def start(self, config: str | Path, *, daemon: bool = False, pidfile: Path | str | None = None,
              args: Sequence[str] | None = None, extra_args: Sequence[str] = (),
              wait: Iterable[Address] | None = None, timeout: float = 20.0,
              name: str | None = None, env: Mapping[str, str] | None = None,
              **values: object) -> ProxyProcess:
        """Start pyhaproxy and wait until it listens.

        config      config text (dedented, `{name}` placeholders from **values) or a Path
        daemon      False: `-db` foreground, the process is the master.
                    True: `-D -p pidfile`; waits for the command to exit 0, then reads the pidfile.
        pidfile     pidfile path (daemon mode; default tmp_path/<name>.pid)
        args        replaces the default mode flags (`-db` / `-D -p pidfile`) entirely; `-f cfg`
                    is always first. Use it to run exactly what a guide says (e.g. `args=[]` for
                    a config with `daemon` + `pidfile` in its global section; pass pidfile= too).
        extra_args  appended after the mode flags
        wait        addresses to wait for (default: every listener found in the config; [] = none)
        """
        self._count += 1
        name = name or f"pyhaproxy{self._count}"
        if isinstance(config, Path):
            cfg = config
            text = cfg.read_text()
        else:
            text = render_config(config, **values)
            cfg = self.tmp_path / f"{name}.cfg"
            cfg.write_text(text)
        pid_path: Path | None = Path(pidfile) if pidfile is not None else None
        if pid_path is None and daemon:
            pid_path = self.tmp_path / f"{name}.pid"
        if args is None:
            mode = ["-D", "-p", str(pid_path)] if daemon else ["-db"]
        else:
            mode = list(args)
        argv = [*base_command(), "-f", str(cfg), *mode, *extra_args]
        out = self.tmp_path / f"{name}.stdout"
        err = self.tmp_path / f"{name}.stderr"
        if pid_path is not None:
            self.tracked_pidfiles.add(pid_path)
        # Output goes to files, never pipes: a daemon inheriting a pipe would block readers.
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                    cwd=self.tmp_path, env=self.env(env), start_new_session=True)
        px = ProxyProcess(self, name, cfg, argv, proc, out, err, pid_path, daemon)
        self.processes.append(px)
        self.tracked_pids.add(proc.pid)
        addresses = list(wait) if wait is not None else config_listen_addresses(text)
        if daemon:
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                raise AssertionError(f"{name}: daemon start did not return within {timeout}s\n"
                                     f"{px.output_text()}") from None
            if rc != 0:
                raise AssertionError(f"{name}: exited with {rc}\n{px.output_text()}")
            assert pid_path is not None
            wait_until(lambda: read_pidfile(pid_path) is not None, 5,
                       message=f"pidfile {pid_path}")
            self.tracked_pids.add(px.master_pid)
        px.wait_ready(addresses, timeout)
        return px

    __call__ = start

    def run(self, args: Sequence[str], timeout: float = 30.0, env: Mapping[str, str] | None = None,
            pidfiles: Iterable[Path] = (), name: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `python -m pyhaproxy ARGS` to completion (for -c, failing starts, -D return code).

        Output is captured as text. Pidfiles named in `pidfiles` (or after -p) are remembered so
        a daemon left running is killed in teardown.
        """
        argv = [*base_command(), *args]
        if "-p" in args:
            idx = list(args).index("-p")
            if idx + 1 < len(args):
                self.tracked_pidfiles.add(Path(args[idx + 1]))
        self.tracked_pidfiles.update(Path(p) for p in pidfiles)
        # Files, not pipes: with -D a daemon that kept our pipe open would make run() hang.
        self._count += 1
        label = name or f"run{self._count}"
        out = self.tmp_path / f"{label}.stdout"
        err = self.tmp_path / f"{label}.stderr"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                                    cwd=self.tmp_path, env=self.env(env), start_new_session=True)
            self.tracked_pids.add(proc.pid)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                raise AssertionError(f"{argv} did not exit within {timeout}s\n"
                                     f"{_read_text(out)}\n{_read_text(err)}") from None
        done = subprocess.CompletedProcess(argv, rc, _read_text(out), _read_text(err))
        self.completed.append((label, done))
        for pf in self.tracked_pidfiles:
            pid = read_pidfile(pf)
            if pid is not None:
                self.tracked_pids.add(pid)
        return done

    def refuses(self, path: Path, text: str) -> str:
        """Write `text` to `path`, check it with `-c`: it must be refused (exit 1); the output
        (stdout and stderr), for the test to look for the message."""
        path.write_text(text)
        r = self.run(["-c", "-f", str(path)])
        assert r.returncode == 1, (text, r.stdout + r.stderr)
        return r.stdout + r.stderr

    def run_shell(self, script: str, timeout: float = 60.0,
                  env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a bash script (with our environment tag; `haproxy` on PATH is ours)."""
        full_env = self.haproxy_wrapper_env()
        if env:
            full_env.update(env)
        self._count += 1
        label = f"shell{self._count}"
        out = self.tmp_path / f"{label}.stdout"
        err = self.tmp_path / f"{label}.stderr"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            proc = subprocess.Popen(["bash", "-c", script], stdin=subprocess.DEVNULL, stdout=fo,
                                    stderr=fe, cwd=self.tmp_path, env=full_env, start_new_session=True)
            self.tracked_pids.add(proc.pid)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
                raise AssertionError(f"script did not finish within {timeout}s\n"
                                     f"{_read_text(out)}\n{_read_text(err)}") from None
        done = subprocess.CompletedProcess(["bash", "-c", script], rc, _read_text(out), _read_text(err))
        self.completed.append((label, done))
        return done

    def track_pid(self, pid: int) -> None:
        """Have teardown kill this pid (and its descendants) too."""
        self.tracked_pids.add(pid)

    # -- teardown ----------------------------------------------------------------------------

    def tagged_processes(self) -> list[psutil.Process]:
        """Live processes whose environment carries this test's tag (all we started)."""
        found = []
        me = os.getpid()
        for p in psutil.process_iter():
            if p.pid == me:
                continue
            try:
                if p.environ().get(TAG_VAR) == self.tag and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
            except (psutil.Error, OSError):
                continue
        return found

    def report_sections(self) -> list[tuple[str, str]]:
        """(title, text) of every captured output, for the test report."""
        sections = []
        for px in self.processes:
            sections.append((f"{px.name} argv", " ".join(px.argv)))
            sections.append((f"{px.name} stdout", px.stdout_text()))
            sections.append((f"{px.name} stderr", px.stderr_text()))
        for label, done in self.completed:
            sections.append((f"{label} argv", " ".join(map(str, done.args))))
            sections.append((f"{label} stdout", done.stdout))
            sections.append((f"{label} stderr", done.stderr))
        return [(t, s) for t, s in sections if s]

    def cleanup(self) -> None:
        """Kill everything we started, by PID: SIGTERM, then SIGKILL after `grace` seconds."""
        for pf in self.tracked_pidfiles:
            pid = read_pidfile(pf)
            if pid is not None:
                self.tracked_pids.add(pid)
        victims: dict[int, psutil.Process] = {}
        # Collect the whole tree first: once a master dies its workers get reparented.
        for pid in self.tracked_pids:
            try:
                root = psutil.Process(pid)
                # A recycled pid would not carry our tag; never signal someone else's process.
                ours = pid in {px.proc.pid for px in self.processes}
                if not ours and root.environ().get(TAG_VAR) != self.tag:
                    continue
                victims[pid] = root
                for child in root.children(recursive=True):
                    victims[child.pid] = child
            except (psutil.Error, OSError):
                continue
        for p in self.tagged_processes():
            victims.setdefault(p.pid, p)
        victims.pop(os.getpid(), None)
        for p in victims.values():
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGTERM)
        _, alive = psutil.wait_procs(list(victims.values()), timeout=self.grace)
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGKILL)
        psutil.wait_procs(alive, timeout=self.grace)
        for px in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                px.proc.wait(self.grace)
