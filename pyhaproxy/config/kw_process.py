"""Keywords about the process and how it presents itself (2.6, 3.1 and 4.2): the environment
(`setenv`, `presetenv`, `unsetenv`, `resetenv`, which later `"${VAR}"` words of the file see, and
the workers inherit), `node` and `description` (`show info`, the stats page), a proxy's
`description` and persistent `id` (`iid` of `show stat`), and `cpu-map` (workers pinned to CPUs,
pyhaproxy/master.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import MutableMapping

from .model import Where
from .state import State
from .values import fail, not_supported, parse_int

MAX_CPU = 64        # 2.6 on a 64-bit machine: CPU and thread numbers up to 64


def _env(st: State) -> MutableMapping[str, str]:
    env = st.env if st.env is not None else os.environ
    assert isinstance(env, MutableMapping)
    return env


def g_setenv(st: State, args: list[str], where: Where) -> None:
    """`setenv NAME VALUE` / `presetenv NAME VALUE` (only when not set yet), `unsetenv NAME...`,
    `resetenv [NAME...]` (everything but the names), in the order of the file, as 2.6."""
    kw, env = args[0], _env(st)
    if kw in ("setenv", "presetenv"):
        if len(args) != 3:
            raise fail(where, f"'{kw}' expects exactly 2 arguments.")
        if kw == "setenv" or args[1] not in env:
            env[args[1]] = args[2]
    elif kw == "unsetenv":
        if len(args) < 2:
            raise fail(where, "'unsetenv' expects at least 1 argument.")
        for name in args[1:]:
            env.pop(name, None)
    else:
        keep = set(args[1:])
        for name in [n for n in env if n not in keep]:
            del env[name]


def g_node_description(st: State, args: list[str], where: Where) -> None:
    """`node NAME` (2.6: the host name by default) and `description TEXT...` of the process."""
    if len(args) < 2:
        raise fail(where, f"'{args[0]}' expects {'a string' if args[0] == 'node' else 'a string argument'}.")
    g = st.config.global_
    if args[0] == "node":
        if not re.fullmatch(r"[0-9A-Za-z._-]+", args[1]):
            raise fail(where, "'node' requires valid node name - non-empty string with digits(0-9), "
                              "letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_).")
        g.node = args[1]
    else:
        g.description = " ".join(args[1:])


def p_description(st: State, args: list[str], where: Where) -> None:
    if len(args) < 2:
        raise fail(where, "'description' expects a string argument.")
    st.px().description = " ".join(args[1:])


def p_id(st: State, args: list[str], where: Where) -> None:
    """A proxy's `id N` (its `iid`), unique among proxies (checked when the file is read)."""
    if st.in_defaults:
        raise fail(where, "'id' not allowed in 'defaults' section.")
    if len(args) < 2:
        raise fail(where, "'id' : expects an integer argument")
    value = parse_int(args[1], "id", where, lo=-(2**31))
    px = st.px()
    if value <= 0:
        raise fail(where, "custom id has to be > 0.")
    for other in st.config.proxies:
        if other is not px and other.id == value:
            raise fail(where, f"{px.cap} {px.name} reuses same custom id as {other.cap} {other.name} "
                              f"(declared at {other.where.file}:{other.where.line}).")
    px.id = value


def p_bind_process(st: State, args: list[str], where: Where) -> None:
    """`bind-process all|odd|even|N[-M]...`: 2.6 runs one process, so the line has no effect
    (2.6's deprecation warning) and a number above 1 is 2.6's alert. With `nbproc` above 1 (a
    1.x configuration) it would pin the proxy to some workers: refused, pyhaproxy does not."""
    if st.config.global_.nbproc > 1:
        raise not_supported("'bind-process' with 'nbproc' above 1", "1.4", where)
    for word in args[1:]:
        if word in ("all", "odd", "even"):
            continue
        m = re.fullmatch(r"(\d*)(-(\d*))?", word)
        bounds = [int(x) for x in (m.group(1), m.group(3)) if x] if m and word not in ("", "-") else []
        if not bounds or any(n != 1 for n in bounds):
            raise fail(where, f"bind-process : '{word}' is not a valid number/range. It supports numbers "
                              "from 1 to 1.")
    st.warn(where, "'bind-process' has no effect, is deprecated, and will be removed in version 2.7.")


def p_backlog(st: State, args: list[str], where: Where) -> None:
    """`backlog N`: the listen() backlog of the proxy's bind lines that give none."""
    if len(args) < 2:
        raise fail(where, "'backlog' expects an integer argument.")
    st.px().backlog = parse_int(args[1], "backlog", where)


def _set(text: str, where: Where, what: str, lo: int) -> list[int]:
    """`all | odd | even | N | N-[M]` (a missing upper bound is 64), numbers from `lo`."""
    if text == "all":
        return list(range(lo, MAX_CPU + lo))
    if text in ("odd", "even"):
        first = 1 if text == "odd" else 2
        return [n - 1 + lo for n in range(first, MAX_CPU + 1, 2)]
    a, dash, b = text.partition("-")
    try:
        low = int(a)
        high = (int(b) if b else MAX_CPU - 1 + lo) if dash else low
    except ValueError:
        raise fail(where, f"cpu-map: invalid {what} '{text}'.") from None
    if low < lo or high < low or high > MAX_CPU - 1 + lo:
        raise fail(where, f"cpu-map: invalid {what} '{text}'.")
    return list(range(low, high + 1))


def g_cpu_map(st: State, args: list[str], where: Where) -> None:
    """`cpu-map [auto:]PROCESS[/THREADS] CPUS...`: pyhaproxy's workers stand for 2.6's threads
    (`nbthread`), so `1/N` pins worker N; `1` or `1/all` pins every worker to the CPUs;
    `auto:` pairs the N-th thread with the N-th CPU. A later line replaces an earlier one for
    the threads it names (config.global_.cpu_map: thread -> CPUs)."""
    if len(args) < 3:
        raise fail(where, "cpu-map: expects a process number and a CPU set.")
    spec = args[1]
    auto = spec.startswith("auto:")
    if auto:
        spec = spec[5:]
    proc, slash, threads = spec.partition("/")
    if 1 not in _set(proc, where, "process set", 1):
        return      # (2.6 has one process: other process numbers are ignored)
    tset = _set(threads if slash else "all", where, "thread set", 1)
    cpus = sorted({c for a in args[2:] for c in _set(a, where, "cpu set", 0)})
    g = st.config.global_
    if auto:
        if len(tset) != len(cpus):
            raise fail(where, "cpu-map: auto-mapping requires the thread set and the CPU set to have "
                              "the same size.")
        for t, c in zip(tset, cpus, strict=True):
            g.cpu_map[t] = [c]
    else:
        for t in tset:
            g.cpu_map[t] = cpus
