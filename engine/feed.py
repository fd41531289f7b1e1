"""Compiled frame decoders: ``decode_agg_trade(raw) -> AggTrade`` for Binance ``aggTrade`` frames."""
from engine._build import load

_feed = load("engine._feed")

AggTrade = _feed.AggTrade
decode_agg_trade = _feed.decode_agg_trade
BUILD_MODE = _feed.BUILD_MODE

__all__ = ["AggTrade", "decode_agg_trade", "BUILD_MODE"]
