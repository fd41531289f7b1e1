"""engine: a low-latency crypto trading engine with a compiled (Cython) hot path.

Importing ``engine`` is cheap and pure: it reads no files, opens no sockets, imports no compiled
module and sets no event-loop policy. Public names are loaded lazily on first access.
"""
__version__ = "0.1.0"

_LAZY = {
    "OrderBook": "engine.book",
    "BookSync": "engine.book",
    "DepthOutcome": "engine.book",
    "AggTrade": "engine.feed",
    "decode_agg_trade": "engine.feed",
    "Signer": "engine.sign",
    "TokenBucketLimiter": "engine.ratelimit",
    "LatencyHistogram": "engine.metrics",
    "TradingError": "engine.errors",
    "FrameError": "engine.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(__all__)
