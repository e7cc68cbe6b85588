"""The boundary between the Python model and the C structs of pyhaproxy._core.

The constants live once, in C (`cpdef enum` in ext/types.pxi and ext/shmview.pxi); Python names
them through the exported enums. What is still mirrored is checked here: the scalar settings the
worker copies BY NAME from the model's dataclasses (px_conf_t, srv_conf_t), and the configuration
words that name a C constant (`balance static-rr` -> BAL_STATIC_RR). Changing one side without
the other fails here, not at run time in a worker.
"""

from __future__ import annotations

import dataclasses
import re
import typing

import pytest

from pyhaproxy import _core, worker
from pyhaproxy.config import parse_text
from pyhaproxy.config.model import Proxy, Server
from pyhaproxy.stats.collect import CHECK_NAMES

SHM_H = (__import__("pathlib").Path(__file__).resolve().parents[2] / "ext" / "shm.h").read_text()


def _int_fields(cls: type) -> dict[str, typing.Any]:
    from pyhaproxy.config.tls_server import ServerTLS  # (the model names it for type checkers only)

    hints = typing.get_type_hints(cls, localns={"ServerTLS": ServerTLS})
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


@pytest.mark.parametrize(("names", "cls"),
                         [(_core.px_conf_fields(), Proxy), (_core.srv_conf_fields(), Server)])
def test_every_c_scalar_is_an_int_field_of_the_model(names: tuple[str, ...], cls: type) -> None:
    fields = _int_fields(cls)
    assert names, "the C struct has no field: the by-name copy would copy nothing"
    for name in names:
        assert name in fields, f"{cls.__name__} has no field {name!r} for the C struct's"
        assert fields[name] in (int, bool), f"{cls.__name__}.{name} is {fields[name]}, not an int"


def test_scalars_reach_the_plan_unchanged() -> None:
    cfg = parse_text(
        "listen a\n bind 127.0.0.1:1\n mode http\n timeout client 7s\n timeout connect 3s\n retries 5\n"
        " server s 127.0.0.1:2 weight 9 maxconn 4 slowstart 2s backup\n"
    )
    plan = worker.plan_worker(cfg)
    px = plan.proxies[0].px
    assert {n: getattr(px, n) for n in ("clitimeout", "contimeout", "retries")} == \
        {"clitimeout": 7000, "contimeout": 3000, "retries": 5}
    sv = plan.servers[0].sv
    assert (sv.weight, sv.maxconn, sv.slowstart, sv.backup) == (9, 4, 2000, True)
    assert plan.proxies[0].mode == _core.px_mode.MODE_HTTP


@pytest.mark.parametrize("word",
                         ["roundrobin", "static-rr", "leastconn", "first", "source", "uri", "hdr(host)"])
def test_every_balance_word_names_a_c_constant(word: str) -> None:
    cfg = parse_text(f"listen a\n bind 127.0.0.1:1\n mode http\n balance {word}\n server s 127.0.0.1:2\n")
    algo = worker.plan_worker(cfg).proxies[0].balance
    assert _core.balance_algo(algo).name == "BAL_" + word.split("(")[0].upper().replace("-", "_")


@pytest.mark.parametrize("word", ["tcp", "http", "health"])
def test_every_mode_names_a_c_constant(word: str) -> None:
    server = "" if word == "health" else " server s 127.0.0.1:2\n"
    cfg = parse_text(f"listen a\n bind 127.0.0.1:1\n mode {word}\n{server}")
    assert _core.px_mode(worker.plan_worker(cfg).proxies[0].mode).name == "MODE_" + word.upper()


@pytest.mark.parametrize("member", list(_core.proxy_option))
def test_every_option_bit_is_set_by_its_config_word(member: typing.Any) -> None:
    word = member.name[3:].lower().replace("_", "-")
    line = {"redispatch": "option redispatch", "httpchk": "option httpchk"}.get(word, f"option {word}")
    mode = "tcp" if word == "tcp-fastpath" else "http"     # (a TCP-only option: ignored in HTTP)
    cfg = parse_text(f"listen a\n bind 127.0.0.1:1\n mode {mode}\n {line}\n server s 127.0.0.1:2\n")
    assert worker.plan_worker(cfg).proxies[0].opts & int(member), f"'{line}' does not set {member.name}"


@pytest.mark.parametrize("enum", [_core.srv_state, _core.check_status])
def test_shm_enums_are_the_ones_in_shm_h(enum: typing.Any) -> None:
    """The exported enums are declared from shm.h: same names, same values as the header."""
    body = re.search(r"enum " + enum.__name__ + r" \{([^}]*)\}", SHM_H)
    assert body is not None
    in_header = {k: int(v) for k, v in re.findall(r"(\w+)\s*=\s*(\d+)", body.group(1))}
    assert {m.name: int(m) for m in enum} == in_header


def test_stats_check_names_follow_the_enum() -> None:
    assert CHECK_NAMES[int(_core.check_status.CHK_L4CON)] == "L4CON"
    assert CHECK_NAMES[int(_core.check_status.CHK_UNKNOWN)] == ""
    assert len(CHECK_NAMES) == len(_core.check_status)


def test_the_typed_stub_names_what_the_module_has() -> None:
    """pyhaproxy/_core.pyi (what mypy checks the Python side against) matches the built module."""
    import ast

    stub = ast.parse((__import__("pathlib").Path(_core.__file__).with_name("_core.pyi")).read_text())
    for node in stub.body:
        if isinstance(node, ast.ClassDef):
            live = getattr(_core, node.name)
            members = [t.targets[0].id for t in node.body if isinstance(t, ast.Assign)]  # type: ignore[attr-defined]
            methods = [f.name for f in node.body if isinstance(f, ast.FunctionDef) and f.name != "__init__"]
            if members:
                assert members == [m.name for m in live], f"{node.name}: stub and C enum differ"
                for t in node.body:
                    value = t.value if isinstance(t, ast.Assign) else None
                    if isinstance(value, ast.Constant) and value.value is not ...:
                        assert int(live[t.targets[0].id]) == value.value  # type: ignore[attr-defined]
            for name in methods:
                assert hasattr(live, name), f"{node.name}.{name} is in the stub, not in the module"
        elif isinstance(node, ast.FunctionDef):
            assert callable(getattr(_core, node.name)), node.name
        elif isinstance(node, ast.AnnAssign):
            assert hasattr(_core, node.target.id), node.target.id  # type: ignore[attr-defined]
