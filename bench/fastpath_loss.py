"""The TCP fast path under packet loss (docs/tcp-fastpath.md, "Repeated bytes"): every byte checked.

    sudo python -m bench.fastpath_loss [--mib 256] [--loss 20] [--runs 10] [--slow 1.0] [--epoll]

Runs in a network namespace of its own (it re-executes itself under `unshare -n`; root and
Debian's `nftables` needed): an nft rule drops --loss per mille of the backend's segments on
loopback, so the proxy's server socket sees retransmissions. A backend streams --mib MiB made
of 8-byte little-endian offsets (every word says where it belongs) through a `mode tcp` proxy
with `option tcp-fastpath` (--epoll: without it); the client reads everything and checks every
word. --slow S: the client waits S seconds before reading, so the worker holds the session and
takes it back (a client that does not read); 0: it reads at once (the kernel relays throughout).
Per run: intact, or how many bytes too many or too few and where the first wrong word is; the
proxy's `-d` fast-path lines are in the output file given at the end. Bounded: at most 100
runs, a read that waits 60 s ends its run.
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "PYHAPROXY_FASTPATH_LOSS_NETNS"
BPORT, PPORT = 9000, 9100


def stream(c: socket.socket, n: int) -> None:
    """The backend: an exchange, then n bytes of offsets, then its end."""
    try:
        if c.recv(2) != b"hi":
            return
        c.sendall(b"ok")
        if c.recv(2) != b"go":
            return
        off = 0
        while off < n:
            k = min(n - off, 1 << 20)
            c.sendall(struct.pack(f"<{k // 8}Q", *range(off, off + k, 8)))
            off += k
        c.shutdown(socket.SHUT_WR)
        c.recv(1)
    except OSError:
        pass
    finally:
        c.close()


def serve(ls: socket.socket, n: int) -> None:
    while True:
        c, _ = ls.accept()
        threading.Thread(target=stream, args=(c, n), daemon=True).start()


def one_run(n: int, slow: float) -> str:
    """One session through the proxy: 'intact', or what was wrong."""
    s = socket.create_connection(("127.0.0.1", PPORT), timeout=10)
    s.settimeout(60)
    s.sendall(b"hi")
    if s.recv(2) != b"ok":
        return "no answer"
    time.sleep(0.05)            # (the hand-over follows the first exchange)
    s.sendall(b"go")
    time.sleep(slow)
    got, rest, first_bad = 0, b"", None
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            rest += d
            usable = len(rest) - len(rest) % 8
            words = memoryview(rest)[:usable].cast("Q")
            if first_bad is None and usable and (words[0] != got or words[-1] != got + usable - 8):
                first_bad = next(got + 8 * j for j in range(len(words)) if words[j] != got + 8 * j)
            got += usable
            rest = rest[usable:]
    except TimeoutError:
        return f"stalled after {got} bytes"
    finally:
        s.close()
    got += len(rest)
    if got == n and first_bad is None:
        return "intact"
    return f"{got - n:+d} bytes, first wrong word at {first_bad}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--loss", type=int, default=20, help="per mille of the backend's segments dropped")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--slow", type=float, default=1.0, help="seconds the client waits before reading")
    ap.add_argument("--epoll", action="store_true", help="without option tcp-fastpath")
    args = ap.parse_args()
    if os.environ.get(MARK) != "1":
        env = dict(os.environ, **{MARK: "1"})
        return subprocess.call(["unshare", "-n", sys.executable, "-m", "bench.fastpath_loss", *sys.argv[1:]],
                               env=env, cwd=ROOT)
    runs = max(1, min(args.runs, 100))
    n = args.mib << 20
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    if args.loss:
        for rule in (["add", "table", "ip", "loss"],
                     ["add", "chain", "ip", "loss", "out", "{ type filter hook output priority 0; }"],
                     ["add", "rule", "ip", "loss", "out", "tcp", "sport", str(BPORT), "numgen", "random",
                      "mod", "1000", "<", str(args.loss), "drop"]):
            subprocess.run(["nft", *rule], check=True)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", BPORT))
    ls.listen(16)
    threading.Thread(target=serve, args=(ls, n), daemon=True).start()
    work = Path(tempfile.mkdtemp(prefix="fastpath-loss-"))
    cfg = work / "fp.cfg"
    cfg.write_text(f"""
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen fp
    bind 127.0.0.1:{PPORT}
    {"" if args.epoll else "option tcp-fastpath"}
    server s1 127.0.0.1:{BPORT}
""")
    out = work / "proxy.out"
    with out.open("w") as f:
        px = subprocess.Popen([sys.executable, "-m", "pyhaproxy", "-db", "-d", "-f", str(cfg)],
                              env=dict(os.environ, PYTHONPATH=str(ROOT)), stdout=f, stderr=subprocess.STDOUT)
    try:
        time.sleep(1.5)
        bad = 0
        for r in range(runs):
            t0 = time.monotonic()
            result = one_run(n, args.slow)
            bad += result != "intact"
            print(f"run {r}: {result} ({time.monotonic() - t0:.1f} s)", flush=True)
    finally:
        px.terminate()
        px.wait(10)
    counters = subprocess.run(["nstat", "-as"], capture_output=True, text=True).stdout.split("\n")
    keep = ("TcpRetransSegs", "TcpExtPruneCalled", "TcpExtTCPDSACKOldSent", "TcpExtTCPOFOQueue")
    print("namespace counters:", " ".join(" ".join(ln.split()[:2]) for ln in counters if ln.startswith(keep)))
    print(f"{bad} of {runs} runs wrong; the proxy's lines: {out}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
