"""lighter-sdk's own generated REST client reads the Lighter simulator unchanged, and gets the simulator's values.

The SDK builds its models with pydantic's ``model_construct``, so it never rejects a body by itself. Each raw
body is therefore also validated strictly against the SDK model the client chose, and every complaint must be
one the real venue's captured body for that endpoint draws too (the SDK schema requires fields the venue
leaves out, e.g. the binary-option fields on perp markets): the simulator may be as incomplete as the venue,
never more, and never of a wrong type.
"""
import asyncio
import json
import pathlib
import time

import pytest

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")
import pydantic  # noqa: E402  (a lighter-sdk dependency)

from engine.sim.lighter import LighterSimulator  # noqa: E402

DATA = pathlib.Path(__file__).parents[1] / "data/lighter"


def gaps(model, body) -> set:
    """What strict validation of ``body`` against ``model`` complains of, as (field path, error type)."""
    try:
        model.model_validate(body)
        return set()
    except pydantic.ValidationError as e:
        return {(".".join(str(p) for p in x["loc"] if not isinstance(p, int)), x["type"]) for x in e.errors()}


async def read(call, *fixtures, like=None):
    """Await an SDK ``*_with_http_info`` call, check its raw body against the captured ``fixtures`` (validated
    as ``like``, default the same model) and return what the SDK parsed."""
    res = await call
    model = type(res.data)
    allowed = set().union(*(gaps(like or model, json.loads((DATA / f).read_text())) for f in fixtures))
    extra = gaps(model, json.loads(res.raw_data)) - allowed
    assert not extra, f"{model.__name__}: the simulator's body lacks what the venue's has: {sorted(extra)}"
    return res.data


def client(sim):
    """The SDK's REST client on the simulator; ``async with`` closes it (``await client.close()``) even on failure."""
    return lighter.ApiClient(configuration=lighter.Configuration(host=sim.rest_url))


def token(sim, ahead_s=3600):
    # the auth token's shape; the simulator checks the deadline and the account/key, not the signature
    return f"{int(time.time()) + ahead_s}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"


def order_tx(sim, nonce, **kw):
    """A create-order tx_info with the signer's keys (the simulator does not verify the signature)."""
    now_ms = int(time.time() * 1000)
    return json.dumps({"AccountIndex": sim.account_index, "ApiKeyIndex": sim.api_key_index, "MarketIndex": 0,
                       "ClientOrderIndex": 0, "BaseAmount": 100, "Price": 0, "IsAsk": 0, "Type": 0,
                       "TimeInForce": 1, "ReduceOnly": 0, "TriggerPrice": 0, "OrderExpiry": now_ms + 3_600_000,
                       "ExpiredAt": now_ms + 600_000, "Nonce": nonce, "Sig": "00" * 80, **kw})


async def test_sdk_reads_market_data():
    async with LighterSimulator(seed=1) as sim, client(sim) as c:
        crv = sim.markets[36]
        for _ in range(100):  # let the random walk print a trade or two
            if crv.trades:
                break
            await asyncio.sleep(0.1)
        sim.paused = True  # freeze the books so the SDK's reads can be compared with them
        order, root, candles = lighter.OrderApi(c), lighter.RootApi(c), lighter.CandlestickApi(c)
        specs = {(m.spec.market_id, m.spec.symbol, m.spec.price_decimals, m.spec.size_decimals)
                 for m in sim.markets.values()}

        books = await read(order.order_books_with_http_info(), "nautilus_trader/http_order_books.json",
                           "captured/rest_orderBooks_5rows_mainnet_20260731.json")
        assert {(b.market_id, b.symbol, b.supported_price_decimals, b.supported_size_decimals)
                for b in books.order_books} == specs
        assert {b.min_base_amount for b in books.order_books if b.market_id == 0} == {"0.0050"}

        details = await read(order.order_book_details_with_http_info(),
                             "nautilus_trader/http_order_book_details.json")
        assert {(d.market_id, d.symbol, d.price_decimals, d.size_decimals) for d in details.order_book_details} == specs

        obo = await read(order.order_book_orders_with_http_info(market_id=36, limit=5),
                         "nautilus_trader/http_order_book_orders.json")
        assert [(a.price, a.remaining_base_amount) for a in obo.asks] == \
               [(crv.spec.px(p), crv.spec.sz(q)) for p, q in crv.levels("a")[:5]]
        assert [b.price for b in obo.bids] == [crv.spec.px(p) for p, _ in crv.levels("b")[:5]]

        trades = await read(order.recent_trades_with_http_info(market_id=36, limit=3),
                            "nautilus_trader/http_recent_trades.json")
        assert trades.trades, "the market printed no trade in 10 s"
        assert [(t.trade_id, t.price, t.size, t.is_maker_ask) for t in trades.trades] == \
               [(tid, crv.spec.px(p), crv.spec.sz(q), ask) for tid, p, q, ask, _ in crv.trades[-3:]]

        now = int(time.time() * 1000)
        bars = await read(candles.candles_with_http_info(market_id=0, resolution="1m", start_timestamp=now - 600_000,
                                                         end_timestamp=now, count_back=5),
                          "nautilus_trader/http_candles.json")
        assert bars.r == "1m" and len(bars.c) == 5 and all(b.t % 60_000 == 0 and b.l <= b.o <= b.h for b in bars.c)

        status = await read(root.status_with_http_info(), "ccxt_static/rest_root_status_fetchStatus.json")
        assert status.status == 200 and abs(status.timestamp - time.time()) < 60  # seconds, as captured


async def test_sdk_reads_account_nonce_keys_and_private_reads():
    async with LighterSimulator(seed=1) as sim, client(sim) as c:
        sim.paused = True
        key = (sim.account_index, sim.api_key_index)
        account, order, tx = lighter.AccountApi(c), lighter.OrderApi(c), lighter.TransactionApi(c)
        account_fixtures = ("nautilus_trader/http_account.json",
                            "ccxt_static/rest_account_with_position_fetchPosition.json",
                            "ccxt_static/rest_account_by_l1_address_fetchBalance.json")

        acct = (await read(account.account_with_http_info(by="index", value=str(sim.account_index)),
                           *account_fixtures)).accounts[0]
        assert acct.index == acct.account_index == sim.account_index
        assert acct.collateral == f"{sim.collateral:.6f}" == acct.assets[0].balance and acct.assets[0].symbol == "USDC"

        keys = await read(account.apikeys_with_http_info(account_index=sim.account_index,
                                                         api_key_index=sim.api_key_index))
        assert [(k.api_key_index, k.public_key, k.nonce) for k in keys.api_keys] == \
               [(sim.api_key_index, sim.api_public_key, sim.nonces[key])]
        nonce = await read(tx.next_nonce_with_http_info(account_index=key[0], api_key_index=key[1]),
                           "captured/rest_nextNonce_fresh_key_testnet.json")
        assert nonce.nonce == sim.nonces[key] == 1

        eth = sim.markets[0]
        bid = eth.levels("b")[0][0] - 50  # rests (post-only, below the best bid)
        sent = await read(tx.send_tx_with_http_info(tx_type=14, tx_info=order_tx(
            sim, 1, ClientOrderIndex=7, Price=bid, TimeInForce=2)), "captured/rest_sendTx_200_testnet_a.json")
        assert sent.code == 200 and len(sent.tx_hash) == 80
        batch = await read(tx.send_tx_batch_with_http_info(tx_types="[14]", tx_infos=json.dumps([order_tx(
            sim, 2, ClientOrderIndex=8, Price=eth.levels("a")[0][0] + 500, Type=1, TimeInForce=0, OrderExpiry=0)])),
            "captured/rest_sendTx_200_testnet_a.json", like=lighter.RespSendTx)
        assert batch.code == 200 and len(batch.tx_hash) == 1  # a market buy that fills
        assert (await tx.next_nonce(account_index=key[0], api_key_index=key[1])).nonce == sim.nonces[key] == 3
        while sim.pending_txs:  # executed at the next block
            await asyncio.sleep(0.05)

        auth = token(sim)
        active = await read(order.account_active_orders_with_http_info(authorization=auth, account_index=key[0],
                                                                       market_id=0),
                            "captured/rest_accountActiveOrders_one_testnet.json")
        assert [(o.client_order_index, o.price, o.is_ask, o.status, o.time_in_force) for o in active.orders] == \
               [(7, eth.spec.px(bid), False, "open", "post-only")]
        done = await read(order.account_inactive_orders_with_http_info(authorization=auth, account_index=key[0],
                                                                        limit=10),
                          "captured/rest_accountActiveOrders_one_testnet.json")
        assert [(o.client_order_index, o.status, o.filled_base_amount) for o in done.orders] == \
               [(8, "filled", "0.0100")]
        acct = (await read(account.account_with_http_info(by="index", value=str(sim.account_index)),
                           *account_fixtures)).accounts[0]
        assert [(p.position, p.sign, p.open_order_count) for p in acct.positions if p.market_id == 0] == \
               [("0.0100", 1, 1)]
        limits = await read(account.account_limits_with_http_info(account_index=key[0], authorization=auth),
                            "captured/rest_accountLimits_ok_testnet.json")
        assert limits.code == 200 and limits.user_tier == sim.user_tier == "premium"

        with pytest.raises(lighter.ApiException) as e:  # the venue refuses a deadline more than 8 h ahead
            await account.account_limits(account_index=key[0], authorization=token(sim, 9 * 3600))
        assert e.value.status == 401 and json.loads(e.value.body) == json.loads(
            (DATA / "captured/rest_accountLimits_error_20013_deadline_over_8h_testnet.json").read_text())
