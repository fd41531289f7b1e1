"""Binance through the fault proxies: every fault on a market-stream, user-stream or REST socket ends with
the books equal to the simulator's true book and every order counted once at the simulator; a silent socket is
declared dead (``stalls``) and replaced; the process never crashes."""
import asyncio
import sys
from pathlib import Path

from faults.venues import binance_via_proxy, only_link
from helpers import wait_for

sys.path.insert(0, str(Path(__file__).parent.parent / "connectors"))
from binance_books import assert_equal_books, first_changes, settle  # noqa: E402


async def user_stream(conn):
    us = conn.get_user_data_stream()
    await us.start()
    return us, us.stream_order_updates().__aiter__()


async def test_a_stalled_user_stream_is_declared_dead_resubscribed_and_reports_again():
    async with binance_via_proxy() as (sim, px, conn):
        us, updates = await user_stream(conn)
        link = only_link(px["ws_api"])
        link.stall()
        bound = us.read_deadline.aiohttp_heartbeat_s * 1.5
        await wait_for(lambda: us.stalls == 1, timeout=bound + 10)
        assert not us.up or us.epoch == 2  # down until resubscribed on a new socket
        await wait_for(lambda: us.up and us.epoch == 2 and len(px["ws_api"].open_links()) == 2)
        assert us.status()["stalls"] == 1 and us.disconnects == 1
        o = await conn.create_order("BTC-USDT", "sell", "limit", "0.001", "70000")
        u = await asyncio.wait_for(updates.__anext__(), 10)
        assert (u.client_order_id, u.status.value) == (o.client_order_id, "open")
