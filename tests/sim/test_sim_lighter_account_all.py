"""The Lighter simulator's ``account_all/<account>`` stream channel (the one lighter-sdk's WsClient subscribes to):
no auth token, the documented keys, a snapshot then updates with the block's fills, changed positions and assets."""
import json
import time

import aiohttp
import pytest

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")

from engine.sim.lighter import LighterSimulator  # noqa: E402

ETH = 0
KEYS = {"account", "assets", "channel", "daily_trades_count", "daily_volume", "weekly_trades_count", "weekly_volume",
        "monthly_trades_count", "monthly_volume", "total_trades_count", "total_volume", "funding_histories",
        "positions", "shares", "trades", "type"}


async def recv(ws, kind, timeout=5.0):
    end = time.monotonic() + timeout
    while True:
        m = json.loads(await ws.receive_str(timeout=max(0.01, end - time.monotonic())))
        if m.get("type") == kind or "error" in m:
            return m


async def test_account_all_snapshot_updates_and_errors():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as http:
        signer = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                      api_private_keys={sim.api_key_index: sim.api_private_key})
        try:
            async with http.ws_connect(sim.ws_url) as ws:
                await ws.send_json({"type": "subscribe", "channel": f"account_all/{sim.account_index}"})
                snap = await recv(ws, "subscribed/account_all")
                assert set(snap) == KEYS
                assert snap["channel"] == f"account_all:{sim.account_index}" and snap["account"] == sim.account_index
                assert set(snap["positions"]) == {str(m) for m in sim.markets}
                assert snap["positions"]["0"]["position"] == "0.0000" and snap["trades"] == {}
                assert snap["assets"]["3"]["balance"] == "100000.000000"
                assert (snap["total_trades_count"], snap["total_volume"]) == (0, 0)

                # a market buy of 0.01 ETH: the update carries the fill, the ETH position and the assets
                ask = min(sim.markets[ETH].asks)
                tx_type, info, _, err = signer.sign_create_order(ETH, 5, 100, ask + 5000, 0, 1, 0, 0, 0, 0,
                                                                 nonce=1, api_key_index=sim.api_key_index)
                assert err is None
                async with http.post(sim.rest_url + "/api/v1/sendTx",
                                     data={"tx_type": str(tx_type), "tx_info": info}) as r:
                    assert r.status == 200
                upd = await recv(ws, "update/account_all")
                assert set(upd) == KEYS
                fills = upd["trades"]["0"]
                assert sum(int(f["size"].replace(".", "")) for f in fills) == 100
                assert all(f["bid_account_id"] == sim.account_index and f["bid_client_id"] == 5 for f in fills)
                assert list(upd["positions"]) == ["0"]
                assert (upd["positions"]["0"]["position"], upd["positions"]["0"]["sign"]) == ("0.0100", 1)
                assert upd["total_trades_count"] == len(fills) and upd["assets"]["3"]["asset_id"] == 3

                # a withdrawal moves the collateral: an update with the assets only
                tx_type, info, _, err = signer.sign_withdraw(3, 0, 2_000_000, nonce=2, api_key_index=sim.api_key_index)
                async with http.post(sim.rest_url + "/api/v1/sendTx",
                                     data={"tx_type": str(tx_type), "tx_info": info}) as r:
                    assert r.status == 200
                upd = await recv(ws, "update/account_all")
                assert (upd["positions"], upd["trades"]) == ({}, {})
                assert upd["assets"]["3"]["balance"] == f"{sim.collateral:.6f}" == "99998.000000"

                await ws.send_json({"type": "subscribe", "channel": f"account_all/{sim.account_index}"})
                assert (await recv(ws, "-"))["error"]["code"] == 30003
                await ws.send_json({"type": "unsubscribe", "channel": f"account_all/{sim.account_index}"})
                assert (await recv(ws, "unsubscribed"))["channel"] == f"account_all:{sim.account_index}"

                # another account: the keys, nothing of ours
                await ws.send_json({"type": "subscribe", "channel": "account_all/7"})
                other = await recv(ws, "subscribed/account_all")
                assert (other["positions"], other["assets"], other["account"]) == ({}, {}, 7)
        finally:
            await signer.close()


def token(sim):
    return f"{int(time.time()) + 3600}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"


async def test_user_stats_account_all_assets_and_account_orders():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as http:
        signer = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                      api_private_keys={sim.api_key_index: sim.api_private_key})
        acct = sim.account_index
        try:
            async with http.ws_connect(sim.ws_url) as ws:
                await ws.send_json({"type": "subscribe", "channel": f"user_stats/{acct}"})
                stats = await recv(ws, "subscribed/user_stats")
                assert stats["channel"] == f"user_stats:{acct}"
                assert set(stats["stats"]) == {"collateral", "portfolio_value", "leverage", "available_balance",
                                               "margin_usage", "buying_power", "cross_stats", "total_stats"}
                assert stats["stats"]["collateral"] == stats["stats"]["total_stats"]["collateral"] == "100000.000000"

                await ws.send_json({"type": "subscribe", "channel": f"account_all_assets/{acct}"})
                assert (await recv(ws, "-"))["error"]["code"] == 20001  # needs a token
                await ws.send_json({"type": "subscribe", "channel": f"account_all_assets/{acct}", "auth": token(sim)})
                assets = await recv(ws, "subscribed/account_all_assets")
                assert set(assets["assets"]["3"]) == {"symbol", "asset_id", "balance", "locked_balance", "margin_mode",
                                                      "margin_balance"}

                await ws.send_json({"type": "subscribe", "channel": f"account_orders/0/{acct}"})
                assert (await recv(ws, "-"))["error"]["code"] == 20001
                await ws.send_json({"type": "subscribe", "channel": f"account_orders/0/{acct}", "auth": token(sim)})
                snap = await recv(ws, "subscribed/account_orders")
                assert (snap["channel"], snap["account"], snap["orders"]) == ("account_orders:0", acct, {"0": []})
                await ws.send_json({"type": "subscribe", "channel": f"account_orders/99/{acct}", "auth": token(sim)})
                assert (await recv(ws, "-"))["error"]["code"] == 30005

                # a resting bid: account_orders updates; a withdrawal: user_stats and account_all_assets update
                far = max(sim.markets[ETH].bids) // 2
                for tx in (signer.sign_create_order(ETH, 6, 100, far, 0, 0, 2, 0, 0, -1, nonce=1,
                                                    api_key_index=sim.api_key_index),
                           signer.sign_withdraw(3, 0, 1_000_000, nonce=2, api_key_index=sim.api_key_index)):
                    async with http.post(sim.rest_url + "/api/v1/sendTx",
                                         data={"tx_type": str(tx[0]), "tx_info": tx[1]}) as r:
                        assert r.status == 200
                upd = await recv(ws, "update/account_orders")
                assert [(o["client_order_index"], o["status"]) for o in upd["orders"]["0"]] == [(6, "open")]
                assert (await recv(ws, "update/user_stats"))["stats"]["available_balance"] == "99999.000000"
                assert (await recv(ws, "update/account_all_assets"))["assets"]["3"]["balance"] == "99999.000000"
        finally:
            await signer.close()
