"""Lines -> words for the HAProxy configuration language, as HAProxy 2.6 reads it.

Rules (configuration manual 2.2-2.4): leading blanks are skipped, unquoted blanks separate words,
an unquoted `#` (or a CR/LF) ends the line. A backslash outside single quotes escapes: `\\ `
`\\\\` give the character itself, `\\#` `\\'` `\\"` a literal `#`/quote, `\\t` `\\r` `\\n` the
control character, `\\xHH` the byte HH, and `\\$` a literal `$` inside double quotes; any other
backslash pair is kept as written (regexes and replacement strings rely on `\\1`, `\\.`).
Double quotes protect blanks, `'` and `#` and expand environment variables (`$VAR`, `${VAR}`,
`${VAR-default}`, `${VAR[*]}` which splits the value into words, and the pseudo-variables
`.FILE`, `.LINE`, `.SECTION`); an undefined variable expands to nothing. Single quotes protect
everything. `$` outside double quotes is a plain character. `""` is an empty word, except at the
end of a line where HAProxy cannot tell empty words from the end of the arguments.

Lines starting with `.if/.elif/.else/.endif` open and close conditional blocks (conditions in
`conditions.py`); `.notice/.warning/.alert/.diag "msg"` report. A 1.x configuration has no quotes
and reads as it always did. Files are decoded as latin-1 so that every byte maps to one character.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .conditions import ConditionError, evaluate

_HEX = "0123456789abcdefABCDEF"
_BLANKS = " \t\f\v"
_SPACES = " \t\n\v\f\r"  # C's isspace(): what splits a `${VAR[*]}` value
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_NAME = _ALPHA | frozenset("0123456789_")  # ASCII only, as C's isalnum() in HAProxy
MAX_LINE_ARGS = 64  # HAProxy's MAX_LINE_ARGS: more words on one line is an error
MAX_NESTED_CONDS = 100  # HAProxy's MAXNESTEDCONDS


class ConfigError(Exception):
    """A configuration error, formatted exactly as HAProxy prints its alerts.

    `str(e)` is `[ALERT] parsing [FILE:LINE] : MESSAGE` for errors tied to a line,
    `[ALERT] parsing FILE : MESSAGE` for errors about a whole file, or `alert` when given.
    """

    def __init__(self, file: str | None, line: int, message: str, alert: str | None = None) -> None:
        self.file = file
        self.line = line
        self.message = message
        if alert is None:
            if file is not None and line > 0:
                alert = f"[ALERT] parsing [{file}:{line}] : {message}"
            elif file is not None:
                alert = f"[ALERT] parsing {file} : {message}"
            else:
                alert = f"[ALERT] {message}"
        self.alert = alert
        super().__init__(alert)

    def __str__(self) -> str:
        return self.alert


@dataclass
class Line:
    """The words of one non-empty configuration line and where it came from."""

    file: str
    line: int
    words: list[str]


@dataclass
class Context:
    """What the tokenizer needs besides the text: the environment, the current section (for
    `${.SECTION}`), where `.warning`/`.notice` messages go, and whether `.diag` ones are wanted
    (2.6's `-dD`)."""

    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    section: str = ""
    messages: list[str] = field(default_factory=list)
    diag: bool = False
    localpeer: str | None = None  # peers: -L NAME, the local peer's name given on the command line


def _position_error(file: str, line: int, what: str, pos: int) -> ConfigError:
    return ConfigError(file, line, f"{what} at position {pos + 1}.")


def _expand(text: str, i: int, ctx: Context, file: str, line: int) -> tuple[str, bool, int]:
    """`text[i]` is a `$` inside double quotes: the variable's value, whether it is `[*]`-split,
    and the offset after the reference."""
    start = i
    i += 1
    brace = i < len(text) and text[i] == "{"
    if brace:
        i += 1
    if i >= len(text) or not (text[i] in _ALPHA or text[i] in "_."):
        raise _position_error(file, line, "forbidden first char in environment variable name", i)
    j = i + 1 if text[i] == "." else i
    while j < len(text) and text[j] in _NAME:
        j += 1
    name = text[i:j]
    value: str | None
    if name.startswith("."):
        pseudo = {".LINE": str(line), ".FILE": file, ".SECTION": ctx.section}
        if name not in pseudo:
            raise _position_error(file, line, "forbidden first char in environment variable name", i)
        value = pseudo[name]
    else:
        value = ctx.env.get(name)
    i = j
    split = False
    if brace and text.startswith("[", i):
        if not text.startswith("[*]", i):
            raise _position_error(file, line, "truncated or invalid word expansion sequence", i)
        split = True
        i += 3
    if brace:
        if i < len(text) and text[i] == "-":
            end = text.find("}", i)
            if end < 0:
                raise _position_error(file, line, "unmatched brace in environment variable name", start + 1)
            if value is None:
                value = text[i + 1 : end]  # only an undefined variable takes the default
            i = end
        if i >= len(text) or text[i] != "}":
            raise _position_error(file, line, "unmatched brace in environment variable name", start + 1)
        i += 1
    return value or "", split, i


def split_line(text: str, file: str = "<string>", line: int = 0, ctx: Context | None = None,
               sharp: bool = True) -> list[str]:
    """Split one line into words, applying quotes, escapes, variables and comments.

    Empty words at the end of the line are dropped: HAProxy cannot tell them from the end of
    the arguments (`set-header X ""` lacks its value there too). `sharp=False` (the `-cc`
    reading) makes `#` an ordinary character.
    """
    ctx = ctx or Context()
    words: list[str] = []
    cur: list[str] = []
    have_word = False  # an escaped char alone (`\ `) or a pair of quotes (`""`) still makes a word
    squote = dquote = False
    quote_at = -1
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in "\r\n":
            break
        if c == "#" and sharp and not squote and not dquote:
            break
        if c == '"' and not squote:
            dquote = not dquote
            quote_at = i if dquote else -1
            have_word = True
            i += 1
            continue
        if c == "'" and not dquote:
            squote = not squote
            quote_at = i if squote else -1
            have_word = True
            i += 1
            continue
        if c == "\\" and not squote:
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt in (" ", "\\", "'", '"') and nxt or (nxt == "#" and sharp):
                cur.append(nxt)
                i += 2
            elif nxt in ("t", "n", "r"):
                cur.append({"t": "\t", "n": "\n", "r": "\r"}[nxt])
                i += 2
            elif nxt == "$" and dquote:
                cur.append("$")
                i += 2
            elif nxt == "x":
                hx = text[i + 2 : i + 4]
                if len(hx) != 2 or hx[0] not in _HEX or hx[1] not in _HEX:
                    raise _position_error(file, line, "truncated or invalid hexadecimal sequence", i)
                cur.append(chr(int(hx, 16)))
                i += 4
            else:  # not an escape sequence: the backslash is kept (`\1`, `\.`)
                cur.append(c)
                i += 1
            have_word = True
            continue
        if c in _BLANKS and not squote and not dquote:
            if have_word:
                words.append("".join(cur))
                cur = []
                have_word = False
            i += 1
            continue
        if c == "$" and dquote:
            value, split, i = _expand(text, i, ctx, file, line)
            if not split:
                cur.append(value)
                continue
            # `${VAR[*]}`: each run of blanks in the value ends the word being built
            k = 0
            while k < len(value):
                if value[k] in _SPACES:
                    words.append("".join(cur))
                    cur = []
                    while k < len(value) and value[k] in _SPACES:
                        k += 1
                else:
                    cur.append(value[k])
                    k += 1
            continue
        cur.append(c)
        have_word = True
        i += 1
    if quote_at >= 0:
        raise _position_error(file, line, "unmatched quote", quote_at)
    if have_word:
        words.append("".join(cur))
    while words and not words[-1]:
        words.pop()
    if len(words) > MAX_LINE_ARGS:
        pos = sum(len(w) + 1 for w in words[: MAX_LINE_ARGS - 1]) + 1  # in HAProxy's word buffer
        raise ConfigError(
            file, line,
            f"too many words, truncating after word {MAX_LINE_ARGS}, position {pos}: "
            f"<{words[MAX_LINE_ARGS - 1]}>.",
        )
    return words


def check_condition(text: str) -> tuple[int, str | None]:
    """`-cc EXPR` as HAProxy 2.6 answers it: (0 true, 1 false, 2 unreadable) and the alert to print.

    The text is read as a configuration line is, but `#` is no comment; the words are joined
    back with single spaces and evaluated.
    """
    try:
        words = split_line(text, "<cmdline>", 0, Context(), sharp=False)
    except ConfigError as e:
        what = e.message.rstrip(".").split(" at position")[0]
        if what.startswith(("unmatched quote", "truncated or invalid hex")):
            return 2, f"[ALERT] Syntax Error in condition: {what[0].upper()}{what[1:]}."
        if what.startswith("too many words"):
            return 2, "[ALERT] Error in condition: Too many words."
        return 2, f"[ALERT] Syntax Error in condition: {what[0].upper()}{what[1:]}."
    try:
        return (0 if evaluate(" ".join(words)) else 1), None
    except ConditionError as e:
        return 2, f"[ALERT] Failed to evaluate condition: {e.message}"


# conditional block states, as HAProxy's nested_cond_state
_TAKE, _DROP, _SKIP = "take", "drop", "skip"  # in this branch / not yet taken / already taken


def tokenize(text: str, file: str = "<string>", ctx: Context | None = None) -> Iterator[Line]:
    """Yield the non-empty lines of `text` outside dropped conditional blocks, numbered from 1.

    `.notice`/`.warning` messages are appended to `ctx.messages`; `.alert`, a bad condition or an
    unbalanced block is a ConfigError.
    """
    ctx = ctx or Context()
    # one entry per open .if: (state, seen .else)
    stack: list[tuple[str, bool]] = []
    num = 0
    raws = text.split("\n")
    if raws and raws[-1] == "":
        raws.pop()  # the final LF ends the last line; it does not start another
    for num, raw in enumerate(raws, start=1):
        if "\0" in raw:
            raise ConfigError(file, num, f"Stray NUL character at position {raw.index(chr(0)) + 1}.")
        # every line is tokenized, dropped ones too: a bad quote is an error anywhere (as 2.6)
        words = split_line(raw, file, num, ctx)
        if not words:
            continue
        kw = words[0]
        if kw in (".if", ".elif", ".else", ".endif"):
            _conditional(kw, words, stack, file, num, ctx)
            continue
        if any(state != _TAKE for state, _ in stack):
            continue
        if kw in (".alert", ".warning", ".notice", ".diag"):
            if len(words) > 2 and words[2]:
                raise ConfigError(file, num, f"Unexpected argument '{words[2]}' for '{kw}'. "
                                  "Use quotes if the message should contain spaces.")
            msg = words[1] if len(words) > 1 else ""
            if kw == ".alert":
                raise ConfigError(file, num, f"'{msg}'.")
            if kw == ".warning":
                ctx.messages.append(f"[WARNING] parsing [{file}:{num}] : '{msg}'.")
            elif kw == ".notice":
                ctx.messages.append(f"[NOTICE] parsing [{file}:{num}] : '{msg}'.")
            elif ctx.diag:  # .diag: only in diagnostic mode (-dD)
                ctx.messages.append(f"[DIAG] parsing [{file}:{num}] : '{msg}'.")
            continue
        if kw.startswith("."):
            raise ConfigError(file, num, f"unknown directive '{kw}'.")
        yield Line(file, num, words)
    if stack:
        raise ConfigError(file, num, "non-terminated '.if' block.")


def _conditional(kw: str, words: list[str], stack: list[tuple[str, bool]], file: str, num: int,
                 ctx: Context) -> None:
    """Apply one `.if/.elif/.else/.endif` line to the stack of open blocks."""
    if kw in (".else", ".endif") and len(words) > 1 and words[1]:
        raise ConfigError(file, num, f"Unexpected argument '{words[1]}' for '{kw}'.")
    if kw != ".if" and not stack:
        raise ConfigError(file, num, f"lone '{kw}' with no matching '.if'.")

    def cond() -> bool:
        expr = " ".join(words[1:])
        try:
            return evaluate(expr, ctx.env)
        except ConditionError as e:
            raise ConfigError(file, num, f"{e.message} in '{kw}' at position {e.pos + 1}.") from None

    if kw == ".if":
        if len(stack) + 1 >= MAX_NESTED_CONDS:
            raise ConfigError(file, num, f"too many nested '.if', max is {MAX_NESTED_CONDS}.")
        if any(state != _TAKE for state, _ in stack):
            stack.append((_SKIP, False))
        else:
            stack.append((_TAKE if cond() else _DROP, False))
        return
    state, seen_else = stack[-1]
    if kw == ".endif":
        stack.pop()
        return
    if seen_else:
        raise ConfigError(file, num, f"'{kw}' after '.else' is not permitted.")
    if kw == ".elif":
        if state != _DROP:
            stack[-1] = (_SKIP, False)
        else:
            stack[-1] = (_TAKE if cond() else _DROP, False)
        return
    stack[-1] = (_TAKE if state == _DROP else _SKIP, True)  # .else
