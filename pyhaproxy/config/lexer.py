"""Lines -> words for the HAProxy 1.x configuration language.

Rules (HAProxy 1.2's line reader): leading blanks are skipped, unescaped blanks separate words,
an unescaped `#` (or a CR) ends the line, and a backslash introduces an escape:
`\\ ` `\\#` `\\\\` give the character itself, `\\t` `\\r` `\\n` the control character and
`\\xHH` the byte HH. Any other backslash pair is kept as written (regexes and replacement
strings rely on `\\1`, `\\.`, ...). There are no quotes in 1.x. Blank lines yield nothing.

Files are decoded as latin-1 so that every byte, including those made by `\\xHH`, maps to
exactly one character and survives a round trip.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_SIMPLE_ESCAPES = {" ": " ", "\\": "\\", "#": "#", "t": "\t", "r": "\r", "n": "\n"}
_HEX = "0123456789abcdefABCDEF"


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


def split_line(text: str, file: str = "<string>", line: int = 0) -> list[str]:
    """Split one line into words, applying comments and backslash escapes."""
    words: list[str] = []
    cur: list[str] = []
    have_word = False  # an escaped char alone (e.g. `\ `) still makes a word
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            nxt = text[i + 1] if i + 1 < n else ""
            if nxt in _SIMPLE_ESCAPES and nxt != "":
                cur.append(_SIMPLE_ESCAPES[nxt])
                have_word = True
                i += 2
                continue
            if nxt == "x":
                hx = text[i + 2 : i + 4]
                if len(hx) == 2 and hx[0] in _HEX and hx[1] in _HEX:
                    cur.append(chr(int(hx, 16)))
                    have_word = True
                    i += 4
                    continue
                first = words[0] if words else "".join(cur)
                raise ConfigError(file, line, f"invalid or incomplete '\\x' sequence in '{first}'.")
            # unknown escape: kept verbatim, both characters (HAProxy leaves e.g. `\1` alone)
            cur.append(c)
            have_word = True
            i += 1
            continue
        if c in "#\r\n":
            break
        if c in " \t\f\v":
            if have_word:
                words.append("".join(cur))
                cur = []
                have_word = False
            i += 1
            continue
        cur.append(c)
        have_word = True
        i += 1
    if have_word:
        words.append("".join(cur))
    return words


def tokenize(text: str, file: str = "<string>") -> Iterator[Line]:
    """Yield the non-empty lines of `text` as `Line` objects, numbered from 1."""
    for num, raw in enumerate(text.split("\n"), start=1):
        words = split_line(raw, file, num)
        if words:
            yield Line(file, num, words)
