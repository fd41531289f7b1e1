"""engine/app.py's wiring against the embedded simulators: the status dict shows each venue's rejected orders
with the last reason, book rows in unified symbols on every venue, and no secret or auth token anywhere in the
status (JSON or text)."""
import asyncio
import contextlib
import importlib.util
import json
from decimal import Decimal

import pytest

from engine import app
from engine.cli import status_lines
from engine.config import RiskLimits, Settings
from engine.sim.binance import BinanceSimulator
from engine.sim.lighter import LighterSimulator

HAS_LIGHTER = importlib.util.find_spec("lighter") is not None


@pytest.fixture
def simulators(monkeypatch):
    """The simulators the session starts, in start order (their keys are what must never be printed)."""
    started = []
    for cls in (BinanceSimulator, LighterSimulator):
        def start(self, _orig=cls.start):
            started.append(self)
            return _orig(self)
        monkeypatch.setattr(cls, "start", start)
    return started


async def _status_after(settings, symbols, seconds, *, until=None):
    """Run a session on the simulators; the status dict once ``until(status)`` holds (or after ``seconds``)."""
    plan = app.plan_run(settings, symbols)
    session = app.EngineSession(settings, plan)
    async with contextlib.AsyncExitStack() as stack:
        await session.start(stack)
        session.status()
        st = None
        for _ in range(int(seconds / 0.25)):
            await asyncio.sleep(0.25)
            st = session.status()
            if until is not None and until(st):
                break
        return session, st


async def test_rejected_orders_show_per_venue_with_the_venue_reason():
    # 0.01 SOL at ~150 is 1.5 USDT: below the simulator's 5 USDT minimum notional, so every quote is refused
    settings = Settings(active_exchange="binance", monitor_exchanges=("binance",))
    _, st = await _status_after(settings, ("SOL-USDT",), 8, until=lambda s: s["orders"]["rejected"] >= 2)
    o = st["orders"]
    assert o["rejected"] >= 2 and o["filled"] == 0
    rej = o["rejections"]["binance"]
    assert rej["count"] == o["rejected"] and "minNotional" in rej["last_reason"]
    line = next(x for x in status_lines(st) if "orders sent=" in x)
    assert f"rejected={o['rejected']} (last: binance: " in line and "minNotional" in line


async def test_risk_refusals_count_as_rejections_with_the_risk_reason():
    limits = RiskLimits(max_order_qty=Decimal("0.001"))  # below the market maker's 0.01
    settings = Settings(active_exchange="binance", monitor_exchanges=("binance",), risk=limits)
    _, st = await _status_after(settings, ("ETH-USDT",), 8, until=lambda s: s["orders"]["rejected"] >= 2)
    reason = st["orders"]["rejections"]["binance"]["last_reason"]
    assert reason.startswith("risk: ") and "max 0.001" in reason


async def test_book_rows_use_unified_symbols_on_every_venue():
    settings = Settings(active_exchange="binance", monitor_exchanges=("binance", "lighter"))
    _, st = await _status_after(settings, ("BTC-USDT", "ETH-USDT"), 8,
                                until=lambda s: all(b["state"] == "live" for b in s["books"]))
    rows = {(b["venue"], b["symbol"]): b for b in st["books"]}
    # each venue's own unified spelling, the one its positions are keyed by (Lighter's perps settle in USDC)
    assert set(rows) == {(v, f"{b}-{q}") for v, q in (("binance", "USDT"), ("lighter", "USDC")) for b in ("BTC", "ETH")}
    assert rows[("binance", "ETH-USDT")]["native"] == "ETHUSDT" and rows[("lighter", "ETH-USDC")]["native"] == "ETH"
    assert all(b["state"] == "live" and b["bid"] < b["ask"] for b in rows.values())
    assert set(st["cross_venue_gap_bps"]) == {"BTC-USDT", "ETH-USDT"}
    for venue in ("binance", "lighter"):  # each connector's own REST budget, read through health()
        assert {"used", "limit", "kind"} <= set(st["rest_budget"][venue])
    json.dumps(st, allow_nan=False)  # an empty book side is null, never NaN: every line is valid JSON


async def test_no_secret_or_auth_token_in_any_status_output(simulators):
    settings = Settings()  # both venues; the market maker trades both (Lighter when the extra is installed)
    session, st = await _status_after(settings, ("ETH-USDT",), 10,
                                      until=lambda s: s["orders"]["sent"] >= 2 and (
                                          not HAS_LIGHTER or "account_stream" in s["venues"]["lighter"]))
    secrets = []
    for sim in simulators:
        secrets += [v for k, v in vars(sim).items() if k in ("api_key", "api_secret", "api_private_key") and v]
    lighter = session.connectors["lighter"]
    if HAS_LIGHTER:
        assert lighter.tokens.minted  # the account stream and lookups use a token: it must not be printed
        secrets.append(await lighter.tokens.current())
    assert len(secrets) >= (4 if HAS_LIGHTER else 3)
    outputs = {"json": json.dumps(st), "text": "\n".join(status_lines(st)), "describe": json.dumps(session.describe())}
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text and secret[:16] not in text, f"a secret in the {name} status"


def test_the_market_maker_quotes_what_the_order_rate_lets_quote_at_once():
    # all market makers tick together and may send both quotes at once: the default 5 orders/s fits two
    one = Settings(active_exchange="binance", monitor_exchanges=("binance",))
    assert app.plan_run(one, ("BTC-USDT", "ETH-USDT")).quotes == {"binance": ("BTC-USDT", "ETH-USDT")}
    plan = app.plan_run(one, ("BTC-USDT", "ETH-USDT", "SOL-USDT"))
    assert plan.quotes == {"binance": ("BTC-USDT", "ETH-USDT")}
    assert any("RISK_MAX_ORDERS_PER_SECOND=5" in n and "set it to 6" in n for n in plan.notes)
    fast = Settings(active_exchange="binance", monitor_exchanges=("binance",), risk=RiskLimits(max_orders_per_second=6))
    plan = app.plan_run(fast, ("BTC-USDT", "ETH-USDT", "SOL-USDT"))
    assert plan.quotes == {"binance": ("BTC-USDT", "ETH-USDT", "SOL-USDT")} and plan.notes == ()
    monitor = app.plan_run(one, ("BTC-USDT",), strategy="monitor")
    assert monitor.trading == () and monitor.quotes == {}


async def test_describe_names_exactly_the_market_makers_running():
    settings = Settings(active_exchange="binance", monitor_exchanges=("binance",))
    session = app.EngineSession(settings, app.plan_run(settings, ("BTC-USDT", "ETH-USDT", "SOL-USDT")))
    async with contextlib.AsyncExitStack() as stack:
        await session.start(stack)
        described = session.describe()
        running = [(mm.venue, mm.symbol) for mm in session.market_makers]
    assert described["market_maker"] == {"binance": ["BTC-USDT", "ETH-USDT"]}
    assert running == [("binance", "BTC-USDT"), ("binance", "ETH-USDT")]
    assert described["monitor"] == {"binance": ["BTC-USDT", "ETH-USDT", "SOL-USDT"]}
