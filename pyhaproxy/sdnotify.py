"""systemd's readiness protocol (`Type=notify`) for `-Ws`: one datagram per state change to the
unix socket named by $NOTIFY_SOCKET (a path, or `@name` for the abstract namespace), as
sd_notify(3) sends it. No libsystemd: the protocol is a line of `KEY=VALUE` text."""

from __future__ import annotations

import os
import socket


class Notifier:
    """Sends `READY=1`, `RELOADING=1`, `STOPPING=1` when -Ws asked for it and systemd listens."""

    def __init__(self, enabled: bool) -> None:
        self.address: str | None = None
        if enabled:
            addr = os.environ.get("NOTIFY_SOCKET", "")
            if addr.startswith("@"):
                addr = "\0" + addr[1:]
            if addr.startswith(("/", "\0")):
                self.address = addr

    def send(self, state: str) -> None:
        """One notification; a systemd that went away is not the proxy's problem."""
        if self.address is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.sendto(state.encode(), self.address)
        except OSError:
            pass

    def ready(self) -> None:
        self.send(f"READY=1\nMAINPID={os.getpid()}\n")

    def reloading(self) -> None:
        self.send("RELOADING=1\n")

    def stopping(self) -> None:
        self.send("STOPPING=1\n")
