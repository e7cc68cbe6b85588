"""Command line: HAProxy 1.2's flags, the -v/-vv/-c/usage outputs and exit codes.

Arguments are read the way HAProxy reads them: each one must start with '-', the first letter
after the dash decides (``-dfoo`` is ``-d``), flags taking a value take the next argument, and
``-sf``/``-st`` take every following numeric argument as an old pid. Anything else prints the
version and the usage text and exits 1.

Exit codes: 0 when the service is up (or, with -c, the configuration is valid), 1 otherwise.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
from typing import TYPE_CHECKING

from pyhaproxy import __version__
from pyhaproxy.startup import Options, apply_options, progname
from pyhaproxy.version import HAPROXY_VERSION, RELEASE_DATE, feature_list

if TYPE_CHECKING:
    from pyhaproxy.config.model import Config


class UsageError(Exception):
    """Bad command line: main() prints the usage text and returns 1."""


def _int_arg(flag: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"-{flag} expects a number") from None


def parse_args(argv: list[str]) -> Options:
    """argv without the program name -> Options. Raises UsageError."""
    o = Options()
    i = 0
    n = len(argv)
    while i < n:
        arg = argv[i]
        if not arg.startswith("-"):
            raise UsageError(f"unexpected argument '{arg}'")
        flag = arg[1:]
        c = flag[:1]
        if c == "v":
            # like HAProxy: -v prints the version at once, whatever follows
            o.version = 2 if flag.startswith("vv") else 1
            return o
        # 2.x multi-letter flags first, then the 1.x first-letter rule
        if flag == "Ws":
            o.master_worker = True
            o.sd_notify = True
        elif flag in ("S", "x", "L"):
            i += 1
            if i >= n:
                raise UsageError(f"-{flag} requires an argument")
            if flag == "S":
                from pyhaproxy.master_cli import parse_master_cli

                try:
                    parse_master_cli(argv[i])
                except ValueError as e:
                    raise UsageError(str(e)) from None
                o.master_cli.append(argv[i])
            elif flag == "x":
                o.expose_fd = argv[i]
            else:
                o.localpeer = argv[i]
        elif flag == "dW":
            o.zero_warning = True
        elif flag == "dD":
            o.diag = True
        elif flag in ("dV", "dr", "dG") or flag.startswith("dM"):
            o.accepted_debug.add(flag[:2])  # TLS verify, resolvers, getaddrinfo, pool poisoning
        elif c == "d" and flag[1:2] in ("e", "p", "k", "s"):
            o.nopoll.add(flag[:2])
        elif c == "V":
            o.verbose = True
        elif c == "d" and flag[1:2] == "b":
            o.foreground = True
        elif c == "d":
            o.debug = True
        elif flag[:2] == "cc":
            i += 1
            if i >= n:
                raise UsageError("-cc requires a condition")
            o.condition = argv[i]
            return o  # like HAProxy, the condition alone decides: no configuration is read
        elif c == "c":
            o.check = True
        elif c == "D":
            o.daemon = True
            # (HAProxy 1.x's -D implied -q; 2.x prints every start-up warning and alert before
            # detaching, so a daemon that caps itself at the fd limit says so)
        elif c == "q":
            o.quiet = True
        elif c == "W":
            o.master_worker = True
        elif c == "s" and flag[1:2] in ("f", "t"):
            o.oldpids_sig = signal.SIGUSR1 if flag[1] == "f" else signal.SIGTERM
            i += 1
            while i < n and not argv[i].startswith("-"):
                try:
                    pid = int(argv[i])
                except ValueError:
                    raise UsageError(f"invalid pid '{argv[i]}'") from None
                if pid <= 0:
                    raise UsageError(f"invalid pid '{argv[i]}'")
                o.oldpids.append(pid)
                i += 1
            continue
        elif c in ("n", "m", "N", "f", "p"):
            i += 1
            if i >= n:
                raise UsageError(f"-{c} requires an argument")
            value = argv[i]
            if c == "n":
                o.maxconn = _int_arg(c, value)
            elif c == "m":
                o.memmax = _int_arg(c, value)
            elif c == "N":
                o.maxpconn = _int_arg(c, value)
            elif c == "f":
                o.files.append(value)
            else:
                o.pidfile = value
        else:
            raise UsageError(f"unknown option '{arg}'")
        i += 1
    if not o.files:
        raise UsageError("no configuration file")
    return o


# --- texts -------------------------------------------------------------------------------------
def version_text() -> str:
    """`-v` in HAProxy 2.x's form: the version line that scripts parse, then where it runs."""
    u = os.uname()
    return (
        f"HAProxy version {HAPROXY_VERSION} {RELEASE_DATE} - pyhaproxy {__version__}\n"
        f"Status: pyhaproxy, a drop-in for HAProxy {HAPROXY_VERSION.rsplit('.', 1)[0]} configurations "
        "(HAProxy is Copyright Willy Tarreau and contributors).\n"
        f"Running on: {u.sysname} {u.release} {u.version} {u.machine}\n"
    )


def build_options_text() -> str:
    import platform

    try:
        from pyhaproxy import _core  # type: ignore[attr-defined]

        core = "built (" + os.path.basename(getattr(_core, "__file__", "") or "?") + ")"
    except ImportError:
        core = "not built"
    try:
        import Cython  # type: ignore[import-not-found, import-untyped]

        cython = str(Cython.__version__)
    except ImportError:
        cython = "absent"
    return (
        "Build options :\n"
        f"  TARGET  = {sys.platform} ({platform.machine()})\n"
        f"  PYTHON  = {platform.python_implementation()} {platform.python_version()}\n"
        f"  CYTHON  = {cython}\n"
        f"  CORE    = pyhaproxy._core {core}\n"
        "\n"
        f"Feature list : {feature_list()}\n"
        "\n"
        "Available polling systems :\n"
        "      epoll : pref=300,  test result OK\n"
        "\n"
    )


def usage_text(name: str) -> str:
    return (
        f"Usage : {name} -f <cfgfile> [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]\n"
        "        [ -p <pidfile> ] [ -m <max megs> ]\n"
        "        -v displays version ; -vv shows known build options.\n"
        "        -d enters debug mode ; -db only disables background mode.\n"
        "        -V enters verbose mode (disables quiet mode)\n"
        "        -D goes daemon ; warnings and alerts are shown before detaching\n"
        "        -q quiet mode : don't display messages\n"
        "        -c check mode : only check config file and exit\n"
        "        -n sets the maximum total # of connections (uses ulimit -n)\n"
        "        -m limits the usable amount of memory (in MB)\n"
        "        -N sets the default, per-proxy maximum # of connections (0)\n"
        "        -p writes the pid of the master process to this file\n"
        "        -W master-worker mode (SIGUSR2 reloads the configuration)\n"
        "        -de/-dp/-dk/-ds accepted for compatibility (epoll() is always used)\n"
        "        -f may be repeated ; files are read in order.\n"
        "        -sf/-st [pid ]* finishes/terminates old pids.\n"
        "\n"
    )


def check_condition(text: str) -> int:
    """`-cc EXPR`: 0 when the `.if` condition is true, 1 when false, 2 when it cannot be read."""
    from pyhaproxy.config.lexer import check_condition as evaluate

    rc, alert = evaluate(text)
    if alert:
        sys.stderr.write(alert + "\n")
    return rc


def _print_config_error(e: BaseException) -> None:
    text = str(e).rstrip("\n")
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def check_verdict(cfg: Config, quiet: bool, warned: bool) -> int:
    """`-c`'s last words and exit code, as 2.6's: "Warnings were found." when any was
    printed; valid (0) when at least one listener would start (a proxy's, a local peer's, or
    a `stats socket`: 2.6 counts the global one's, as Debian's default haproxy.cfg shows),
    else 2."""
    listens = any(p.binds and not p.disabled for p in cfg.proxies) \
        or any(s.bind is not None and not s.disabled for s in cfg.peers) or bool(cfg.global_.stats_sockets)
    if not quiet:
        if warned:
            sys.stdout.write("Warnings were found.\n")
        sys.stdout.write("Configuration file is valid\n" if listens else
                         "Configuration file has no error but will not start (no listener) => exit(2).\n")
        sys.stdout.flush()
    return 0 if listens else 2


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``haproxy``/``pyhaproxy`` commands and of ``python -m pyhaproxy``."""
    if argv is None:
        argv = sys.argv[1:]
    name = progname()
    try:
        opts = parse_args(argv)
    except UsageError:
        sys.stdout.write(version_text())
        sys.stdout.flush()
        sys.stderr.write(usage_text(name))
        return 1
    if opts.version:
        sys.stdout.write(version_text())
        if opts.version > 1:
            sys.stdout.write(build_options_text())
        return 0
    if opts.condition is not None:
        return check_condition(opts.condition)

    from pyhaproxy.config import ConfigError
    from pyhaproxy.logs import MasterLog

    # During startup alerts are shown even in quiet mode (HAProxy's MODE_STARTING); warnings follow -q.
    startup_log = MasterLog(None, quiet=False)
    try:
        from pyhaproxy.config import parse_files
        from pyhaproxy.config.lexer import Context

        # as 2.6, for "${HAPROXY_LOCALPEER}": -L, else the host name (a `localpeer` line may change it)
        os.environ["HAPROXY_LOCALPEER"] = opts.localpeer or socket.gethostname()
        if opts.master_worker:
            os.environ["HAPROXY_MWORKER"] = "1"
        cfg = parse_files(list(opts.files), allow_empty=opts.check,
                          ctx=Context(diag=opts.diag, localpeer=opts.localpeer))
    except ConfigError as e:
        _print_config_error(e)
        startup_log.alert(f"Error reading configuration file : {' '.join(opts.files)}", syslog=False)
        return 1
    except OSError as e:
        startup_log.alert(
            f"Could not open configuration file {getattr(e, 'filename', None) or ' '.join(opts.files)}"
            f" : {e.strerror or e}",
            syslog=False,
        )
        return 1

    quiet = (opts.quiet or cfg.global_.quiet) and not opts.verbose and not opts.debug and not opts.foreground
    if not quiet:
        for w in cfg.warnings:
            sys.stderr.write(w.rstrip("\n") + "\n")
        sys.stderr.flush()

    if opts.zero_warning and cfg.warnings:
        startup_log.alert("Some warnings were found and 'zero-warning' is set. Aborting.", syslog=False)
        return 1
    if opts.check:
        # 2.6 reads the server state files under -c too, and says what is wrong with them
        from pyhaproxy import server_state

        warned = [bool(cfg.warnings)]

        def state_warning(msg: str) -> None:
            warned[0] = True
            if not quiet:
                startup_log.warning(msg, syslog=False)

        server_state.load(cfg, state_warning)
        return check_verdict(cfg, quiet, warned[0])

    extra = apply_options(cfg, opts)
    warn_log = MasterLog(None, quiet=quiet)
    for w in extra:
        warn_log.warning(w, syslog=False)
    if opts.zero_warning and extra:
        startup_log.alert("Some warnings were found and 'zero-warning' is set. Aborting.", syslog=False)
        return 1

    from pyhaproxy.master import Master

    return Master(cfg, opts).run()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
