"""Socket to book: a server process blasts depth diffs over loopback; diffs/s through each client's book.

Rows: our connector's path (picows + the compiled listener + BookSync, no Python per frame), picows with
a Python listener + orjson + SortedDict, aiohttp + orjson + SortedDict. The server runs on its own CPU
(pinned to CPU 1 when the machine allows), the client on CPU 0. Ours also reports the latency histogram
kept inside the compiled path (frame received -> book applied).
"""
import asyncio
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import aiohttp
import orjson
import pytest
from picows import WSListener, WSMsgType, ws_connect

from engine.book import BookSync, OrderBook
from peers import OrjsonSortedDictBook

HERE = pathlib.Path(__file__).parent
N = int(os.environ.get("ENGINE_WS_BENCH_FRAMES", "40000"))


@pytest.fixture(scope="module")
def blaster(stream):
    port_file = tempfile.mktemp(prefix="engine-ws-bench-")
    proc = subprocess.Popen([sys.executable, str(HERE / "ws_blaster.py"), port_file, str(N), "1"])
    try:
        for _ in range(300):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        port = int(open(port_file).read())
        yield f"ws://127.0.0.1:{port}/stream?streams=btcusdt@depth@100ms"
    finally:
        proc.kill()
        proc.wait()
        if os.path.exists(port_file):
            os.unlink(port_file)


def _pin_client():
    if hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {0})
        except OSError:
            pass


class _Owner:
    """What the compiled listener calls back (only on rare events)."""

    def __init__(self):
        self.done = asyncio.get_running_loop().create_future()

    def on_ws_connected(self, transport):
        pass

    def on_ws_disconnected(self, code, reason):
        if not self.done.done():
            self.done.set_result(code)

    def on_book(self, key, outcome):
        pass

    def on_control(self, payload):
        pass

    def on_garbage(self, payload):
        pass

    def on_stream(self, key, payload):
        pass


async def ours(url, stream, notify=True):
    from engine._ws import StreamListener

    book = OrderBook("BTCUSDT")
    sync = BookSync(book)
    sync.apply_snapshot(stream.snapshot)
    owner = _Owner()
    holder = {}

    def factory():
        lst = StreamListener(owner)
        # as the connector does: Python is told when the top of book moved (most diffs in this stream)
        lst.register_book(b"btcusdt@depth@100ms", sync, "btc", notify_applied=notify)
        holder["l"] = lst
        return lst

    await ws_connect(factory, url, max_frame_size=1 << 20)
    await owner.done
    return book.applied, holder["l"].latency.snapshot()


class _PyListener(WSListener):
    def __init__(self, book, done):
        super().__init__()
        self.book, self.done, self.n = book, done, 0

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.TEXT:
            msg = orjson.loads(frame.get_payload_as_memoryview())
            self.book.apply_dict(msg["data"])
            self.n += 1
        elif frame.msg_type == WSMsgType.CLOSE:
            transport.disconnect()

    def on_ws_disconnected(self, transport):
        if not self.done.done():
            self.done.set_result(self.n)


async def picows_python(url, stream):
    done = asyncio.get_running_loop().create_future()
    book = OrjsonSortedDictBook(stream.snapshot)
    await ws_connect(lambda: _PyListener(book, done), url, max_frame_size=1 << 20)
    return await done, None


async def aiohttp_python(url, stream):
    book = OrjsonSortedDictBook(stream.snapshot)
    n = 0
    async with aiohttp.ClientSession() as s, s.ws_connect(url, max_msg_size=1 << 20) as ws:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                book.apply_dict(orjson.loads(msg.data)["data"])
                n += 1
    return n, None


async def ours_compiled_only(url, stream):
    return await ours(url, stream, notify=False)


CLIENTS = {
    "engine connector path (picows + compiled listener + book, Python told of BBO moves)": ours,
    "engine compiled path alone (no Python per frame)": ours_compiled_only,
    "picows + Python listener + orjson + SortedDict": picows_python,
    "aiohttp + orjson + SortedDict": aiohttp_python,
}


@pytest.mark.benchmark(group="loopback diffs -> book (per diff)")
@pytest.mark.parametrize("name", list(CLIENTS))
def test_ws_to_book(benchmark, blaster, stream, name):
    _pin_client()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    results = {}

    def once():
        results["r"] = run(CLIENTS[name](blaster, stream))
        return results["r"]

    n, lat = benchmark.pedantic(once, rounds=3, iterations=1)
    assert n == N, f"{name} applied {n} of {N} frames"
    benchmark.extra_info["ops"] = N
    if lat:
        benchmark.extra_info["book_path_ns"] = lat
        print(f"\n{name}: compiled path latency ns {lat}")
