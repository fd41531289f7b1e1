"""What the backtest (engine/backtest/) needs to know about Binance recordings and answers, and nothing more.

The factory registers ``BinanceBacktest`` as Binance's ``backtest``; the generic backtest reaches it only
through ``ConnectorFactory.backtest(name)``. It says:

- how a capture directory is laid out (as under tests/data/binance/: ``ws_session.jsonl``,
  ``rest_depth_snapshot_<SYMBOL>.json``, ``rest_exchangeInfo*.json``, ``session_meta.json``);
- what kind each recorded market-stream frame is (``depthUpdate`` diff, ``aggTrade`` print, or something
  the backtest skips), its symbol and its event time ``E`` (ms);
- how to read the recorded exchangeInfo: its symbols' filters (``PRICE_FILTER``, ``LOT_SIZE``,
  ``NOTIONAL``/``MIN_NOTIONAL``), whether the book is USD-M;
- which levels a depth diff states (``b``/``a``), and how a trade print is decoded (engine/feed.py);
- the refusal the live connector raises for each case the venue model refuses: the ``TradingError``
  ``binance_error`` builds from Binance's answer (engine/connectors/binance/errors.py), codes and messages
  as tabled in docs/backtest.md.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional

import orjson

from engine.backtest.recording import DEPTH, OTHER, TRADE
from engine.backtest.venue import Filters, scaled
from engine.feed import decode_agg_trade

from .errors import binance_error

# the refusals the backtest venue raises, by kind: (code, message); "filter" takes the filter's name
_REFUSALS = {
    "precision": (-1111, "Precision is over the maximum defined for this asset."),
    "unknown_symbol": (-1121, "Invalid symbol."),
    "would_take": (-2010, "Order would immediately match and take."),
    "duplicate": (-2010, "Duplicate order sent."),
    "unknown_order": (-2011, "Unknown order sent."),
    "filter": (-1013, "Filter failure: {}"),
}
# the generic filter check's names for what broke -> Binance's filter names (as
# engine/connectors/binance/filters.py reads them from exchangeInfo)
_FILTER_NAMES = {"price": "PRICE_FILTER", "qty": "LOT_SIZE"}


class BinanceBacktest:
    """Binance's side of the backtest venue (see the module docstring)."""

    name = "binance"  # the connector name strategies trade on
    info_name = "exchangeInfo"  # how error messages name the recorded instrument list
    # a capture directory's layout
    capture_frames = "ws_session.jsonl"
    capture_snapshot_prefix = "rest_depth_snapshot_"  # + SYMBOL + ".json"
    capture_info_glob = "rest_exchangeInfo*.json"
    capture_meta = "session_meta.json"  # {"snapshots": [{"symbol", "recv_ts"}]}

    @staticmethod
    def classify(raw: str) -> tuple:
        """(kind, SYMBOL, E) of one market-stream frame: DEPTH, TRADE or OTHER (bookTicker, klines, ...)."""
        try:
            msg = json.loads(raw)
        except ValueError:
            return OTHER, "", None
        if not isinstance(msg, dict):
            return OTHER, "", None
        stream = msg.get("stream") if isinstance(msg.get("stream"), str) else None
        data = msg.get("data") if stream is not None else msg
        if not isinstance(data, dict):
            return OTHER, "", None
        e = data.get("e")
        sym = data.get("s") if isinstance(data.get("s"), str) else (stream.split("@")[0] if stream else "")
        E = data.get("E") if isinstance(data.get("E"), int) else None
        if e == "depthUpdate":
            return DEPTH, sym.upper(), E
        if e == "aggTrade":
            return TRADE, sym.upper(), E
        return OTHER, sym.upper(), E

    @staticmethod
    def info_problem(info) -> Optional[str]:
        """Why a recorded exchangeInfo body cannot be used, else None."""
        if not isinstance(info, dict) or not isinstance(info.get("symbols", []), list) or \
                not all(isinstance(x, dict) and isinstance(x.get("symbol"), str) for x in info.get("symbols", [])):
            return "exchangeInfo is not an object whose symbols are objects with a symbol"
        return None

    @staticmethod
    def merge_info(old: Optional[dict], new: dict) -> dict:
        """Two recordings' exchangeInfo as one: the first one's symbols, then the other's new ones."""
        if old is None:
            return new
        seen = {s.get("symbol") for s in old.get("symbols", ())}
        old.setdefault("symbols", []).extend(s for s in new.get("symbols", ()) if s.get("symbol") not in seen)
        return old

    @staticmethod
    def futures(info: Optional[dict], depth_frames: Iterable[bytes]) -> bool:
        """A USD-M book: the exchangeInfo has ``contractType``, or a diff carries ``pu``."""
        return any("contractType" in s for s in (info or {}).get("symbols", ())) or any(
            b'"pu":' in raw for raw in depth_frames)

    @staticmethod
    def filters(info: Optional[dict]) -> list:
        """Each recorded symbol's ``Filters``; ValueError naming the symbol for one that cannot be read."""
        out = []
        for s in (info or {}).get("symbols", ()):
            try:
                out.append(_filters(s))
            except (KeyError, ValueError, TypeError, AttributeError) as e:
                name = s.get("symbol") if isinstance(s, dict) else s
                raise ValueError(f"exchangeInfo symbol {name!r}: unusable filters ({e})") from None
        return out

    @staticmethod
    def stated_levels(raw: bytes) -> list:
        """The levels a depth diff states afresh: ``(is_bid, price string)`` for each."""
        msg = orjson.loads(raw)
        data = msg.get("data", msg)
        return [(key == "b", lvl[0]) for key in ("b", "a") for lvl in data.get(key, ())]

    decode_trade = staticmethod(decode_agg_trade)

    @staticmethod
    def refusal(kind: str, flt: Optional[Filters] = None, detail: str = ""):
        """The TradingError the live connector raises for Binance's answer to this refused request.

        ``kind``: precision, unknown_symbol, would_take, duplicate, unknown_order, or a filter break: price,
        qty, notional, status (``flt`` the symbol's filters) and not_synced (``detail`` says why)."""
        if kind in _FILTER_NAMES:
            what = _FILTER_NAMES[kind]
        elif kind == "notional":
            what = flt.notional_name if flt is not None else "NOTIONAL"
        elif kind == "status":
            what = f"symbol status is {flt.status if flt is not None else '?'}"
        elif kind == "not_synced":
            what = detail
        else:
            code, msg = _REFUSALS[kind]
            return binance_error(400, {"code": code, "msg": msg})
        code, msg = _REFUSALS["filter"]
        return binance_error(400, {"code": code, "msg": msg.format(what)})


def _filters(s: dict) -> Filters:
    f = {x.get("filterType"): x for x in s.get("filters", ()) if isinstance(x, dict)}
    pf, ls = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {})
    nf = f.get("NOTIONAL")
    name = "NOTIONAL" if nf is not None else "MIN_NOTIONAL"
    nf = nf if nf is not None else f.get("MIN_NOTIONAL", {})

    def sc(x):
        return scaled(str(x), "filter") if x not in (None, "") else 0
    return Filters(symbol=str(s["symbol"]).upper(), base=s.get("baseAsset", ""), quote=s.get("quoteAsset", ""),
                   trading=s.get("status", "TRADING") == "TRADING", status=str(s.get("status", "TRADING")),
                   tick=sc(pf.get("tickSize")), min_price=sc(pf.get("minPrice")), max_price=sc(pf.get("maxPrice")),
                   step=sc(ls.get("stepSize")), min_qty=sc(ls.get("minQty")), max_qty=sc(ls.get("maxQty")),
                   min_notional=sc(nf.get("minNotional", nf.get("notional"))), notional_name=name,
                   apply_to_market=bool(nf.get("applyMinToMarket", nf.get("applyToMarket", True))))


__all__ = ["BinanceBacktest"]
