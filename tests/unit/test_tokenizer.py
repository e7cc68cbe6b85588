"""The HAProxy 2.x tokenizer: quotes, variables, escapes, conditional blocks and their errors
(configuration manual 2.2-2.4), and the promise that every 1.x configuration reads as before."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from pyhaproxy.config.conditions import ConditionError, evaluate, version_key
from pyhaproxy.config.lexer import ConfigError, Context, split_line, tokenize
from pyhaproxy.config.parser import parse_text

ENV = {"HOST": "example.com", "PORT": "8080", "EMPTY": "", "LIST": "a  b c", "USER": "www"}


def words(text: str) -> list[str]:
    return split_line(text, "t.cfg", 1, Context(env=ENV))


def alert(text: str) -> str:
    with pytest.raises(ConfigError) as ei:
        list(tokenize(text, "t.cfg", Context(env=ENV)))
    return str(ei.value)


# --- quotes and escapes ---------------------------------------------------------------------------
def test_double_quotes_protect_blanks_quote_and_hash() -> None:
    assert words('acl h hdr(host) -i "example.com"') == ["acl", "h", "hdr(host)", "-i", "example.com"]
    assert words('http-request set-header X "v w # not a comment"') == [
        "http-request", "set-header", "X", "v w # not a comment"]
    assert words('x "it\'s"') == ["x", "it's"]


def test_single_quotes_protect_everything() -> None:
    assert words(r"x '$HOST \1 \" #'") == ["x", r'$HOST \1 \" #']


def test_quotes_join_into_one_word_and_empty_quotes_are_a_word() -> None:
    assert words("""log-format "%{+Q}o %t"' %s'\\ %{-Q}r""") == ["log-format", "%{+Q}o %t %s %{-Q}r"]
    assert words('x "" y') == ["x", "", "y"]
    # at the end of a line an empty word is no word: HAProxy cannot tell it from the end
    assert words("x ''") == ["x"]
    assert words('x "" ""  # c') == ["x"]


def test_backslash_escapes() -> None:
    assert words(r"x a\ b \#c \\d \'e \"f") == ["x", "a b", "#c", "\\d", "'e", '"f']
    assert words(r"x \x41\x7a \t\n") == ["x", "Az", "\t\n"]
    # \$ is an escape inside double quotes only; outside, the backslash stays
    assert words(r'x "\$HOST" \$HOST') == ["x", "$HOST", r"\$HOST"]
    # other pairs are not escapes: regexes keep them
    assert words(r"reqrep ^(.*)\.fr \1.com") == ["reqrep", r"^(.*)\.fr", r"\1.com"]


# --- environment variables ------------------------------------------------------------------------
def test_variables_expand_inside_double_quotes_only() -> None:
    assert words('bind "${HOST}:$PORT"') == ["bind", "example.com:8080"]
    assert words("bind ${HOST}:$PORT") == ["bind", "${HOST}:$PORT"]
    assert words("x '${HOST}'") == ["x", "${HOST}"]


def test_undefined_variable_is_empty_and_default_applies_to_undefined_only() -> None:
    assert words('x "a${NOPE}b"') == ["x", "ab"]
    assert words('x "${NOPE-127.0.0.1}:514"') == ["x", "127.0.0.1:514"]
    assert words('x "${EMPTY-dflt}" y') == ["x", "", "y"]
    assert words('x "${HOST-dflt}"') == ["x", "example.com"]


def test_word_expansion_splits_on_blanks() -> None:
    assert words('x "${LIST[*]}" y') == ["x", "a", "b", "c", "y"]
    assert words('x "${LIST}"') == ["x", "a  b c"]


def test_pseudo_variables() -> None:
    ctx = Context(env=ENV, section="www")
    assert split_line('x "${.FILE}:${.LINE} ${.SECTION}"', "f.cfg", 12, ctx) == ["x", "f.cfg:12 www"]


def test_section_pseudo_variable_follows_the_parser() -> None:
    cfg = parse_text('listen "${.SECTION}x" 127.0.0.1:8000\n    mode http\n'
                     '    server "s${.LINE}" 127.0.0.1:80\n')
    assert cfg.proxies[0].name == "x"  # before the first section: empty
    assert cfg.proxies[0].servers[0].name == "s3"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('x "abc', "unmatched quote at position 3."),
        ("x 'abc", "unmatched quote at position 3."),
        ('x "${HOST"', "unmatched brace in environment variable name at position 5."),
        ('x "$1"', "forbidden first char in environment variable name at position 5."),
        ('x "${.NOPE}"', "forbidden first char in environment variable name at position 6."),
        ('x "${LIST[x]}"', "truncated or invalid word expansion sequence at position 10."),
        (r"x \x4", "truncated or invalid hexadecimal sequence at position 3."),
        ("x" + " w" * 64, "too many words, truncating after word 64, position 127: <w>."),
        ("xyz" + " ab" * 70, "too many words, truncating after word 64, position 191: <ab>."),
    ],
)
def test_bad_lines_are_alerts_with_positions(line: str, message: str) -> None:
    assert alert(line + "\n") == f"[ALERT] parsing [t.cfg:1] : {message}"


def test_nul_byte_is_named() -> None:
    assert alert("global\nx a\0b\n") == "[ALERT] parsing [t.cfg:2] : Stray NUL character at position 4."


# --- conditional blocks ---------------------------------------------------------------------------
def lines(text: str, env: dict[str, str] | None = None) -> list[list[str]]:
    ctx = Context(env=ENV if env is None else env)
    return [ln.words for ln in tokenize(text, "t.cfg", ctx)]


def test_if_elif_else_endif() -> None:
    text = """
.if defined(NOPE)
  a
.elif streq("$USER",www)
  b
  .if 0
    c
  .else
    d
  .endif
.elif 1
  e
.else
  f
.endif
g
"""
    assert lines(text) == [["b"], ["d"], ["g"]]


def test_nested_blocks_inside_a_dropped_block_are_skipped() -> None:
    text = ".if 0\n.if 1\na\n.else\nb\n.endif\n.elif 1\nc\n.endif\n"
    assert lines(text) == [["c"]]


def test_messages() -> None:
    ctx = Context(env=ENV)
    out = [ln.words for ln in tokenize('.warning "be careful"\n.notice "hi ${USER}"\nx\n', "t.cfg", ctx)]
    assert out == [["x"]]
    assert ctx.messages == [
        "[WARNING] parsing [t.cfg:1] : 'be careful'.", "[NOTICE] parsing [t.cfg:2] : 'hi www'."]
    assert alert('.alert "stop here"\n') == "[ALERT] parsing [t.cfg:1] : 'stop here'."
    assert alert(".warning two words\n") == (
        "[ALERT] parsing [t.cfg:1] : Unexpected argument 'words' for '.warning'. "
        "Use quotes if the message should contain spaces.")
    assert lines('.if 0\n.alert "not reached"\n.endif\n') == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (".if 1\nx\n", "[ALERT] parsing [t.cfg:2] : non-terminated '.if' block."),
        (".endif\n", "[ALERT] parsing [t.cfg:1] : lone '.endif' with no matching '.if'."),
        (".else\n", "[ALERT] parsing [t.cfg:1] : lone '.else' with no matching '.if'."),
        (".if 1\n.else\n.elif 1\n.endif\n",
         "[ALERT] parsing [t.cfg:3] : '.elif' after '.else' is not permitted."),
        (".if 1\n.else\n.else\n.endif\n",
         "[ALERT] parsing [t.cfg:3] : '.else' after '.else' is not permitted."),
        (".if bogus(1)\n.endif\n",
         "[ALERT] parsing [t.cfg:1] : unparsable conditional expression 'bogus(1)' in '.if' at position 1."),
        (".if 1 x\n.endif\n",
         "[ALERT] parsing [t.cfg:1] : unexpected character 'x' at the end of conditional "
         "expression '1 x' in '.if' at position 3."),
        (".frobnicate\n", "[ALERT] parsing [t.cfg:1] : unknown directive '.frobnicate'."),
        (".if 0\nx \"unterminated\n.endif\n", "[ALERT] parsing [t.cfg:2] : unmatched quote at position 3."),
    ],
)
def test_block_errors(text: str, message: str) -> None:
    assert alert(text) == message


@pytest.mark.parametrize(
    ("cond", "value"),
    [
        ("", False), ("0", False), ("1", True), ("-1", True), ("0x10", True), ("!1", False), ("!!1", True),
        ("defined(USER)", True), ("defined(NOPE)", False), ("streq(a,a)", True), ("strneq(a,a)", False),
        ('streq("a,b","a,b")', True), ("1 && 0 || 1", True), ("1 && (0 || 0)", False),
        ("! (0) && 1", True), ("version_atleast(2.4-dev19)", True), ("version_atleast(2.6)", True),
        ("version_atleast(2.7)", False), ("version_before(2.6.1)", True), ("version_before(2.6)", False),
        ("feature(EPOLL)", True), ("feature(OPENSSL)", False),
    ],
)
def test_conditions(cond: str, value: bool) -> None:
    assert evaluate(cond, ENV) is value


def test_condition_errors() -> None:
    for bad in ("yes", "streq(a)", "(1", "defined(X", "1 &&"):
        with pytest.raises(ConditionError):
            evaluate(bad, ENV)


def test_version_order() -> None:
    assert version_key("2.4-dev19") < version_key("2.4-rc1") < version_key("2.4") == version_key("2.4.0")
    assert version_key("2.4.0") < version_key("2.4.1") < version_key("2.10")


# --- 1.x configurations read as they always did ---------------------------------------------------
_SECTION = re.compile(r"^\s*(listen|frontend|backend|defaults|global)\b")


def _legacy_split(text: str) -> list[str]:
    """HAProxy 1.2's line reader (no quotes, no variables): the reference every configuration
    written for it must still tokenize to."""
    out: list[str] = []
    cur: list[str] = []
    have = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in " \\#tnr":
            cur.append({"t": "\t", "n": "\n", "r": "\r"}.get(text[i + 1], text[i + 1]))
            have, i = True, i + 2
            continue
        if c == "\\" and text[i + 1 : i + 2] == "x":
            cur.append(chr(int(text[i + 2 : i + 4], 16)))
            have, i = True, i + 4
            continue
        if c in "#\r\n":
            break
        if c in " \t\f\v":
            if have:
                out.append("".join(cur))
                cur, have = [], False
        else:
            cur.append(c)
            have = True
        i += 1
    if have:
        out.append("".join(cur))
    return out


def _test_configs() -> list[tuple[str, str]]:
    """Every configuration written inline in this test suite (a string whose first line opens a
    section), with where it is."""
    found = []
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                first = node.value.lstrip("\n").split("\n", 1)[0]
                if _SECTION.match(first) and "\n" in node.value.strip():
                    found.append((f"{path.name}:{node.lineno}", node.value))
    return found


def test_every_1x_config_of_the_suite_tokenizes_as_before() -> None:
    configs = _test_configs()
    assert len(configs) > 150  # the guide's configurations and every e2e/scenario test config
    changed = []
    for where, text in configs:
        if '"' in text or "'" in text:
            continue  # written for 2.x quoting (this suite's 2.x tests); 1.x had no quotes
        for line in text.split("\n"):
            try:
                new = split_line(line)
            except ConfigError:
                continue  # deliberately broken lines of the parser tests
            if new != _legacy_split(line):
                changed.append((where, line))
    assert changed == []
