"""The fault proxy on its own: a plain TCP echo server behind it, a raw client in front, each fault checked
by what each side receives (never by how long something took, except that a delay cannot make data faster)."""
import asyncio
import contextlib

import pytest

from faults.proxy import DOWN, UP, FaultProxy
from helpers import wait_for


class Upstream:
    """An echo server that records every byte it received and every connection it saw close."""

    def __init__(self):
        self.received = bytearray()
        self.accepted = 0
        self.ended = 0  # connections that reached EOF or a reset
        self.resets = 0
        self.writers: list = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for w in self.writers:
            w.close()
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader, writer):
        self.accepted += 1
        self.writers.append(writer)
        try:
            while data := await reader.read(65536):
                self.received += data
                writer.write(data)
                await writer.drain()
        except ConnectionResetError:
            self.resets += 1
        except OSError:
            pass
        self.ended += 1
        writer.close()


@contextlib.asynccontextmanager
async def rig():
    async with Upstream() as up, FaultProxy(up.port) as proxy:
        yield up, proxy


async def client(proxy):
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def read_exactly(reader, n):
    return await asyncio.wait_for(reader.readexactly(n), 10)


async def connected(proxy):
    """A client whose first byte has made the round trip: (reader, writer, its link)."""
    r, w = await client(proxy)
    w.write(b"a")
    await read_exactly(r, 1)
    return r, w, proxy.links[-1]


async def test_forwards_both_ways_and_counts_bytes_and_connections():
    async with rig() as (up, proxy):
        r, w = await client(proxy)
        w.write(b"GET /stream?x=1 HTTP/1.1\r\n\r\n")
        assert await read_exactly(r, 28) == b"GET /stream?x=1 HTTP/1.1\r\n\r\n"
        r2, w2 = await client(proxy)
        w2.write(b"hello")
        assert await read_exactly(r2, 5) == b"hello"
        assert proxy.accepted == 2 and up.accepted == 2
        assert proxy.bytes_up == proxy.bytes_down == 33
        assert [k.path for k in proxy.links] == ["/stream", ""]
        assert proxy.open_links("/stream") == [proxy.links[0]]
        w.close()
        await wait_for(lambda: not proxy.links[0].is_open)
        assert up.ended == 1 and proxy.open_links() == [proxy.links[1]]
        assert proxy.url("ws://127.0.0.1:1/stream?a=b") == f"ws://127.0.0.1:{proxy.port}/stream?a=b"
        w2.close()


async def test_reset_is_a_tcp_rst_to_both_sides():
    async with rig() as (up, proxy):
        r, w, link = await connected(proxy)
        link.reset()
        with pytest.raises(ConnectionResetError):
            while await asyncio.wait_for(r.read(100), 10):
                pass
        await wait_for(lambda: up.resets == 1)


async def test_reset_after_next_forwards_that_chunk_then_resets():
    async with rig() as (up, proxy):
        r, w, link = await connected(proxy)
        link.reset_after_next(UP)
        w.write(b"order")
        await wait_for(lambda: up.received == b"aorder")  # the venue got the request ...
        await wait_for(lambda: not link.is_open)  # ... and the connection was reset after it
        with pytest.raises(ConnectionResetError):
            while await asyncio.wait_for(r.read(100), 10):
                pass


async def test_truncate_forwards_part_of_the_next_chunk_then_closes():
    async with rig() as (up, proxy):
        r, w = await client(proxy)
        proxy.links[0].truncate(DOWN)
        w.write(b"0123456789")
        got = await asyncio.wait_for(r.read(), 10)  # to EOF
        assert 0 < len(got) < 10 and b"0123456789".startswith(got)
        assert up.received == b"0123456789"  # the other direction went through whole


async def test_stall_holds_both_ways_without_closing_until_released():
    async with rig() as (up, proxy):
        r, w, link = await connected(proxy)
        link.stall()
        w.write(b"bc")
        await wait_for(lambda: link.up.read == 3)  # read by the proxy ...
        assert up.received == b"a" and link.is_open and link.stalled  # ... and held, not forwarded
        link.release()
        assert await read_exactly(r, 2) == b"bc" and up.received == b"abc" and link.stalls == 1


async def test_stall_on_next_holds_that_chunk_and_delivers_it_after_the_client_left():
    async with rig() as (up, proxy):
        r, w, link = await connected(proxy)
        link.stall(on_next=UP)
        assert not link.stalled  # armed, not yet begun
        w.write(b"tx")
        await wait_for(lambda: link.stalled and link.up.read == 3)
        w.close()  # the client gives up on the stalled connection
        await wait_for(lambda: link.up.eof)
        assert up.received == b"a" and up.ended == 0  # nothing passed on: neither the request nor the close
        link.release()
        await wait_for(lambda: up.received == b"atx" and up.ended == 1)  # the request arrives, then the close
        await wait_for(lambda: not link.is_open)


async def test_delay_adds_latency_to_every_chunk_and_keeps_order():
    async with rig() as (up, proxy):
        r, w = await client(proxy)
        link = proxy.links[0]
        link.delay(0.3)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for k in range(5):
            w.write(b"%d" % k)
            await asyncio.sleep(0.01)
        assert await read_exactly(r, 5) == b"01234"
        assert loop.time() - t0 >= 0.6  # up and down, each at least the delay: never faster
        assert up.received == b"01234"


async def test_blackhole_reads_and_forwards_nothing():
    async with rig() as (up, proxy):
        r, w, link = await connected(proxy)
        link.blackhole()
        w.write(b"lost")
        await wait_for(lambda: link.up.read == 5)
        w.close()
        await wait_for(lambda: link.up.eof and not link.up.queue)
        assert up.received == b"a" and up.ended == 0 and link.is_open  # not even the close went through
        proxy.accept_mode = "blackhole"  # new connections: accepted and read, never connected upstream
        r2, w2 = await client(proxy)
        w2.write(b"GET / HTTP/1.1\r\n\r\n")
        await wait_for(lambda: proxy.links[-1].up.read == 18)
        assert up.accepted == 1 and proxy.accepted == 2 and proxy.links[-1].path == "/"
        w2.close()


async def test_refuse_closes_the_listener_and_accept_modes_close_or_reset():
    async with rig() as (up, proxy):
        port = proxy.port
        await proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            await client(proxy)
        await proxy.listen()
        assert proxy.port == port
        r, w = await client(proxy)
        w.write(b"ok")
        assert await read_exactly(r, 2) == b"ok"
        proxy.accept_mode = "close"
        r2, _ = await client(proxy)
        assert await asyncio.wait_for(r2.read(), 10) == b""  # accepted and closed at once
        proxy.accept_mode = "reset"
        r3, _ = await client(proxy)
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(r3.read(), 10)
        assert proxy.refused == 2 and up.accepted == 1 and proxy.accepted == 3


async def test_stop_closes_every_link_and_leaves_no_task():
    async with Upstream() as up:
        proxy = await FaultProxy(up.port).start()
        readers = []
        for _ in range(3):
            readers.append((await connected(proxy))[0])
        proxy.links[0].stall()
        proxy.links[1].blackhole()
        await proxy.stop()
        assert all(not k.is_open for k in proxy.links)
        for r in readers:
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(r.read(), 10) == b""
        await wait_for(lambda: up.ended == 3)
        assert not proxy._link_tasks
        with pytest.raises(ConnectionRefusedError):
            await client(proxy)
