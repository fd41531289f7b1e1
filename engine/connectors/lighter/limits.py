"""Lighter rate limits as data, per account tier (docs/lighter.md, "Rate limits").

Two budgets, both per L1 address: REST requests to /api/v1 (sendTx/sendTxBatch excluded), and transactions
(sendTx + sendTxBatch, over REST and WebSocket together, each tx counted). A Standard account gets 60 REST
requests per rolling minute whatever they are, the paid tiers a weighted budget; the venue sends no
rate-limit headers, so the buckets are our only view. The tier is read from ``accountLimits.user_tier`` when
trading starts; until then the Standard budget applies (the smallest, so nothing we send can be over it).

The WebSocket limits per IP (docs/lighter.md, "Rate limits") are data here too: the connector opens one
stream connection (``MAX_CONNECTIONS``) and subscribes each market's book and, if asked, its trades on it,
plus the account stream's two channels, so at most ``MAX_MARKETS`` markets fit under the venue's 500
subscriptions per connection; more are refused with a ValueError before anything is subscribed.
"""
from __future__ import annotations

from engine.ratelimit import RateLimits

# weight of each REST path on the weighted tiers; 300 for anything not listed
WEIGHTS = {"/api/v1/nextNonce": 6, "/api/v1/sendTx": 6, "/api/v1/sendTxBatch": 6, "/api/v1/apikeys": 150,
           "/api/v1/accountInactiveOrders": 100, "/api/v1/recentTrades": 600, "/api/v1/trades": 600}
DEFAULT_WEIGHT = 300

# tier -> (REST budget per minute, weighted?, transactions per minute); Builder's tx quota is not published,
# Plus's is used for it
TIERS = {"standard": (60, False, 60), "premium": (24_000, True, 4_000), "plus": (120_000, True, 8_000),
         "builder": (240_000, True, 8_000)}


def _minute(kind: str, limit: int) -> dict:
    return {"rateLimitType": kind, "interval": "MINUTE", "intervalNum": 1, "limit": limit}


class TierLimits:
    """The REST and transaction buckets of one tier; ``set_tier`` swaps both (counts start afresh)."""

    def __init__(self, tier: str = "standard"):
        self.rest = RateLimits([])
        self.tx = RateLimits([])
        self.tier = ""
        self.set_tier(tier)

    def set_tier(self, tier: str) -> None:
        tier = str(tier).lower()
        if tier not in TIERS:
            raise ValueError(f"unknown Lighter account tier {tier!r}; known: {', '.join(TIERS)}")
        rest, weighted, tx = TIERS[tier]
        self.rest.reconfigure([_minute("REQUEST_WEIGHT" if weighted else "RAW_REQUESTS", rest)])
        self.tx.reconfigure([_minute("ORDERS", tx)])
        self.tier, self._weighted = tier, weighted

    def weight(self, path: str) -> int:
        return WEIGHTS.get(path, DEFAULT_WEIGHT) if self._weighted else 0  # RAW_REQUESTS counts 1 regardless

    def status(self) -> dict:
        return {"tier": self.tier, "rest": self.rest.status(), "tx": self.tx.status()}


# WebSocket, per IP (docs/lighter.md, "Rate limits")
WS_CONNECTIONS_PER_IP = 200
WS_NEW_CONNECTIONS_PER_MINUTE = 80
WS_SUBSCRIPTIONS_PER_CONNECTION = 500
WS_CLIENT_MESSAGES_PER_MINUTE = 200  # subscribe, unsubscribe, pong...; sendtx frames are not counted
WS_INFLIGHT_MESSAGES = 50  # unacknowledged client messages
MAX_CONNECTIONS = 1  # stream connections one connector opens (books, trades, account and transactions share it)
ACCOUNT_CHANNELS = 2  # account_all_orders and account_all_positions
SUBSCRIPTIONS_PER_MARKET = 2  # order_book and trade
MAX_MARKETS = (WS_SUBSCRIPTIONS_PER_CONNECTION - ACCOUNT_CHANNELS) // SUBSCRIPTIONS_PER_MARKET  # 249


def check_max_markets(max_markets: int) -> int:
    """``max_markets`` if the connection can carry that many markets under the venue's limits, else ValueError."""
    if not 1 <= max_markets <= MAX_MARKETS:
        raise ValueError(f"lighter: max_markets={max_markets}; one connection carries 1 to {MAX_MARKETS} markets "
                         f"(the venue allows {WS_SUBSCRIPTIONS_PER_CONNECTION} subscriptions per connection: "
                         f"{SUBSCRIPTIONS_PER_MARKET} per market and {ACCOUNT_CHANNELS} for the account)")
    return max_markets
