"""Strategies as plug-ins: a ``--strategy`` spec to a Strategy class, and its parameters to a typed ``Params``.

    mm                          the built-in market maker (engine/strategy/market_maker.py)
    pkg.module:Class            a class in an importable module (the current directory is searched last)
    path/to/file.py:Class       a class in a Python file (loaded under a private module name)

Every failure is a ``StrategyError`` whose message is one line saying what is wrong: a file that does not
exist, a module that is not found or raises while it is imported (the exception's type and message, no
traceback), a missing class, a class that is not a ``Strategy`` subclass, a ``Params`` that is not a
dataclass or has a field of a type this loader cannot parse, an unknown parameter, a bad value.

Parameter values come as text (``--param size=0.02``, ``ENGINE_PARAM_SIZE``) or as TOML values (already
turned into text by engine/config.py) and are parsed to each field's declared type: ``Decimal`` (finite),
``int``, ``float`` (finite), ``bool`` (1/0, true/false, yes/no, on/off) or ``str``. A value is shown in
an error only when it came from the command line (an environment or file value may be someone's key).
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib
import importlib.util
import math
import os
import sys
import typing
from decimal import Decimal, InvalidOperation
from typing import Mapping, Optional

from engine.config import ConfigError

from .base import Strategy

SPEC_FORM = "mm, monitor, none, pkg.module:Class or path/to/file.py:Class"
BUILTIN = {"mm": "engine.strategy.market_maker:InventoryMarketMaker"}
NO_TRADING = ("monitor", "none")  # names the CLI handles itself: no strategy class is loaded

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_FORMS = {Decimal: "a decimal number", int: "an integer", float: "a number", bool: "a boolean (1/0, true/false, "
          "yes/no, on/off)", str: "text"}


class StrategyError(ConfigError):
    """A strategy that cannot be loaded or parameterized; the message is one line (exit code 2 in the CLI)."""


def load_strategy(spec: str) -> type:
    """The Strategy subclass ``spec`` names (see the module docstring). Raises ``StrategyError``."""
    spec = (spec or "").strip()
    target = BUILTIN.get(spec, spec)
    where, colon, attr = target.rpartition(":")
    if not colon or not where or not attr:
        raise StrategyError(f"--strategy {spec!r} is not {SPEC_FORM}")
    if where.endswith(".py") or "/" in where or os.sep in where:
        module = _load_file(where)
    else:
        module = _import(where)
    cls = getattr(module, attr, None)
    if cls is None:
        raise StrategyError(f"--strategy {spec}: {where} has no class {attr!r}")
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(f"--strategy {spec}: {attr} is not a Strategy subclass (engine.strategy.Strategy)")
    param_types(cls)  # a Params the loader cannot fill is a load error, before anything starts
    return cls


def _load_file(path: str):
    if not os.path.isfile(path):
        what = "is a directory" if os.path.isdir(path) else "does not exist"
        raise StrategyError(f"--strategy: {path} {what}: give path/to/file.py:Class")
    if not path.endswith(".py"):
        raise StrategyError(f"--strategy: {path} is not a .py file: give path/to/file.py:Class")
    full = os.path.abspath(path)
    # a private name per file, so two files named alike (or one named like an installed module) never clash
    stem = "".join(c if c.isalnum() else "_" for c in os.path.splitext(os.path.basename(full))[0])
    name = f"_engine_strategy_{stem}_{hashlib.sha1(full.encode()).hexdigest()[:8]}"
    if name in sys.modules:
        return sys.modules[name]
    mod_spec = importlib.util.spec_from_file_location(name, full)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[name] = module  # dataclasses and typing resolve a class's annotations through sys.modules
    try:
        mod_spec.loader.exec_module(module)
    except BaseException as e:  # the user's code: any failure (SystemExit included) is one line
        del sys.modules[name]
        raise StrategyError(f"--strategy: importing {path} failed: {one_line(e)}") from None
    return module


def _import(name: str):
    if os.getcwd() not in sys.path:  # pkg.module from the directory engine runs in, after everything else
        sys.path.append(os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise StrategyError(f"--strategy: no module named {e.name!r} (give pkg.module:Class importable "
                                "from here, or path/to/file.py:Class)") from None
        raise StrategyError(f"--strategy: importing {name} failed: {one_line(e)}") from None
    except BaseException as e:
        raise StrategyError(f"--strategy: importing {name} failed: {one_line(e)}") from None


def one_line(e: BaseException) -> str:
    """``Type: message`` on one line (the message's whitespace collapsed): how an error is shown."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def param_types(cls: type) -> dict:
    """{field name: type} of ``cls.Params``. Raises ``StrategyError`` when it is not a dataclass or a field's
    type is not one of Decimal, int, float, bool, str."""
    P = cls.Params
    if not (isinstance(P, type) and dataclasses.is_dataclass(P)):
        raise StrategyError(f"{cls.__name__}.Params is not a dataclass (declare @dataclasses.dataclass(frozen=True) "
                            "class Params: name: type = default)")
    try:
        hints = typing.get_type_hints(P)
    except Exception as e:
        raise StrategyError(f"{cls.__name__}.Params: its annotations cannot be resolved: {one_line(e)}") from None
    out = {}
    for f in dataclasses.fields(P):
        t = hints.get(f.name, f.type)
        if t not in _FORMS:
            raise StrategyError(f"{cls.__name__}.Params.{f.name} is declared {getattr(t, '__name__', t)}: "
                                f"parameters are Decimal, int, float, bool or str")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise StrategyError(f"{cls.__name__}.Params.{f.name} has no default (every parameter needs one)")
        out[f.name] = t
    return out


def parse_value(typ: type, text: str):
    """``text`` as ``typ``; raises ValueError (without the value) when it is not that form."""
    raw = text.strip()
    if typ is str:
        return text
    if typ is bool:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError
    try:
        v = typ(raw)
    except (ValueError, InvalidOperation, TypeError):
        raise ValueError from None
    if typ is Decimal and not v.is_finite():
        raise ValueError
    if typ is float and not math.isfinite(v):
        raise ValueError
    return v


def build_params(cls: type, layers: list, label: Optional[str] = None):
    """``cls.Params`` from ``layers``, lowest precedence first: each a mapping of parameter name to
    ``(text, source)`` where ``source`` names where it came from (``--param size``, ``ENGINE_PARAM_SIZE``,
    ``engine.toml [strategy.params] size``); a later layer overrides an earlier one. Raises
    ``StrategyError`` for an unknown name or a value that is not the declared type."""
    types = param_types(cls)
    label = label or cls.__name__
    chosen: dict = {}
    for layer in layers:
        for name, (text, source) in layer.items():
            if name not in types:
                known = ", ".join(types) or "none"
                raise StrategyError(f"{source}: {label} has no parameter {name!r} (its parameters: {known})")
            chosen[name] = (text, source)
    values = {}
    for name, (text, source) in chosen.items():
        try:
            values[name] = parse_value(types[name], text)
        except ValueError:
            shown = f" {text!r}" if source.startswith("--param") else ""
            raise StrategyError(f"{source}:{shown} is not {_FORMS[types[name]]} ({label} parameter {name} is "
                                f"{types[name].__name__})") from None
    try:
        return cls.Params(**values)
    except Exception as e:  # a Params __post_init__ that checks its values
        raise StrategyError(f"{label} parameters refused: {one_line(e)}") from None


def parse_param_flags(items) -> Mapping:
    """``--param key=value`` flags to one layer for ``build_params`` (a later flag for the same key wins).
    Raises ``StrategyError`` for an item without ``=`` or a key that is not an identifier."""
    out: dict = {}
    for item in items or ():
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise StrategyError(f"--param {item!r} is not key=value (e.g. --param size=0.01)")
        out[key] = (value, f"--param {key}")
    return out
