"""`server-state-base`, `server-state-file` (global), `load-server-state-from-file` and
`server-state-file-name` (defaults, listen, backend): where the servers' state saved with
`show servers state` is read back at start-up and reload (pyhaproxy/server_state.py).

Messages are 2.6's (src/cfgparse-global.c, src/cfgparse-listen.c).
"""

from __future__ import annotations

from .model import Where
from .state import DEFAULTS, State
from .values import fail, no_extra


def g_server_state(st: State, args: list[str], where: Where) -> None:
    """`server-state-base DIR` / `server-state-file FILE`: a second one is ignored with an alert."""
    kw = args[0]
    g = st.config.global_
    attr = "server_state_base" if kw == "server-state-base" else "server_state_file"
    if getattr(g, attr) is not None:
        st.warn(where, f"'{kw}' already specified. Continuing.")
        return
    if len(args) < 2 or not args[1]:
        if attr == "server_state_base":
            raise fail(where, f"'{kw}' expects one argument: a directory path.")
        raise fail(where, f"'{kw}' expect one argument: a file path.")
    setattr(g, attr, args[1])


def p_load_server_state(st: State, args: list[str], where: Where) -> None:
    """`load-server-state-from-file global|local|none`."""
    value = args[1] if len(args) > 1 else ""
    if value not in ("global", "local", "none"):
        raise fail(where, f"'{args[0]}' expects 'global', 'local' or 'none'. Got '{value}'")
    st.px().load_server_state = value


def p_server_state_file_name(st: State, args: list[str], where: Where) -> None:
    """`server-state-file-name [FILE|use-backend-name]`: no argument is the backend's name too.
    In `defaults` it is accepted and has no effect, as in 2.6."""
    no_extra(args, 2, where)
    if st.section == DEFAULTS:
        return  # accepted, but 2.6 does not pass it on: each backend reads its own name (measured)
    value = args[1] if len(args) > 1 else ""
    st.px().server_state_file_name = "" if value in ("", "use-backend-name") else value
