"""A small, reusable network-namespace topology for the high-availability tests.

`Topology` builds hosts as network namespaces joined by veth pairs to Linux bridges. Every bridge
lives in one dedicated "switch" namespace, so nothing at all is added to the root namespace's
interfaces, and nothing in the root namespace ever talks to the test addresses: clients run
*inside* a namespace (`topo.run(ns, [...])`, `topo.python(ns, script)`).

    topo = Topology(tmp_path)                        # unique prefix, e.g. "ha3f9c"
    topo.add_segment("lan")                          # a bridge in the switch namespace
    lb1 = topo.add_host("lb1", [("lan", "192.168.1.3/24")])
    r = topo.add_router("r1", [("lan", "192.168.1.254/24"), ("wan", "172.16.0.1/24")])
    topo.add_route("lb1", "10.0.0.0/8", "192.168.1.254")
    p = topo.spawn("lb1", ["python", "-m", "pyhaproxy", ...], name="px1")
    topo.link_down("r1", "wan")                      # `ip link set ... down` in the router
    topo.close()                                     # kill by PID, delete the namespaces

Each host's interfaces are named eth0, eth1... in the order of its links; `lo` is up; there is no
default route (only the connected subnets and the routes added explicitly). Routers are hosts with
`net.ipv4.ip_forward=1`.

Teardown (`close()`, also run by the `topology` fixture) kills every process started in the
namespaces *by PID*: the processes spawned here and their descendants (collected with psutil before
any signal), plus whatever `ip netns pids` still reports for our namespaces (daemons that forked
away, keepalived's children). Then the namespaces are deleted, which removes every veth with them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be created here (not root, or `ip netns add` fails)."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def probe_netns() -> str | None:
    """None if this machine can create network namespaces, else the reason it cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root (not running as root)"
    name = f"haprobe{secrets.token_hex(3)}"
    try:
        res = _ip("netns", "add", name, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns add` unavailable: {exc}"
    if res.returncode != 0:
        return f"`ip netns add` fails: {res.stderr.strip()}"
    _ip("netns", "del", name, check=False)
    return None


@dataclass
class Proc:
    """A process started inside a namespace (through `ip netns exec`, which execs it)."""

    name: str
    ns: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        out = self.stdout.read_text(errors="replace") if self.stdout.exists() else ""
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return f"--- {self.name} stdout ---\n{out}\n--- {self.name} stderr ---\n{err}"


@dataclass
class Host:
    """One namespace: its full name and, per segment, (interface, address/prefix)."""

    name: str
    ns: str
    links: dict[str, tuple[str, str]] = field(default_factory=dict)

    def ip(self, segment: str | None = None) -> str:
        """The host's address on `segment` (default: its first link), without the prefix."""
        seg = segment or next(iter(self.links))
        return self.links[seg][1].split("/")[0]

    def ifname(self, segment: str) -> str:
        return self.links[segment][0]


class Topology:
    """Namespaces, bridges and processes of one test; see the module docstring."""

    def __init__(self, tmp_path: Path, prefix: str | None = None) -> None:
        self.tmp_path = tmp_path
        # Short and unique per run: namespace names are prefix-host, never reused across runs.
        self.prefix = prefix or f"ha{secrets.token_hex(2)}"
        self.switch = f"{self.prefix}-sw"
        self.hosts: dict[str, Host] = {}
        self.segments: set[str] = set()
        self.procs: list[Proc] = []
        self.extra_pids: set[int] = set()
        self._namespaces: list[str] = []
        self._veths = 0
        self._bridges: dict[str, str] = {}
        self.routes: dict[str, list[tuple[str, str]]] = {}
        self._add_ns(self.switch)

    # -- building ---------------------------------------------------------------------------

    def _add_ns(self, ns: str) -> None:
        res = _ip("netns", "add", ns, check=False)
        if res.returncode != 0:
            raise NetnsUnavailable(f"`ip netns add {ns}` fails: {res.stderr.strip()}")
        self._namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def add_segment(self, segment: str) -> None:
        """A layer-2 segment: one bridge in the switch namespace."""
        if segment in self.segments:
            return
        br = f"br{len(self.segments)}"
        _ip("-n", self.switch, "link", "add", br, "type", "bridge")
        # No STP delay, and forward at once: ports must pass traffic as soon as they are up.
        _ip("-n", self.switch, "link", "set", br, "type", "bridge", "forward_delay", "0", "stp_state", "0")
        _ip("-n", self.switch, "link", "set", br, "up")
        self.segments.add(segment)
        self._bridges[segment] = br

    def add_host(self, name: str, links: Sequence[tuple[str, str]],
                 sysctls: Mapping[str, str] | None = None) -> Host:
        """A namespace with one interface per (segment, "a.b.c.d/len"), eth0 first."""
        ns = f"{self.prefix}-{name}"
        self._add_ns(ns)
        host = Host(name, ns)
        self.hosts[name] = host
        for key, value in (sysctls or {}).items():
            self.sysctl(name, key, value)
        for i, (segment, addr) in enumerate(links):
            self.add_segment(segment)
            self._veths += 1
            peer = f"v{self._veths}"
            ifname = f"eth{i}"
            # Created inside the switch namespace with the host end moved straight into the host:
            # neither end ever exists in the root namespace.
            _ip("-n", self.switch, "link", "add", peer, "type", "veth", "peer", "name", ifname,
                "netns", ns)
            _ip("-n", self.switch, "link", "set", peer, "master", self._bridges[segment])
            _ip("-n", self.switch, "link", "set", peer, "up")
            _ip("-n", ns, "addr", "add", addr, "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
            host.links[segment] = (ifname, addr)
        return host

    def add_router(self, name: str, links: Sequence[tuple[str, str]]) -> Host:
        """A host with several legs that forwards between them (ip_forward=1)."""
        return self.add_host(name, links, sysctls={"net.ipv4.ip_forward": "1"})

    def add_route(self, host: str, dest: str, via: str) -> None:
        _ip("-n", self.hosts[host].ns, "route", "add", dest, "via", via)
        self.routes.setdefault(host, []).append((dest, via))

    def sysctl(self, host: str, key: str, value: str) -> None:
        self.run(host, ["sysctl", "-q", "-w", f"{key}={value}"])

    def link_down(self, host: str, segment: str) -> None:
        h = self.hosts[host]
        _ip("-n", h.ns, "link", "set", h.ifname(segment), "down")

    def link_up(self, host: str, segment: str) -> None:
        """Bring a link back, with the static routes the kernel dropped when it went down (as a
        router's own configuration would re-install them)."""
        h = self.hosts[host]
        _ip("-n", h.ns, "link", "set", h.ifname(segment), "up")
        for dest, via in self.routes.get(host, []):
            _ip("-n", h.ns, "route", "replace", dest, "via", via, check=False)

    def addresses(self, host: str) -> str:
        """`ip -br addr` of a host (for assertions and messages)."""
        return _ip("-n", self.hosts[host].ns, "-br", "addr").stdout

    def has_address(self, host: str, addr: str) -> bool:
        out = _ip("-n", self.hosts[host].ns, "-o", "addr", "show").stdout
        return any(f" {addr}/" in line for line in out.splitlines())

    # -- processes --------------------------------------------------------------------------

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [env.get("PYTHONPATH")] if p])
        env.setdefault("PYTHONUNBUFFERED", "1")
        if extra:
            env.update(extra)
        return env

    def _argv(self, host: str, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.hosts[host].ns, *argv]

    def spawn(self, host: str, argv: Sequence[str], name: str | None = None,
              env: Mapping[str, str] | None = None) -> Proc:
        """Start a long-running process inside `host`; output goes to files in tmp_path."""
        name = name or f"{host}-{len(self.procs)}"
        out = self.tmp_path / f"{name}.stdout"
        err = self.tmp_path / f"{name}.stderr"
        with open(out, "wb") as fo, open(err, "wb") as fe:
            popen = subprocess.Popen(self._argv(host, argv), stdin=subprocess.DEVNULL, stdout=fo,
                                     stderr=fe, cwd=self.tmp_path, env=self.env(env),
                                     start_new_session=True)
        proc = Proc(name, self.hosts[host].ns, list(argv), popen, out, err)
        self.procs.append(proc)
        return proc

    def run(self, host: str, argv: Sequence[str], timeout: float = 30.0, check: bool = True,
            env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run a command to completion inside `host` and capture its output."""
        popen = subprocess.Popen(self._argv(host, argv), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 cwd=self.tmp_path, env=self.env(env), start_new_session=True)
        self.extra_pids.add(popen.pid)
        try:
            out, err = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            out, err = popen.communicate(timeout=5)
            raise AssertionError(f"{argv} in {host} timed out after {timeout}s\n{out}\n{err}") from None
        res = subprocess.CompletedProcess(list(argv), popen.returncode, out, err)
        if check and res.returncode != 0:
            raise AssertionError(f"{argv} in {host} exited {res.returncode}\n{out}\n{err}")
        return res

    def python(self, host: str, script: Path, *args: str, timeout: float = 30.0) -> str:
        """Run `python script args...` inside `host`; return its stdout (fails on error)."""
        return self.run(host, [sys.executable, str(script), *args], timeout=timeout).stdout

    def pids(self, host: str) -> set[int]:
        """PIDs of the processes living in one host's namespace (`ip netns pids`)."""
        res = _ip("netns", "pids", self.hosts[host].ns, check=False)
        return {int(p) for p in res.stdout.split() if p.isdigit()}

    def ns_pids(self) -> set[int]:
        """Every PID the kernel sees in our namespaces (`ip netns pids`)."""
        pids: set[int] = set()
        for ns in self._namespaces:
            res = _ip("netns", "pids", ns, check=False)
            pids.update(int(p) for p in res.stdout.split() if p.isdigit())
        return pids

    def kill_tree(self, pid: int, sig: int = signal.SIGKILL) -> None:
        """Signal a process and every descendant (collected before signalling), by PID."""
        try:
            root = psutil.Process(pid)
            victims = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        for p in victims:
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                p.send_signal(sig)

    def close(self) -> None:
        """Kill every process we started or that lives in our namespaces, delete namespaces."""
        pids: set[int] = set(self.extra_pids)
        for proc in self.procs:
            pids.add(proc.pid)
        for pid in list(pids):
            with contextlib.suppress(psutil.NoSuchProcess):
                pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
        pids |= self.ns_pids()
        pids.discard(os.getpid())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in sorted(pids):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and any(_running(p) for p in pids):
                time.sleep(0.05)
            pids = {p for p in pids if _running(p)} | self.ns_pids()
            if not pids:
                break
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(2)
        for ns in reversed(self._namespaces):
            _ip("netns", "del", ns, check=False)
        self._namespaces.clear()

    def report(self) -> str:
        """Outputs of everything spawned (attached to a failing test's report)."""
        return "\n".join(p.output() for p in self.procs)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
