"""Configuration: one frozen settings object built from the environment (and an optional env file).

Nothing is read at import. ``Settings.from_env()`` parses strictly: a boolean is 1/0/true/false/yes/no/on/off
and anything else is an error naming the variable; exchange names are checked against the venues registered
in ``engine.connectors.factory``; the monitor list is deduplicated in order; keys are only required where
trading needs them. Secrets are masked in every repr and in ``summary()``. No error message echoes a value:
it names the variable and the form expected (a value in the wrong variable may be someone's key).

Each venue's own variables are parsed by its settings class (``engine/connectors/<venue>/settings.py``, a
``VenueSettings``), which the factory names; ``Settings.venues`` holds one per registered venue.

A TOML file (``engine --config engine.toml``, read with the standard library's tomllib; ``read_config_file``)
can hold the same settings; ``load_settings`` layers them: an environment variable (or ``--env-file``)
overrides the file, the file overrides the defaults, and the CLI's flags override all of them. Secrets
come only from the environment: a secret key in the file is refused naming the key, never its value.
The file's form (every key optional)::

    [engine]
    symbols = ["BTC-USDT"]            # or "BTC-USDT,ETH-USDT"  (ENGINE_SYMBOLS)
    active_exchange = "..."           # ACTIVE_EXCHANGE; monitor_exchanges, log_level, log_json likewise
    [risk]
    max_order_qty = "0.5"             # any field of RiskLimits (RISK_<FIELD>)
    [venues.<venue>]
    testnet = true                    # the venue's non-secret settings fields (its env_vars)
    [strategy]
    name = "examples/taker.py:Taker"  # what --strategy takes (ENGINE_STRATEGY)
    [strategy.params]
    size = "0.01"                     # the strategy's declared parameters (ENGINE_PARAM_<NAME>)
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Mapping, Optional

# the symbols every command uses when neither --symbols nor ENGINE_SYMBOLS is given
DEFAULT_SYMBOLS = ("BTC-USDT", "ETH-USDT")
SYMBOLS_FORM = "comma-separated BASE-QUOTE symbols, e.g. BTC-USDT,ETH-USDT"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


class SymbolListError(ValueError):
    """A symbol list that is not ``SYMBOLS_FORM``: ``entry`` is the 1-based place of the bad entry (0 when
    the list names no symbol at all) and ``text`` that entry, for a caller that may show it (a flag may, an
    environment variable may not)."""

    def __init__(self, entry: int, text: str = ""):
        super().__init__(f"entry {entry} is not a BASE-QUOTE symbol" if entry else "no symbol given")
        self.entry, self.text = entry, text


def parse_symbols(text: str) -> tuple:
    """Unified ``BASE-QUOTE`` symbols from a comma-separated list (``eth/usdt`` and ``ETH_USDT`` too),
    upper-cased and deduplicated in order; empty entries are skipped. Raises ``SymbolListError``."""
    from engine.symbols import Symbol

    out = []
    for n, part in enumerate(text.split(","), 1):
        if not part.strip():
            continue
        try:
            sym = Symbol.parse(part)
        except ValueError:
            sym = None
        if sym is None or not (sym.base.isalnum() and sym.quote.isalnum()):
            raise SymbolListError(n, part.strip())
        if str(sym) not in out:
            out.append(str(sym))
    if not out:
        raise SymbolListError(0)
    return tuple(out)


def mask(secret: Optional[str]) -> str:
    if not secret:
        return "<unset>"
    return f"{secret[:4]}…({len(secret)} chars)" if len(secret) > 12 else "****"


@dataclass(frozen=True)
class Secret:
    """A string that never prints itself."""

    value: str = field(repr=False)

    def __repr__(self) -> str:
        return f"Secret({mask(self.value)})"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self.value)


@dataclass(frozen=True)
class RiskLimits:
    max_order_qty: Decimal = Decimal("1")
    max_order_notional: Decimal = Decimal("5000")
    max_position: Decimal = Decimal("5")  # per symbol, in base units
    max_total_notional: Decimal = Decimal("20000")
    max_open_orders: int = 20
    max_orders_per_second: float = 5.0
    price_band_pct: Decimal = Decimal("5")  # fat finger: |price - mid| / mid
    max_daily_loss: Decimal = Decimal("500")
    max_book_age_s: float = 5.0
    cancel_on_shutdown: bool = True
    day_rollover_utc: str = "00:00"  # HH:MM UTC at which the daily-loss window starts again


class VenueSettings:
    """What every venue's settings class offers (a frozen dataclass in ``engine/connectors/<venue>/``).

    A subclass sets ``venue`` (the registered name), ``env_vars`` (field -> environment variable),
    ``secret_fields`` (the fields holding a ``Secret``) and ``trading_keys`` (the fields live trading
    needs), and parses its variables in ``from_env``; the summary, the secrets for log redaction and the
    missing-key check follow from that data. It must import
    nothing heavy: configuration is read before any connector is imported.
    """

    venue: ClassVar[str] = ""
    env_vars: ClassVar[Mapping[str, str]] = {}
    secret_fields: ClassVar[tuple] = ()
    trading_keys: ClassVar[tuple] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "VenueSettings":
        """Parse this venue's variables from ``env`` (the base class: a venue that has none)."""
        return cls()

    def summary(self) -> dict:
        """Variable -> value, every secret masked."""
        out = {}
        for name, var in self.env_vars.items():
            v = getattr(self, name)
            out[var] = mask(v.value if v else None) if name in self.secret_fields else v
        return out

    def secrets(self) -> list:
        """The secret values themselves, for the log filter that redacts them; never print these."""
        return [getattr(self, n).value for n in self.secret_fields if getattr(self, n)]

    def require_trading_keys(self) -> None:
        """Raise ConfigError naming the missing variables when this venue is to be traded live."""
        missing = [self.env_vars[n] for n in self.trading_keys if getattr(self, n) in (None, "")]
        if missing:
            raise ConfigError(f"trading on {self.venue} needs {', '.join(missing)} (set them in the environment "
                              "or an --env-file)")


def venue_settings(config, venue: str):
    """``config.venues[venue]`` for the engine's ``Settings``; anything else is taken to be that venue's own
    settings object already (what a connector's ``__init__(config)`` accepts)."""
    venues = getattr(config, "venues", None)
    return venues[venue] if isinstance(venues, Mapping) else config


def reveal(value):
    """A ``Secret``'s value (for the one place that must hand it on, e.g. the signer); other values as given."""
    return value.value if isinstance(value, Secret) else value


def _venue_names() -> list:
    from engine.connectors.factory import ConnectorFactory

    return ConnectorFactory.available()


def _venue_defaults() -> dict:
    from engine.connectors.factory import ConnectorFactory

    return {name: ConnectorFactory.settings_class(name)() for name in ConnectorFactory.available()}


@dataclass(frozen=True)
class Settings:
    """The engine's settings. ``venues`` maps each registered venue to its own settings object.

    ``settings.<venue>_<field>`` (e.g. the ``testnet`` of one venue) reads ``venues[<venue>].<field>``, so
    code written against the flat names keeps working.
    """

    active_exchange: str = field(default_factory=lambda: _venue_names()[0])
    monitor_exchanges: tuple = field(default_factory=lambda: tuple(_venue_names()))
    venues: dict = field(default_factory=_venue_defaults)
    symbols: tuple = DEFAULT_SYMBOLS
    risk: RiskLimits = RiskLimits()
    log_json: bool = False
    log_level: str = "INFO"
    strategy: Optional[str] = None  # ENGINE_STRATEGY: what --strategy takes when it is not given
    # strategy parameter name -> (text, where it came from), e.g. {"size": ("0.02", "ENGINE_PARAM_SIZE")}
    strategy_params: dict = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        from engine.connectors.factory import ConnectorFactory

        e = dict(os.environ if env is None else env)
        names = ConnectorFactory.available()
        active = _exchange(e, "ACTIVE_EXCHANGE", names[0], names)
        monitor = _exchange_list(e, "MONITOR_EXCHANGES", tuple(names), names)
        venues = {name: ConnectorFactory.settings_class(name).from_env(e) for name in names}
        risk_kw = {}
        for f in fields(RiskLimits):
            var = "RISK_" + f.name.upper()
            if var in e:
                risk_kw[f.name] = _typed(e, var, f.type)
        return cls(
            active_exchange=active,
            monitor_exchanges=monitor,
            venues=venues,
            symbols=_symbols(e, "ENGINE_SYMBOLS", DEFAULT_SYMBOLS),
            risk=RiskLimits(**risk_kw),
            log_json=parse_bool(e, "ENGINE_LOG_JSON", False),
            log_level=_log_level(e, "ENGINE_LOG_LEVEL", "INFO"),
            strategy=(e.get("ENGINE_STRATEGY") or "").strip() or None,
            strategy_params={var[len(PARAM_PREFIX):].lower(): (value, var) for var, value in e.items()
                             if var.startswith(PARAM_PREFIX) and len(var) > len(PARAM_PREFIX)},
        )

    def __getattr__(self, name: str):
        # only called when ordinary lookup fails: <venue>_<field> -> venues[<venue>].<field>
        if not name.startswith("__"):
            for venue in sorted(self.__dict__.get("venues") or (), key=len, reverse=True):
                if name.startswith(venue + "_"):
                    vs, rest = self.__dict__["venues"][venue], name[len(venue) + 1:]
                    if rest in vs.env_vars:
                        return getattr(vs, rest)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def require_trading_keys(self, exchange: str) -> None:
        """Raise ConfigError naming the missing variables when ``exchange`` is to be traded live."""
        vs = self.venues.get(exchange)
        if vs is None:
            raise ConfigError(f"no settings for exchange {exchange!r}; known: {', '.join(self.venues)}")
        vs.require_trading_keys()

    def secrets(self) -> list:
        """Every venue's secret values (for the log filter that redacts them)."""
        return [s for vs in self.venues.values() for s in vs.secrets()]

    def summary(self) -> dict:
        """Everything, with secrets masked (for `engine doctor` and logs)."""
        out = {"ACTIVE_EXCHANGE": self.active_exchange, "MONITOR_EXCHANGES": ",".join(self.monitor_exchanges)}
        for vs in self.venues.values():
            out.update(vs.summary())
        out["ENGINE_SYMBOLS"] = ",".join(self.symbols)
        return out


PARAM_PREFIX = "ENGINE_PARAM_"
# the [engine] table of a config file: key -> the environment variable it stands for
ENGINE_KEYS = {"active_exchange": "ACTIVE_EXCHANGE", "monitor_exchanges": "MONITOR_EXCHANGES",
               "symbols": "ENGINE_SYMBOLS", "log_level": "ENGINE_LOG_LEVEL", "log_json": "ENGINE_LOG_JSON"}
# a key named like this is taken for a secret wherever it appears in a config file
_SECRET_NAME = re.compile(r"secret|private|password|passphrase|token|^api_?key$", re.IGNORECASE)


@dataclass(frozen=True)
class ConfigFile:
    """A checked config file: ``env`` (variable -> text, what the file sets), ``origin`` (variable -> the
    file's key, for messages) and ``params`` (strategy parameter -> (text, the file's key))."""

    path: str
    env: dict
    origin: dict
    params: dict


def read_config_file(path: str) -> ConfigFile:
    """Parse and check the TOML file at ``path`` (the form is in the module docstring). Raises
    ``ConfigError`` naming the file and key: a secret (refused before anything else is read), an unknown
    table or key, a value of the wrong kind."""
    import tomllib

    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"--config {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path} is not TOML: {e}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--config {path} is not UTF-8 TOML") from None
    venue_classes = {name: _settings_class(name) for name in _venue_names()}
    _refuse_secrets(path, doc, venue_classes)
    env: dict = {}
    origin: dict = {}
    params: dict = {}

    def put(var: str, where: str, value) -> None:
        env[var], origin[var] = _config_text(path, where, value), f"{path} {where}"

    for section, table in doc.items():
        if section not in ("engine", "risk", "venues", "strategy"):
            raise ConfigError(f"{path}: unknown table or key {section!r} (the file holds [engine], [risk], "
                              "[venues.<venue>] and [strategy])")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}])")
        if section == "engine":
            for key, value in table.items():
                if key not in ENGINE_KEYS:
                    raise ConfigError(f"{path}: [engine] has no key {key!r} (keys: {', '.join(ENGINE_KEYS)})")
                put(ENGINE_KEYS[key], f"[engine] {key}", value)
        elif section == "risk":
            names = [f.name for f in fields(RiskLimits)]
            for key, value in table.items():
                if key not in names:
                    raise ConfigError(f"{path}: [risk] has no key {key!r} (keys: {', '.join(names)})")
                put("RISK_" + key.upper(), f"[risk] {key}", value)
        elif section == "venues":
            for venue, vt in table.items():
                if venue not in venue_classes:
                    raise ConfigError(f"{path}: [venues.{venue}] is not a known venue; valid: "
                                      f"{', '.join(venue_classes)}")
                if not isinstance(vt, dict):
                    raise ConfigError(f"{path}: venues.{venue} must be a table ([venues.{venue}])")
                env_vars = venue_classes[venue].env_vars
                for key, value in vt.items():
                    if key not in env_vars:
                        raise ConfigError(f"{path}: [venues.{venue}] has no key {key!r} (keys: "
                                          f"{', '.join(k for k in env_vars if k not in venue_classes[venue].secret_fields)})")
                    put(env_vars[key], f"[venues.{venue}] {key}", value)
        else:
            for key, value in table.items():
                if key == "name":
                    put("ENGINE_STRATEGY", "[strategy] name", value)
                elif key == "params" and isinstance(value, dict):
                    for name, v in value.items():
                        where = f"[strategy.params] {name}"
                        params[name] = (_config_text(path, where, v), f"{path} {where}")
                else:
                    raise ConfigError(f"{path}: [strategy] has no key {key!r} (keys: name, and the table "
                                      "[strategy.params])")
    return ConfigFile(path, env, origin, params)


def _settings_class(name: str):
    from engine.connectors.factory import ConnectorFactory

    return ConnectorFactory.settings_class(name)


def _refuse_secrets(path: str, doc: dict, venue_classes: dict) -> None:
    """A secret anywhere in the file is one ConfigError naming its key (never the value)."""
    secret_vars = {vs.env_vars[f] for vs in venue_classes.values() for f in vs.secret_fields}

    def walk(table: dict, where: tuple) -> None:
        for key, value in table.items():
            var = None
            if len(where) == 2 and where[0] == "venues" and where[1] in venue_classes:
                vs = venue_classes[where[1]]
                if key in vs.secret_fields:
                    var = vs.env_vars[key]
            if key.upper() in secret_vars:
                var = key.upper()
            if var is not None or _SECRET_NAME.search(key):
                name = ".".join((*where, key))
                hint = f"set {var} in the environment" if var else "give it through the environment"
                raise ConfigError(f"{path}: {name} is a secret: secrets are read only from the environment "
                                  f"({hint}); remove it from the file")
            if isinstance(value, dict):
                walk(value, (*where, key))

    walk(doc, ())


def _config_text(path: str, where: str, value) -> str:
    """A TOML value as the text its environment variable would hold."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(value)
    raise ConfigError(f"{path} {where} must be a string, a number, a boolean or a list of strings")


def load_settings(environ: Mapping[str, str], *, env_file: Optional[Mapping[str, str]] = None,
                  config: Optional[ConfigFile] = None) -> Settings:
    """The Settings from the layers, highest precedence last applied: ``config`` (a checked file), then
    ``environ``, then ``env_file``'s values. An error caused by a value from the file names the file's key."""
    env = dict(config.env) if config else {}
    env.update(environ)
    env.update(env_file or {})
    from_file = {var: label for var, label in (config.origin if config else {}).items()
                 if env.get(var) == config.env[var] and var not in environ and var not in (env_file or {})}
    try:
        settings = Settings.from_env(env)
    except ConfigError as e:
        text = str(e)
        for var, label in from_file.items():
            text = re.sub(rf"\b{var}\b", lambda m, label=label: label, text)
        raise ConfigError(text) from None
    if config and config.params:
        merged = dict(config.params)
        merged.update(settings.strategy_params)  # ENGINE_PARAM_<NAME> overrides the file
        settings = replace(settings, strategy_params=merged)
    return settings


def read_env_file(path: str) -> dict:
    """``KEY=VALUE`` lines (``#`` comments, optional ``export``, optional quotes). Explicit use only."""
    out = {}
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise ConfigError(f"--env-file {path}: {e.strerror}") from None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[7:].lstrip()
        key, eq, value = line.partition("=")
        if not eq or not key.strip().isidentifier():
            raise ConfigError(f"--env-file {path} line {n}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


# -- strict parsers: each error names its variable and the expected form, never the value
def parse_bool(e: Mapping[str, str], var: str, default: bool) -> bool:
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{var} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def parse_int(e: Mapping[str, str], var: str, lo: Optional[int] = None, hi: Optional[int] = None,
              why: str = "") -> Optional[int]:
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return None
    try:
        v = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{var} is not an integer") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{var} is out of range: {why}")
    return v


def parse_secret(e: Mapping[str, str], var: str) -> Optional[Secret]:
    raw = e.get(var)
    return Secret(raw.strip()) if raw and raw.strip() else None


def _symbols(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    try:
        return parse_symbols(raw)
    except SymbolListError as err:
        raise ConfigError(f"{var} {err} ({SYMBOLS_FORM})") from None


def _log_level(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().upper()
    if v not in LOG_LEVELS:
        raise ConfigError(f"{var} is not a log level; valid: {', '.join(LOG_LEVELS)}")
    return v


def _exchange(e, var, default, names):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v not in names:
        raise ConfigError(f"{var} is not a known exchange; valid: {', '.join(names)}")
    return v


def _exchange_list(e, var, default, names):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    out = []
    for n, part in enumerate(raw.split(","), 1):
        v = part.strip().lower()
        if not v:
            continue
        if v not in names:
            raise ConfigError(f"{var} entry {n} is not a known exchange; valid: {', '.join(names)} "
                              "(comma-separated)")
        if v not in out:
            out.append(v)
    return tuple(out)


_FORMS = {Decimal: "a decimal number", float: "a number", int: "an integer"}


def _typed(e, var, typ):
    raw = e[var].strip()
    t = typ if isinstance(typ, type) else {"Decimal": Decimal, "int": int, "float": float, "bool": bool,
                                           "str": str}[typ]
    if t is bool:
        return parse_bool(e, var, False)
    if t is str:  # the only text limit is a time of day
        try:
            hh, mm = raw.split(":")
            if len(hh) != 2 or len(mm) != 2 or not (0 <= int(hh) < 24 and 0 <= int(mm) < 60):
                raise ValueError
        except ValueError:
            raise ConfigError(f"{var} is not a UTC time of day (HH:MM, e.g. 00:00)") from None
        return raw
    try:
        v = t(raw)
    except (ValueError, InvalidOperation):
        raise ConfigError(f"{var} is not {_FORMS[t]}") from None
    if t in (Decimal, float) and not (v == v and v not in (float("inf"), Decimal("Infinity"))):
        raise ConfigError(f"{var} must be finite")
    if v < 0:
        raise ConfigError(f"{var} must not be negative")
    return v
