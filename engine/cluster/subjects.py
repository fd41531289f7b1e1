"""The NATS subject names: one place, so the feed, the gateway and their clients cannot disagree.

Market data: ``md.<venue>.<symbol>.<kind>`` (kind: book, trade, health) and the snapshot request subject
``md.<venue>.<symbol>.snapshot``. Orders: ``gw.<account>.<verb>`` requests (place, cancel, orders) to the
gateway and ``gw.<account>.updates`` for what it publishes back. Each token is checked: a dot, a wildcard
or a space in a venue, symbol or account name would silently address other subjects.
"""
from __future__ import annotations

import re

MD_KINDS = ("book", "trade", "health", "snapshot")
GW_VERBS = ("place", "cancel", "orders", "updates")
_TOKEN = re.compile(r"[A-Za-z0-9_\-]+")


def token(value: str, what: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} cannot be a NATS subject token (letters, digits, _ and - only)")
    return value


def md(venue: str, symbol: str, kind: str) -> str:
    if kind not in MD_KINDS:
        raise ValueError(f"market-data kind {kind!r} is not one of {', '.join(MD_KINDS)}")
    return f"md.{token(venue, 'venue')}.{token(symbol, 'symbol')}.{kind}"


def md_all(venue: str = "*", kind: str = "*") -> str:
    """A wildcard over every symbol of a venue (or every venue) for one kind (or all)."""
    v = venue if venue == "*" else token(venue, "venue")
    return f"md.{v}.*.{kind}"


def gw(account: str, verb: str) -> str:
    if verb not in GW_VERBS:
        raise ValueError(f"gateway verb {verb!r} is not one of {', '.join(GW_VERBS)}")
    return f"gw.{token(account, 'account')}.{verb}"
