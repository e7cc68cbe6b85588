"""The HAProxy 1.x configuration language: `parse_files`, `parse_text` and `ConfigError`.

Errors read exactly like HAProxy's alerts (`[ALERT] parsing [file:line] : message`); warnings
are collected in `Config.warnings` as `[WARNING] parsing [file:line] : message`.
"""

from __future__ import annotations

from .lexer import ConfigError
from .model import Config
from .parser import parse_files, parse_text

__all__ = ["Config", "ConfigError", "parse_files", "parse_text"]
