"""A key, secret or permission the venue refuses is a permanent failure: one clear AuthenticationError that
says what to check, no retry loop, the user stream's status says it failed and why; transient refusals
(-1021 timestamp) are still retried."""
import pytest

from engine.errors import AuthenticationError

from binance_env import binance
from helpers import wait_for

SUBSCRIBE = "userDataStream.subscribe.signature"


def wrong_key(sim):
    return {"api_key": "x" + sim.api_key[1:]}  # well formed, unknown to the venue


def bad_format(sim):
    return {"api_key": "not a key!"}


def wrong_secret(sim):
    return {"api_secret": "00" + sim.api_secret[2:]}


CASES = [(-2015, wrong_key, ("BINANCE_API_KEY", "IP allow-list", "BINANCE_TESTNET")),
         (-2014, bad_format, ("BINANCE_API_KEY", "format")),
         (-1022, wrong_secret, ("BINANCE_API_SECRET", "BINANCE_TESTNET"))]


@pytest.mark.parametrize("code,change,checks", CASES, ids=[str(c[0]) for c in CASES])
async def test_a_refused_key_stops_the_user_stream_at_once_with_what_to_check(code, change, checks):
    async with binance(creds=change) as (sim, c):
        us = c.get_user_data_stream()
        with pytest.raises(AuthenticationError) as info:
            await us.start(timeout_s=30)  # the old retry loop ran out this clock and raised TimeoutError
        err = info.value
        text = str(err)
        assert err.code == code and err.exchange == "binance" and "binance user stream" in text
        assert "not retried" in text and all(c in text for c in checks), text
        for secret in (sim.api_key, sim.api_secret, us.auth.api_key):
            assert secret not in text
        await wait_for(lambda: us._task.done())
        assert sim.wsapi.calls[SUBSCRIBE] == 1  # one refusal, no retry
        st = us.status()
        assert st["state"] == "failed" and not st["subscribed"] and str(code) in st["last_error"]
        assert c.health()["user_stream"]["state"] == "failed"


async def test_a_refused_key_on_rest_names_what_to_check():
    async with binance(creds=wrong_key) as (sim, c):
        before = c.http.requests
        with pytest.raises(AuthenticationError) as info:
            await c.get_account()
        assert info.value.code == -2015 and "IP allow-list" in str(info.value)
        assert c.http.requests == before + 1  # not retried


async def test_a_timestamp_refusal_is_transient_the_user_stream_resyncs_its_clock_and_subscribes():
    async with binance() as (sim, c):
        sim.faults.clock_skew_ms = 20_000  # the venue's clock jumps: our timestamps fall out of recvWindow
        us = c.get_user_data_stream()
        await us.start(timeout_s=30)
        assert us.up and us.failure is None and us.status()["state"] == "subscribed"
        assert sim.wsapi.calls[SUBSCRIBE] >= 2  # refused with -1021, then accepted after the resync
