"""Configuration: one frozen settings object built from the environment (and an optional env file).

Nothing is read at import. ``Settings.from_env()`` parses strictly: a boolean is 1/0/true/false/yes/no/on/off
and anything else is an error naming the variable; exchange names are checked against the registry; the
monitor list is deduplicated in order; keys are only required where trading needs them. Secrets are
masked in every repr and in ``summary()``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Mapping, Optional

EXCHANGES = ("lighter", "binance")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


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


@dataclass(frozen=True)
class Settings:
    active_exchange: str = "lighter"
    monitor_exchanges: tuple = ("lighter", "binance")
    binance_api_key: Optional[Secret] = None
    binance_api_secret: Optional[Secret] = None
    binance_testnet: bool = False
    lighter_account_index: Optional[int] = None
    lighter_api_key_index: Optional[int] = None
    lighter_api_private_key: Optional[Secret] = None
    lighter_testnet: bool = False
    symbols: tuple = ("ETH-USDT",)
    risk: RiskLimits = RiskLimits()
    log_json: bool = False
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None) -> "Settings":
        e = dict(os.environ if env is None else env)
        active = _exchange(e, "ACTIVE_EXCHANGE", "lighter")
        monitor = _exchange_list(e, "MONITOR_EXCHANGES", ("lighter", "binance"))
        risk_kw = {}
        for f in fields(RiskLimits):
            var = "RISK_" + f.name.upper()
            if var in e:
                risk_kw[f.name] = _typed(e, var, f.type)
        return cls(
            active_exchange=active,
            monitor_exchanges=monitor,
            binance_api_key=_secret(e, "BINANCE_API_KEY"),
            binance_api_secret=_secret(e, "BINANCE_API_SECRET"),
            binance_testnet=_bool(e, "BINANCE_TESTNET", False),
            lighter_account_index=_int(e, "LIGHTER_ACCOUNT_INDEX", 1, 2 ** 63 - 1, "an account index is positive"),
            # 0 and 1 are the web and mobile apps' keys, 255 only a query sentinel: never sign with them
            lighter_api_key_index=_int(e, "LIGHTER_API_KEY_INDEX", 2, 254, "usable API key indexes are 2..254 "
                                       "(0 and 1 belong to the Lighter apps, 255 is a sentinel)"),
            lighter_api_private_key=_lighter_key(e, "LIGHTER_API_PRIVATE_KEY"),
            lighter_testnet=_bool(e, "LIGHTER_TESTNET", False),
            symbols=_list(e, "ENGINE_SYMBOLS", ("ETH-USDT",)),
            risk=RiskLimits(**risk_kw),
            log_json=_bool(e, "ENGINE_LOG_JSON", False),
            log_level=e.get("ENGINE_LOG_LEVEL", "INFO").strip().upper() or "INFO",
        )

    def require_trading_keys(self, exchange: str) -> None:
        """Raise ConfigError naming the missing variables when ``exchange`` is to be traded live."""
        need = {"binance": ("BINANCE_API_KEY", "BINANCE_API_SECRET"),
                "lighter": ("LIGHTER_ACCOUNT_INDEX", "LIGHTER_API_KEY_INDEX", "LIGHTER_API_PRIVATE_KEY")}[exchange]
        have = {"BINANCE_API_KEY": self.binance_api_key, "BINANCE_API_SECRET": self.binance_api_secret,
                "LIGHTER_ACCOUNT_INDEX": self.lighter_account_index,
                "LIGHTER_API_KEY_INDEX": self.lighter_api_key_index,
                "LIGHTER_API_PRIVATE_KEY": self.lighter_api_private_key}
        missing = [v for v in need if have[v] is None or have[v] == ""]
        if missing:
            raise ConfigError(f"trading on {exchange} needs {', '.join(missing)} (set them in the environment "
                              "or an --env-file)")

    def summary(self) -> dict:
        """Everything, with secrets masked (for `engine doctor` and logs)."""
        return {
            "ACTIVE_EXCHANGE": self.active_exchange,
            "MONITOR_EXCHANGES": ",".join(self.monitor_exchanges),
            "BINANCE_API_KEY": mask(self.binance_api_key.value if self.binance_api_key else None),
            "BINANCE_API_SECRET": mask(self.binance_api_secret.value if self.binance_api_secret else None),
            "BINANCE_TESTNET": self.binance_testnet,
            "LIGHTER_ACCOUNT_INDEX": self.lighter_account_index,
            "LIGHTER_API_KEY_INDEX": self.lighter_api_key_index,
            "LIGHTER_API_PRIVATE_KEY": mask(self.lighter_api_private_key.value
                                            if self.lighter_api_private_key else None),
            "ENGINE_SYMBOLS": ",".join(self.symbols),
        }


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


# -- strict parsers (each error names its variable)
def _bool(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ConfigError(f"{var}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def _int(e, var, lo=None, hi=None, why=""):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return None
    try:
        v = int(raw.strip())
    except ValueError:
        raise ConfigError(f"{var}={raw!r} is not an integer") from None
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ConfigError(f"{var}={v} is out of range: {why}")
    return v


def _lighter_key(e, var):
    """An API private key is 40 bytes: 80 hex digits, with or without 0x (the value is never echoed)."""
    key = _secret(e, var)
    if key is not None:
        digits = key.value[2:] if key.value[:2].lower() == "0x" else key.value
        if len(digits) != 80 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ConfigError(f"{var} is not a Lighter API private key (80 hex digits, 0x optional; "
                              f"got {len(digits)} characters)")
    return key


def _secret(e, var):
    raw = e.get(var)
    return Secret(raw.strip()) if raw and raw.strip() else None


def _list(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    items = []
    for part in raw.split(","):
        p = part.strip()
        if p and p not in items:
            items.append(p)
    return tuple(items)


def _exchange(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    v = raw.strip().lower()
    if v not in EXCHANGES:
        raise ConfigError(f"{var}={raw!r} is not a known exchange; valid: {', '.join(EXCHANGES)}")
    return v


def _exchange_list(e, var, default):
    raw = e.get(var)
    if raw is None or raw.strip() == "":
        return default
    out = []
    for part in raw.split(","):
        v = part.strip().lower()
        if not v:
            continue
        if v not in EXCHANGES:
            raise ConfigError(f"{var} names {part.strip()!r}, not a known exchange; valid: {', '.join(EXCHANGES)}")
        if v not in out:
            out.append(v)
    return tuple(out)


def _typed(e, var, typ):
    raw = e[var].strip()
    t = typ if isinstance(typ, type) else {"Decimal": Decimal, "int": int, "float": float, "bool": bool,
                                           "str": str}[typ]
    if t is bool:
        return _bool(e, var, False)
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
        raise ConfigError(f"{var}={raw!r} is not a valid {t.__name__}") from None
    if t in (Decimal, float) and not (v == v and v not in (float("inf"), Decimal("Infinity"))):
        raise ConfigError(f"{var}={raw!r} must be finite")
    if v < 0:
        raise ConfigError(f"{var}={raw!r} must not be negative")
    return v
