"""The HAProxy 2.x tokenizer: quotes, variables, escapes, conditional blocks and their errors
(configuration manual 2.2-2.4), and the promise that every 1.x configuration reads as before."""

from __future__ import annotations

import ast
import os
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyhaproxy.config.conditions import ConditionError, evaluate, split_version, version_key
from pyhaproxy.config.lexer import ConfigError, Context, Line, check_condition, split_line, tokenize
from pyhaproxy.config.parser import Parser, expand_directories, parse_files, parse_text, read_config_file

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
    quiet, diag = Context(env=ENV), Context(env=ENV, diag=True)
    for ctx in (quiet, diag):
        assert list(tokenize('.diag "look at ${USER}"\n', "t.cfg", ctx)) == []
    assert quiet.messages == [] and diag.messages == ["[DIAG] parsing [t.cfg:1] : 'look at www'."]


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
        ("feature(EPOLL)", True), ("feature(OPENSSL)", True), ("feature(LUA)", False),
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


@pytest.mark.parametrize(
    ("cond", "value"),
    [
        # predicate arguments as 2.6's second-level reader: no parenthesis is one empty argument,
        # blanks are kept, quotes protect commas, a backslash protects a blank or a quote only
        ("defined", False), ("defined()", False), ("streq( a ,a)", False), ("streq( a , a )", True),
        ("streq('x)',\"x)\")", True), ("streq(a\\ b,a b)", True), ("streq(x\\,x\\)", True),
        # an unreadable version counts as older than this one, as in 2.6
        ("version_atleast(x)", True), ("version_atleast()", True), ("version_before(3.x)", False),
        ("version_atleast(2.6-pre1) && version_atleast(2.6-rc1)", True),
        ("ssllib_name_startswith(OpenSSL)", False),  # no TLS library in this build
    ],
)
def test_predicate_arguments_and_versions(cond: str, value: bool) -> None:
    assert evaluate(cond, ENV) is value


@pytest.mark.parametrize(
    ("cond", "message"),
    [
        ("streq(a)", "missing arguments (got 1/2), type 'string' expected in argument 1 of predicate "
                     "'streq' used in conditional expression"),
        ("streq(a,b,c)", "expected ')' before ',c)' in argument 1 of predicate 'streq' used in "
                         "conditional expression"),
        ("defined(HOME", "expected ')' in argument 1 of predicate 'defined' used in conditional expression"),
        ("1 &&", "unparsable conditional expression '&&'"),
        ("1 ||", "unparsable conditional expression '1 ||'"),
        ("(", "unparsable conditional expression '('"),
        ("openssl_version_atleast(1.1)",
         "predicate 'openssl_version_atleast' needs OpenSSL, which this build does not have"),
    ],
)
def test_condition_error_messages(cond: str, message: str) -> None:
    with pytest.raises(ConditionError) as ei:
        evaluate(cond, ENV)
    assert ei.value.message == message


def test_split_version_as_haproxy() -> None:
    assert split_version("1.2.1-pre2") == (1, 2, 1, 0, 2, 2, 0)
    assert split_version("1.2.10.1") == (1, 2, 10, 1, 3, 0, 0)
    assert split_version("1.5-dev18-43") == (1, 5, 0, 0, 1, 18, 43)
    assert split_version("2.4-dev18-f6818d-20") == (2, 4, 0, 0, 1, 18, 20)
    assert split_version("2.6.12-1+deb12u4") == (2, 6, 12, 0, 3, 0, 0)
    for bad in ("", "x", "2.x", "1.2.3.4.5", "2.4-devX"):
        assert split_version(bad) is None


@pytest.mark.parametrize(
    ("text", "rc", "alert"),
    [
        ("1", 0, None), ("0", 1, None), ("", 1, None), ('"${NOPE_UNSET}"', 1, None),
        ("streq(\"$HOME\",\"$HOME\")", 0, None),
        ("1 # no comment here", 2,
         "[ALERT] Failed to evaluate condition: unexpected character '#' at the end of conditional "
         "expression '1 # no comment here'"),
        ('"1', 2, "[ALERT] Syntax Error in condition: Unmatched quote."),
        ("\\x4", 2, "[ALERT] Syntax Error in condition: Truncated or invalid hexadecimal sequence."),
        ("yes", 2, "[ALERT] Failed to evaluate condition: unparsable conditional expression 'yes'"),
    ],
)
def test_cc(text: str, rc: int, alert: str | None) -> None:
    assert check_condition(text) == (rc, alert)


def test_word_expansion_edges() -> None:
    env = {**ENV, "PAD": " a  b ", "NONE": ""}
    ctx = Context(env=env)
    # a blank at either end of the value ends a word there, as 2.6 does (an empty word between)
    assert split_line('x "${PAD[*]}" y', "t.cfg", 1, ctx) == ["x", "", "a", "b", "", "y"]
    assert split_line('x "${NONE[*]}" y', "t.cfg", 1, ctx) == ["x", "", "y"]
    assert split_line('x "p${LIST[*]}q"', "t.cfg", 1, ctx) == ["x", "pa", "b", "cq"]
    # only C blanks split; a latin-1 no-break space is part of a word, and names are ASCII
    assert split_line('x "${V[*]}"', "t.cfg", 1, Context(env={"V": "a\xa0b"})) == ["x", "a\xa0b"]
    with pytest.raises(ConfigError):
        split_line('x "$\xe9t\xe9"', "t.cfg", 1, ctx)


def test_directive_arguments_count_only_when_not_empty() -> None:
    assert lines('.if 1\n.else ""\na\n.endif "" x\n.notice "m" ""\n') == []


def test_deep_nesting_limit_is_haproxys() -> None:
    assert lines(".if 1\n" * 98 + "a\n" + ".endif\n" * 98) == [["a"]]
    assert "too many nested '.if', max is 100." in alert(".if 1\n" * 100 + ".endif\n" * 100)


def test_section_pseudo_variable_starts_empty_in_each_file(tmp_path: Path) -> None:
    one = tmp_path / "1.cfg"
    two = tmp_path / "2.cfg"
    one.write_text("listen a 127.0.0.1:8000\n    mode http\n    server s1 127.0.0.1:80\n")
    two.write_text('listen "b${.SECTION}" 127.0.0.1:8001\n    mode http\n    server s1 127.0.0.1:80\n')
    cfg = parse_files([str(one), str(two)])
    assert [p.name for p in cfg.proxies] == ["a", "b"]


# --- reading files -------------------------------------------------------------------------------
def test_devices_are_refused_dev_null_is_read() -> None:
    for dev in ("/dev/zero", "/dev/urandom"):
        with pytest.raises(ConfigError) as ei:
            read_config_file(dev)
        assert str(ei.value) == (f"[ALERT] parsing {dev} : '{dev}' is a device or socket, "
                                 "not a regular file: refusing to read it.")
    assert read_config_file("/dev/null") == ""


def test_a_fifo_is_read_like_a_file(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    pid = os.fork()
    if pid == 0:  # the writer: one config, then EOF
        try:
            with open(fifo, "wb") as f:
                f.write(b"global\n    maxconn 7\n")
        finally:
            os._exit(0)
    try:
        assert read_config_file(str(fifo)) == "global\n    maxconn 7\n"
    finally:
        os.waitpid(pid, 0)


def test_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyhaproxy.config.parser as P

    monkeypatch.setattr(P, "MAX_LINE_BYTES", 100)
    monkeypatch.setattr(P, "MAX_CONFIG_BYTES", 1000)
    cfg = tmp_path / "big.cfg"
    cfg.write_text("global\n" + "#" * 101 + "\n")
    with pytest.raises(ConfigError) as ei:
        read_config_file(str(cfg))
    assert str(ei.value) == f"[ALERT] parsing [{cfg}:2] : line longer than 100 bytes."
    cfg.write_text(("#" * 99 + "\n") * 11)
    with pytest.raises(ConfigError) as ei:
        read_config_file(str(cfg))
    assert str(ei.value) == (f"[ALERT] parsing {cfg} : configuration file larger than 1000 bytes: "
                             "refusing to read it.")


def test_a_directory_stands_for_its_cfg_files(tmp_path: Path) -> None:
    d = tmp_path / "conf.d"
    d.mkdir()
    for name in ("20-b.cfg", "10-a.cfg", ".hidden.cfg", "c.cfg.cfg", "d.txt", "e.cfgx"):
        (d / name).write_text("junk\n")
    (d / "sub.cfg").mkdir()
    assert expand_directories([str(d), "/x/y.cfg"]) == [str(d / "10-a.cfg"), str(d / "20-b.cfg"), "/x/y.cfg"]
    (d / "10-a.cfg").write_text("global\n    maxconn 5\n")
    (d / "20-b.cfg").write_text("listen b 127.0.0.1:8000\n    mode http\n    server s 127.0.0.1:80\n")
    for name in (".hidden.cfg", "c.cfg.cfg", "d.txt", "e.cfgx"):
        (d / name).unlink()
    cfg = parse_files([str(d)])
    assert cfg.global_.maxconn == 5 and [p.name for p in cfg.proxies] == ["b"]


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


# The files written for the 2.x syntax (quotes, variables, `.if`): they are meant to read differently.
_2X_FILES = {"test_tokenizer.py", "test_config_syntax.py",
             "test_stick_tables.py",    # (quoted log-format and lf-string arguments: 2.x words)
             "test_http_rewrites.py",   # (a quoted reason, backslashes in replacements)
             "test_http_after_response.py",  # (a quoted header value)
             "test_tcp_request_vars.py",     # (a quoted log-format)
             "test_table_converters.py",     # (a quoted lf-string)
             "test_table_arrays.py",         # (quoted lf-strings)
             "test_early_hint.py",           # (quoted header values)
             "test_tcp_check_rules.py",      # (a quoted on-error log-format)
             "test_hash_functions.py",       # (a quoted lf-string)
             "test_log_format_merge.py"}     # (quoted log-formats with runs of spaces)


def _fill_placeholders(text: str) -> str:
    """A test config's `{host}`/`{port}`-style placeholders, filled as the test would fill them."""
    ports = iter(range(20000, 30000))
    return re.sub(r"\{(\w+)\}", lambda m: "127.0.0.1" if m[1] == "host" else str(next(ports)),
                  textwrap.dedent(text).lstrip("\n"))


def _model(text: str, legacy: bool) -> str:
    """repr() of the model the parser builds from `text`, or where it stopped: the words coming
    from HAProxy 1.2's reader (`legacy`) or from the 2.x tokenizer."""
    p = Parser(Context(env={}))
    try:
        if legacy:
            for num, raw in enumerate(text.split("\n"), start=1):
                try:
                    w = _legacy_split(raw)
                except ValueError:  # a bad \x sequence: 1.2 refused the line too
                    return f"error at line {num}"
                if w:
                    p.feed(Line("t.cfg", num, w))
        else:
            p.feed_text(text, "t.cfg")
        return repr(p.finish(["t.cfg"], allow_empty=True))
    except ConfigError as e:
        return f"error at line {e.line}"


def test_every_1x_config_of_the_suite_builds_the_same_model() -> None:
    """Every configuration of the suite (the guide's, every e2e/scenario/unit config) gives the
    very same model through the 2.x tokenizer as through the 1.x reader: same proxies, servers,
    rules, regexes and values, or an error on the same line."""
    checked = 0
    changed = []
    for where, text in _test_configs():
        if where.split(":")[0] in _2X_FILES:
            continue
        filled = _fill_placeholders(text)
        old, new = _model(filled, legacy=True), _model(filled, legacy=False)
        checked += 1
        if old != new:
            changed.append((where, old[:200], new[:200]))
    assert checked > 200
    assert changed == []


_COND_ALPHABET = "01 !()&|,\"'\\$x{}[]*-.#defin" + "streqvsao_lbf"


@settings(max_examples=300, deadline=None, database=None)
@given(st.text(alphabet=_COND_ALPHABET, max_size=40))
def test_any_condition_text_is_an_answer_or_an_alert(text: str) -> None:
    """`-cc` and `.if` on any text: 0, 1 or 2 with an alert, never an exception."""
    rc, alert = check_condition(text)
    assert (rc in (0, 1) and alert is None) or (rc == 2 and alert and alert.startswith("[ALERT] "))
    try:
        list(tokenize(f".if {text}\n.endif\n", "t.cfg", Context(env=ENV)))
    except ConfigError as e:
        assert str(e).startswith("[ALERT] parsing [t.cfg:")
