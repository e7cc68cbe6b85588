"""The `.if`/`.elif` condition language of HAProxy 2.x (configuration manual 2.4), also used by `-cc`.

A condition is empty (false) or an expression of terms joined by `&&` and `||` (`&&` binds
tighter); a term is `!`-negatable and is an integer (zero is false), a parenthesised expression,
or a predicate with its arguments in parentheses: `defined(VAR)`, `feature(NAME)`,
`streq(A,B)`, `strneq(A,B)`, `version_atleast(V)`, `version_before(V)` (and 2.6's
`openssl_version_atleast/before(V)`, `ssllib_name_startswith(S)`, answered as by a 2.6 built
without OpenSSL). The condition text has already been through the line tokenizer (quotes
removed, `"$VAR"` expanded); predicate arguments get 2.6's second-level argument reading (commas
separate, quotes protect, blanks are kept, no parenthesis is one empty argument).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from pyhaproxy.version import FEATURES, HAPROXY_VERSION


class ConditionError(Exception):
    """A condition that does not parse; `pos` is the 0-based offset of the offending character."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos
        self.arg = 0  # for an argument list error: the argument it is about


_NUM = re.compile(r"[0-9]*")


def split_version(text: str) -> tuple[int, ...] | None:
    """HAProxy's reading of a version string, or None when it is not one.

    `A[.B[.C[.D]]][-TAG[N]][-...-COMMIT]` gives seven numbers, missing ones zero: A B C D, the
    stage (dev 1, pre and rc 2, a release 3), its number, and a trailing commit count (the last
    `-N`). So 2.4-dev19 < 2.4-rc2 < 2.4 = 2.4.0 < 2.4.1, and 2.6-pre1 = 2.6-rc1.
    """
    if not text:
        return None
    nums = [0, 0, 0, 0]
    stage, stage_num, commit = 3, 0, 0
    i = 0
    rest = ""
    for k in range(4):
        m = _NUM.match(text, i)
        assert m is not None
        nums[k] = int(m[0] or 0)
        i = m.end()
        if i >= len(text):
            return (*nums, stage, stage_num, commit)
        sep = text[i]
        i += 1
        if sep == "-":
            rest = text[i:]
            break
        if sep != "." or k == 3:
            return None
    if not rest[:1].isdigit():
        for tag, value in (("dev", 1), ("rc", 2), ("pre", 2)):
            if rest.startswith(tag):
                stage = value
                m = _NUM.match(rest, len(tag))
                assert m is not None
                stage_num = int(m[0] or 0)
                after = rest[m.end():]
                if not after:
                    return (*nums, stage, stage_num, commit)
                if after[0] != "-":
                    return None
                rest = after[1:]
                break
    last = rest.rsplit("-", 1)
    if len(last) == 2:
        if not last[1]:
            return None
        commit = int(last[1]) if last[1].isdigit() else 0
    else:
        commit = int(rest) if rest.isdigit() else 0
    return (*nums, stage, stage_num, commit)


def version_key(text: str) -> tuple[int, ...]:
    """The order of HAProxy version strings (an unreadable one sorts as 0)."""
    return split_version(text) or (0, 0, 0, 0, 3, 0, 0)


def _compare_version(text: str) -> int:
    """-1, 0 or 1 as `text` is older than, the same as or newer than this version; an unreadable
    `text` counts as older (HAProxy's -3, which `version_atleast` takes as true)."""
    other = split_version(text)
    mine = split_version(HAPROXY_VERSION)
    if other is None or mine is None:
        return -3
    return (other > mine) - (other < mine)


_ARG_ESCAPES = {"\\": "\\", " ": " ", '"': '"', "'": "'", "r": "\r", "n": "\n", "t": "\t"}


def _split_args(text: str, start: int, nargs: int) -> tuple[list[str], int]:
    """The `nargs` string arguments of a predicate, `text[start]` being just after its name.

    HAProxy's second-level argument reading: `(a,"b,c")` gives [a, b,c]; quotes protect commas
    and parentheses, a backslash protects a backslash, blank or quote and makes \r \n \t; any other
    backslash stays. Blanks are kept. No parenthesis at all is one empty argument. Returns the
    arguments (fewer than `nargs` if the list ended early) and the offset after the `)`.
    """
    i = start
    bare = i >= len(text) or text[i] != "("
    if bare:
        return [""], start
    i += 1
    args: list[str] = []
    while len(args) < nargs:
        cur: list[str] = []
        squote = dquote = False
        while i < len(text):
            c = text[i]
            if c == '"' and not squote:
                dquote = not dquote
            elif c == "'" and not dquote:
                squote = not squote
            elif c == "\\" and not squote and i + 1 < len(text):
                nxt = text[i + 1]
                if nxt in _ARG_ESCAPES:
                    cur.append(_ARG_ESCAPES[nxt])
                    i += 1
                else:
                    cur.append(c)
            elif not squote and not dquote and c in ",)":
                break
            else:
                cur.append(c)
            i += 1
        args.append("".join(cur))
        if i >= len(text) or text[i] == ")" or len(args) >= nargs:
            break
        i += 1  # the comma
    if len(args) < nargs:
        return args, i
    if i < len(text) and text[i] == ")":
        return args, i + 1
    rest = text[i:]
    err = ConditionError(f"expected ')' before '{rest}'" if rest else "expected ')'", i)
    err.arg = len(args) - 1 if len(args) > 1 else len(args)  # as HAProxy counts it
    raise err


def _no_openssl(name: str) -> Callable[[list[str], Mapping[str, str]], bool]:
    def fail(a: list[str], env: Mapping[str, str]) -> bool:
        raise ConditionError(f"predicate '{name}' needs OpenSSL, which this build does not have", 0)
    return fail


# name -> (number of arguments, evaluation); as a 2.6 built without OpenSSL, where the OpenSSL
# version predicates are errors and no library name matches
_PREDICATES: dict[str, tuple[int, Callable[[list[str], Mapping[str, str]], bool]]] = {
    "defined": (1, lambda a, env: a[0] in env),
    "feature": (1, lambda a, env: a[0] in FEATURES),
    "streq": (2, lambda a, env: a[0] == a[1]),
    "strneq": (2, lambda a, env: a[0] != a[1]),
    "version_atleast": (1, lambda a, env: _compare_version(a[0]) <= 0),
    "version_before": (1, lambda a, env: _compare_version(a[0]) > 0),
    "openssl_version_atleast": (1, _no_openssl("openssl_version_atleast")),
    "openssl_version_before": (1, _no_openssl("openssl_version_before")),
    "ssllib_name_startswith": (1, lambda a, env: False),
}


class _Parser:
    """Recursive descent over the condition text; evaluates as it parses (no side effects)."""

    def __init__(self, text: str, env: Mapping[str, str]) -> None:
        self.text = text
        self.env = env
        self.i = 0
        self.depth = 0

    def blanks(self) -> None:
        while self.i < len(self.text) and self.text[self.i] in " \t":
            self.i += 1

    def empty_operand(self, shown: str, pos: int) -> None:
        """Nothing after an operator or a parenthesis: HAProxy's alert shows `shown`."""
        rest = self.text[self.i :]
        if not rest.strip(" \t"):
            raise ConditionError(f"unparsable conditional expression '{shown}'", pos)

    def expr(self) -> bool:
        """OR of ANDs."""
        self.depth += 1
        if self.depth > 32:
            raise ConditionError("too many nested sub-expressions", self.i)
        value = self.and_expr()
        while True:
            self.blanks()
            if self.text.startswith("||", self.i):
                self.i += 2
                self.empty_operand(self.text, 0)
                rhs = self.and_expr()
                value = value or rhs
            else:
                self.depth -= 1
                return value

    def and_expr(self) -> bool:
        value = self.term()
        while True:
            self.blanks()
            if self.text.startswith("&&", self.i):
                self.i += 2
                self.empty_operand(self.text[self.i - 2 :], self.i - 2)
                rhs = self.term()
                value = value and rhs
            else:
                return value

    def term(self) -> bool:
        self.blanks()
        start = self.i
        neg = False
        while self.i < len(self.text) and self.text[self.i] == "!":
            neg = not neg
            self.i += 1
            self.blanks()
        rest = self.text[self.i :]
        m = re.match(r"[+-]?(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", rest)
        if m:
            self.i += m.end()
            # strtol(..., 0) as 2.6: 0x hex, a leading 0 octal ("01"); only zero or not matters
            digits = m[1][2:] if m[1][:2].lower() == "0x" else m[1]
            return any(c != "0" for c in digits) != neg
        if rest.startswith("("):
            self.i += 1
            self.empty_operand(self.text[start:], start)
            value = self.expr()
            self.blanks()
            if not self.text.startswith(")", self.i):
                raise ConditionError(
                    f"expected ')' after conditional expression '{self.text[start:]}'", self.i)
            self.i += 1
            return value != neg
        name_m = re.match(r"[^ (]*", rest)
        name = name_m[0] if name_m else ""
        if name not in _PREDICATES:
            raise ConditionError(f"unparsable conditional expression '{self.text[start:]}'", start)
        nargs, fn = _PREDICATES[name]
        at = self.i + len(name)
        try:
            args, end = _split_args(self.text, at, nargs)
        except ConditionError as e:
            raise ConditionError(f"{e.message} in argument {e.arg} of predicate '{name}' used in "
                                 "conditional expression", e.pos) from None
        if len(args) < nargs:
            raise ConditionError(
                f"missing arguments (got {len(args)}/{nargs}), type 'string' expected in argument "
                f"{len(args)} of predicate '{name}' used in conditional expression", end)
        self.i = end
        try:
            value = fn(args, self.env)
        except ConditionError as e:
            raise ConditionError(e.message, start) from None
        return value != neg


def evaluate(text: str, env: Mapping[str, str] | None = None) -> bool:
    """Evaluate one condition (the words after `.if`, joined by spaces); ConditionError if bad."""
    p = _Parser(text, os.environ if env is None else env)
    p.blanks()
    if p.i >= len(text):
        return False  # an empty condition is false
    value = p.expr()
    p.blanks()
    if p.i < len(text):
        raise ConditionError(
            f"unexpected character '{text[p.i]}' at the end of conditional expression '{text}'", p.i
        )
    return value
