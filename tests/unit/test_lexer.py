"""Lexer: comments, backslash escapes, blank lines and line numbers."""

from __future__ import annotations

import pytest

from pyhaproxy.config.lexer import ConfigError, split_line, tokenize


def test_words_split_on_spaces_and_tabs() -> None:
    assert split_line("  server\tweb1   127.0.0.1:80  check ") == ["server", "web1", "127.0.0.1:80", "check"]


def test_comment_ends_line() -> None:
    assert split_line("bind :80 # a comment") == ["bind", ":80"]
    assert split_line("bind :80#glued") == ["bind", ":80"]
    assert split_line("# whole line") == []


def test_escaped_sharp_is_not_a_comment() -> None:
    assert split_line(r"rspadd X-Tag:\ \#1 # real comment") == ["rspadd", "X-Tag: #1"]


def test_escaped_space_joins_words() -> None:
    assert split_line(r"stats realm Statistics\ for\ MyApp1-2") == [
        "stats",
        "realm",
        "Statistics for MyApp1-2",
    ]
    assert split_line(r"reqrep ^(GET\ .*) \1") == ["reqrep", "^(GET .*)", r"\1"]


def test_lone_escaped_space_is_a_word() -> None:
    assert split_line("a \\  b") == ["a", " ", "b"]


def test_control_escapes() -> None:
    assert split_line(r"x a\tb\rc\nd") == ["x", "a\tb\rc\nd"]


def test_double_backslash() -> None:
    assert split_line(r"x a\\b") == ["x", "a\\b"]
    # \\\\ in the file is \\ after the lexer: one escaped backslash for the regex engine
    assert split_line(r"x (/|\\\\)") == ["x", r"(/|\\)"]


def test_hex_escape() -> None:
    assert split_line(r"x \x41\x7a\x20") == ["x", "Az "]
    assert split_line(r"x \xff") == ["x", "\xff"]


def test_bad_hex_escape_is_an_error() -> None:
    with pytest.raises(ConfigError) as ei:
        split_line(r"reqadd X\xZZ", "f.cfg", 7)
    assert str(ei.value) == (
        "[ALERT] parsing [f.cfg:7] : truncated or invalid hexadecimal sequence at position 9.")
    with pytest.raises(ConfigError):
        split_line("reqadd X\\x4", "f.cfg", 1)


def test_unknown_escapes_are_kept() -> None:
    assert split_line(r"reqrep ^(.*)\.fr \1.com") == ["reqrep", r"^(.*)\.fr", r"\1.com"]
    assert split_line("x abc\\") == ["x", "abc\\"]


def test_carriage_return_ends_line() -> None:
    assert split_line("mode http\r") == ["mode", "http"]


def test_tokenize_skips_blank_lines_and_numbers_from_one() -> None:
    text = "global\n\n   \n  daemon # bg\n# c\nlisten a :80\r\n"
    lines = list(tokenize(text, "x.cfg"))
    assert [(ln.line, ln.words) for ln in lines] == [
        (1, ["global"]),
        (4, ["daemon"]),
        (6, ["listen", "a", ":80"]),
    ]
    assert all(ln.file == "x.cfg" for ln in lines)


def test_config_error_format() -> None:
    e = ConfigError("a.cfg", 3, "boom")
    assert (e.file, e.line, e.message) == ("a.cfg", 3, "boom")
    assert str(e) == "[ALERT] parsing [a.cfg:3] : boom"
    assert str(ConfigError("a.cfg", 0, "whole file")) == "[ALERT] parsing a.cfg : whole file"
