"""The `.if`/`.elif` condition language of HAProxy 2.x (configuration manual 2.4), also used by `-cc`.

A condition is empty (false) or an expression of terms joined by `&&` and `||` (`&&` binds
tighter); a term is `!`-negatable and is an integer (zero is false), a parenthesised expression,
or a predicate with its arguments in parentheses: `defined(VAR)`, `feature(NAME)`,
`streq(A,B)`, `strneq(A,B)`, `version_atleast(V)`, `version_before(V)`. The condition text has
already been through the line tokenizer (quotes removed, `"$VAR"` expanded); predicate arguments
get the second-level argument parsing (commas separate, quotes and backslashes protect).
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


_STAGES = {"dev": 0, "pre": 1, "rc": 2}


def version_key(text: str) -> tuple[int, ...]:
    """Order of HAProxy version strings: 2.4-dev19 < 2.4-pre1 < 2.4-rc2 < 2.4 = 2.4.0 < 2.4.1."""
    m = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?(?:-(dev|pre|rc)(\d*))?", text)
    if m is None:
        return (0, 0, 0, 0, 3, 0)
    nums = [int(x) if x else 0 for x in m.group(1, 2, 3, 4)]
    stage = _STAGES[m[5]] if m[5] else 3
    return (*nums, stage, int(m[6] or 0))


def _split_args(text: str, start: int) -> tuple[list[str], int]:
    """Arguments of a predicate, `text[start]` being just after its name: `(a,"b,c")` -> [a, b,c].

    Returns the arguments and the offset just past the closing parenthesis (or `start` when no
    parenthesis follows, i.e. no arguments).
    """
    i = start
    if i >= len(text) or text[i] != "(":
        return [], start
    i += 1
    args: list[str] = []
    cur: list[str] = []
    quote = ""
    while True:
        if i >= len(text):
            raise ConditionError("missing closing ')' after arguments", start)
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"' and i + 1 < len(text):
                i += 1
                cur.append(text[i])
            else:
                cur.append(c)
        elif c in "\"'":
            quote = c
        elif c == "\\" and i + 1 < len(text):
            i += 1
            cur.append(text[i])
        elif c == ",":
            args.append("".join(cur))
            cur = []
        elif c == ")":
            args.append("".join(cur))
            return args, i + 1
        else:
            cur.append(c)
        i += 1


_PREDICATES: dict[str, tuple[int, Callable[[list[str], Mapping[str, str]], bool]]] = {
    "defined": (1, lambda a, env: a[0] in env),
    "feature": (1, lambda a, env: a[0] in FEATURES),
    "streq": (2, lambda a, env: a[0] == a[1]),
    "strneq": (2, lambda a, env: a[0] != a[1]),
    "version_atleast": (1, lambda a, env: version_key(HAPROXY_VERSION) >= version_key(a[0])),
    "version_before": (1, lambda a, env: version_key(HAPROXY_VERSION) < version_key(a[0])),
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
            return (int(m[0], 0) != 0) != neg
        if rest.startswith("("):
            self.i += 1
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
        args, end = _split_args(self.text, self.i + len(name))
        if len(args) != nargs:
            raise ConditionError(
                f"missing arguments (got {len(args)}/{nargs}) in argument {len(args) + 1} of predicate "
                f"'{name}' used in conditional expression"
                if len(args) < nargs
                else f"too many arguments for predicate '{name}' (got {len(args)}, expected {nargs})",
                self.i,
            )
        self.i = end
        return fn(args, self.env) != neg


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
