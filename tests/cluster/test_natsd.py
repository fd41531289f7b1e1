"""The nats-server fixture itself: a client round-trips a request, and a killed server comes back on the same
URL with the client reconnected (what every kill-and-restart test relies on)."""
import asyncio

import nats

from helpers import wait_for


async def test_request_reply_and_reconnect_after_kill(nats_server):
    nc = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    try:
        async def echo(msg):
            await msg.respond(msg.data)

        await nc.subscribe("echo", cb=echo)
        assert (await nc.request("echo", b"x", timeout=5)).data == b"x"
        nats_server.restart()
        await wait_for(lambda: nc.is_connected and nc.stats["reconnects"] >= 1, timeout=20)
        assert (await nc.request("echo", b"y", timeout=5)).data == b"y"
    finally:
        await nc.close()


async def test_jetstream_server_has_jetstream(nats_js_server):
    nc = await nats.connect(nats_js_server.url)
    try:
        info = await nc.jetstream().account_info()
        assert info is not None
    finally:
        await nc.close()
