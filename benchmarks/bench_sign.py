"""HMAC-SHA256 of the 125-byte order query and params -> signed query, ours vs stdlib paths."""
import hashlib
import hmac

import pytest

from engine.sign import Signer
from peers import PrecomputedHmac, hmac_new, join_and_hmac, urlencode_and_hmac

KEY = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
MSG = (b"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01000000&price=60000.00"
       b"&recvWindow=5000&timestamp=1700000000000")
PARAMS = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
          "quantity": "0.01000000", "price": "60000.00"}
WANT = hmac.new(KEY, MSG, hashlib.sha256).hexdigest()
N = 20000

assert len(MSG) == 125

SIGNERS = {
    "engine Signer.sign (compiled)": Signer(KEY).sign,
    "hmac.new(...).hexdigest()": lambda m: hmac_new(KEY, m),
    "precomputed hmac .copy()": PrecomputedHmac(KEY).sign,
}


@pytest.mark.benchmark(group="hmac-sha256 sign, 125 B query")
@pytest.mark.parametrize("name", list(SIGNERS))
def test_sign(benchmark, name):
    f = SIGNERS[name]

    def run():
        for _ in range(N):
            f(MSG)
        return f(MSG)

    assert benchmark.pedantic(run, rounds=7, iterations=1) == WANT
    benchmark.extra_info["ops"] = N


QUERIES = {
    "engine Signer.signed_query (compiled)": lambda: Signer(KEY).signed_query,
    "f-string join + hmac.new (python-binance-like)": lambda: lambda p, timestamp, recv_window:
        join_and_hmac(KEY, p, timestamp, recv_window),
    "urlencode + hmac.new (ccxt-like)": lambda: lambda p, timestamp, recv_window:
        urlencode_and_hmac(KEY, p, timestamp, recv_window),
}


@pytest.mark.benchmark(group="params -> signed query")
@pytest.mark.parametrize("name", list(QUERIES))
def test_signed_query(benchmark, name):
    f = QUERIES[name]()

    def run():
        for _ in range(N):
            f(PARAMS, timestamp=1700000000000, recv_window=5000)
        return f(PARAMS, timestamp=1700000000000, recv_window=5000)

    q = benchmark.pedantic(run, rounds=7, iterations=1)
    assert q == MSG.decode() + "&signature=" + WANT
    benchmark.extra_info["ops"] = N
