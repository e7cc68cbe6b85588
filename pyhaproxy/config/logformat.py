"""`log-format` strings of HAProxy 2.x (configuration.txt 8.2.6), parsed once.

A format becomes a list of `LogItem`s: literal text, a variable (`%ci`, `%{+Q}r`...) with its
flags, or a sample (`%[src]`). ext/logline.pxi formats a log line from them in C. A variable we
do not produce is refused by name, not logged as '-'.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sample import SampleError, SampleExpr, closing_bracket, parse_sample

# variable -> C member of ext/logline.pxi's log_var; HTTP-only ones noted by 2.6 with "H"
VARIABLES = {
    "B": "LV_BYTES_READ", "CC": "LV_CAPTURED_REQ_COOKIE", "CS": "LV_CAPTURED_RSP_COOKIE",
    "H": "LV_HOSTNAME", "HM": "LV_HTTP_METHOD", "HP": "LV_HTTP_PATH", "HPO": "LV_HTTP_PATH_ONLY",
    "HQ": "LV_HTTP_QUERY", "HU": "LV_HTTP_URI", "HV": "LV_HTTP_VERSION", "ST": "LV_STATUS",
    "T": "LV_DATE_GMT", "Ta": "LV_TA", "Tc": "LV_TC", "Td": "LV_TD", "Tl": "LV_DATE_LOCAL",
    "Th": "LV_TH", "Ti": "LV_TI", "Tq": "LV_TQ", "TR": "LV_TR_REQ", "Tr": "LV_TR", "Ts": "LV_TS",
    "Tt": "LV_TT", "Tu": "LV_TU", "Tw": "LV_TW", "U": "LV_BYTES_UPLOADED", "ac": "LV_ACTCONN",
    "b": "LV_BACKEND", "bc": "LV_BECONN", "bq": "LV_BACKEND_QUEUE", "ci": "LV_CLIENT_IP",
    "cp": "LV_CLIENT_PORT", "f": "LV_FRONTEND", "fc": "LV_FECONN", "fi": "LV_FRONTEND_IP",
    "fp": "LV_FRONTEND_PORT", "ft": "LV_FRONTEND_TRANSPORT", "lc": "LV_LOG_COUNTER",
    "hr": "LV_HDR_REQ", "hrl": "LV_HDR_REQ_LIST", "hs": "LV_HDR_RSP", "hsl": "LV_HDR_RSP_LIST",
    "ms": "LV_MS", "pid": "LV_PID", "r": "LV_REQUEST", "rc": "LV_RETRIES", "rt": "LV_REQ_COUNTER",
    "s": "LV_SERVER", "sc": "LV_SRVCONN", "si": "LV_SERVER_IP", "sp": "LV_SERVER_PORT",
    "sq": "LV_SRV_QUEUE", "t": "LV_DATE", "tr": "LV_DATE_REQ", "trg": "LV_DATE_REQ_GMT",
    "trl": "LV_DATE_REQ_LOCAL", "ts": "LV_TERM_STATE", "tsc": "LV_TERM_STATE_COOKIE",
    "ID": "LV_UNIQUE_ID", "sslv": "LV_SSL_VERSION", "sslc": "LV_SSL_CIPHER",
}
# 2.6's variables we cannot produce yet: an error names them
UNSUPPORTED = {"bi": "the backend source address",
               "bp": "the backend source port"}
FLAG_Q, FLAG_X, FLAG_E = 1, 2, 4
_FLAGS = {"Q": FLAG_Q, "X": FLAG_X, "E": FLAG_E}
# 8.2.3 / 8.2.2: the formats `option httplog` and `option tcplog` stand for
HTTPLOG = ("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq "
           "%hr %hs %{+Q}r")
TCPLOG = "%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq"
# 8.2.3: `option httplog clf`, the same fields in the Common Log Format's order
HTTPLOG_CLF = ('%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc '
               '%ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl')
# 8.2.4: `option httpslog` (2.5+)
HTTPSLOG = (HTTPLOG + " %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] "
            "%[ssl_fc_sni]/%sslv/%sslc")


class LogFormatError(ValueError):
    """A log-format string that cannot be used; the message names what is wrong."""


@dataclass
class LogItem:
    text: str = ""                  # literal (var and sample empty)
    var: str = ""                   # a variable's name (ci, tr, ...)
    flags: int = 0
    sample: SampleExpr | None = None


def parse_log_format(text: str, request_samples: bool = False) -> list[LogItem]:
    """A log-format string -> items (`%%` is a percent sign; `%o` sets flags for what follows).
    `request_samples`: the format is built while the request is analysed (unique-id-format), so
    a request fetch may be used."""
    items: list[LogItem] = []
    lit: list[str] = []
    default_flags = 0
    i = 0

    def flush() -> None:
        if lit:
            items.append(LogItem(text="".join(lit)))
            lit.clear()

    while i < len(text):
        ch = text[i]
        if ch != "%":
            lit.append(ch)
            i += 1
            continue
        if text.startswith("%%", i):
            lit.append("%")
            i += 2
            continue
        i += 1
        flags = default_flags
        if i < len(text) and text[i] == "{":
            end = text.find("}", i)
            if end < 0:
                raise LogFormatError(f"missing '}}' in log-format '{text}'")
            for f in text[i + 1:end].split(","):
                f = f.strip()
                if len(f) != 2 or f[0] not in "+-" or f[1] not in _FLAGS:
                    raise LogFormatError(f"unknown flag '{f}' in log-format")
                flags = flags | _FLAGS[f[1]] if f[0] == "+" else flags & ~_FLAGS[f[1]]
            i = end + 1
        if i < len(text) and text[i] == "[":
            j = closing_bracket(text, i)
            if j < 0:
                raise LogFormatError(f"missing ']' in log-format '{text}'")
            try:
                smp = parse_sample(text[i + 1:j])
            except SampleError as exc:
                raise LogFormatError(str(exc)) from None
            if smp.side != "any" and not (request_samples and smp.side == "req"):
                raise LogFormatError(f"sample fetch '{smp.fetch}' reads a message that is gone when the "
                                     "line is logged (pyhaproxy does not keep it)")
            flush()
            items.append(LogItem(flags=flags, sample=smp))
            i = j + 1
            continue
        j = i
        while j < len(text) and text[j].isalnum():
            j += 1
        name = text[i:j]
        if not name:
            raise LogFormatError(f"expected a variable after '%' in log-format '{text}'")
        if name == "o":
            default_flags = flags
            i = j
            continue
        if name in UNSUPPORTED:
            raise LogFormatError(f"log-format variable '%{name}' ({UNSUPPORTED[name]}) is not supported")
        if name not in VARIABLES:
            raise LogFormatError(f"no such format variable '{name}'. If you wanted to emit the '%' "
                                 "character verbatim, you need to use '%%'")
        flush()
        items.append(LogItem(var=name, flags=flags))
        i = j
    flush()
    return items
