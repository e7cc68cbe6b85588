"""`show tls-keys [id|*]` (the stats socket): the `tls-ticket-keys` files of the configuration and
their keys, as haproxy 2.6 lists them.

One reference per file (several binds naming one file share it); the references are numbered
from the last file read (0) to the first, as 2.6 numbers them, and listed by number. With an id
(`#N` or the file's name) or `*`, each reference's three keys are dumped in base64, from the
oldest to the newest (the encrypting key is the middle one). The keys are those the workers
hold: read from the file by the master with the configuration (config/tls.py).
"""

from __future__ import annotations

import base64
from typing import Any

_NOT_FOUND = "'show tls-keys' unable to locate referenced filename\n"


def _refs(cfg: Any) -> list[tuple[int, str, Any]]:
    """(id, file, BindTLS) of each tls-ticket-keys file, by id."""
    files: dict[str, Any] = {}
    for px in cfg.proxies:
        for b in px.binds:
            t = getattr(b, "tls", None)
            if t is not None and t.ticket_file and t.ticket_file not in files:
                files[t.ticket_file] = t
    order = list(files.items())[::-1]       # (2.6 numbers from its list's head: the last file read)
    return [(i, name, t) for i, (name, t) in enumerate(order)]


def show_tls_keys(cfg: Any, args: list[str]) -> str:
    refs = _refs(cfg)
    if not args:
        return "# id (file)\n" + "".join(f"{i} ({name})\n" for i, name, _ in refs)
    ref = args[0]
    if ref != "*":
        if ref.startswith("#"):
            try:
                want = int(ref[1:])
            except ValueError:
                return _NOT_FOUND
            refs = [r for r in refs if r[0] == want]
        else:
            refs = [r for r in refs if r[1] == ref]
        if not refs:
            return _NOT_FOUND
    out = ["# id secret\n"]
    for i, name, t in refs:
        out.append(f"# {i} ({name})\n")
        for k in range(3):
            key = t.ticket_ring[(t.ticket_enc + 2 + k) % 3]
            out.append(f"{i}.{k} {base64.b64encode(key).decode()}\n")
    return "".join(out)
