"""A fault-injecting TCP proxy for the socket tests: 127.0.0.1 only, asyncio streams, faults switched at run time.

    async with FaultProxy(sim_port) as proxy:
        url = proxy.url(sim.ws_url)          # the same URL with the proxy's host and port
        link = proxy.links[-1]               # one accepted connection (and its upstream twin)
        link.stall(); ...; link.release()    # see Link for every fault
        proxy.accept_mode = "blackhole"      # what new connections get: forward | blackhole | close | reset
        await proxy.refuse(); await proxy.listen()   # connection refused, then accepted again (same port)

Each direction of a link is a reader task (counts what it read, arms the read-time faults) and a writer
task that forwards in order, each chunk no earlier than its due time (``delay``). A stalled link keeps
reading and holds everything, closes included, so the peer is never slowed by the proxy's own backpressure
(the simulators' clocks must keep running for the other connections) and ``release`` delivers what was
held, as a real network does when it recovers: a request written before the stall reaches the venue even
if the client has given up on the connection meanwhile.
"""
from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections import deque
from typing import Optional
from urllib.parse import urlsplit, urlunsplit

HOST = "127.0.0.1"
CHUNK = 65536
UP, DOWN = "up", "down"  # client -> server, server -> client
_EOF = b""


def _rst(writer: Optional[asyncio.StreamWriter]) -> None:
    """Close with a TCP RST (SO_LINGER on, 0 s), not a FIN."""
    if writer is None or writer.transport.is_closing():
        return
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Direction:
    """One direction of a link: chunks read and not yet forwarded, and the faults armed on it."""

    def __init__(self, name: str):
        self.name = name
        self.queue: deque = deque()  # (due loop time, bytes); _EOF marks the reader's end
        self.ready = asyncio.Event()
        self.read = 0  # bytes read from the source
        self.forwarded = 0  # bytes written to the destination
        self.chunks = 0  # chunks read
        self.truncate_next = False
        self.reset_after_next = False
        self.stall_on_next = False
        self.eof = False  # the source closed (or reset) its side
        self.done = False  # ... and that close was passed on


class Link:
    """One accepted client connection and its upstream connection.

    Faults (each may be switched at any time, on a live link):
    ``reset()`` RSTs both sides now; ``truncate(direction)`` forwards part of the next chunk that way, then
    closes both (a frame cut in the middle); ``reset_after_next(direction)`` forwards the next chunk whole,
    then RSTs both; ``stall(on_next=None)`` stops forwarding both ways without closing (``on_next=UP``: from
    the next client->server chunk on, that chunk held too) until ``release()``; ``delay(s)`` forwards each
    chunk ``s`` after it was read; ``blackhole()`` reads and forwards nothing from now on, closes included.
    """

    def __init__(self, proxy: "FaultProxy", link_id: int, client_r, client_w):
        self.proxy = proxy
        self.id = link_id
        self.path = ""  # the first request line's path ("/stream"), once the client has sent it
        self.up, self.down = _Direction(UP), _Direction(DOWN)
        self._client_r, self._client_w = client_r, client_w
        self._server_r: Optional[asyncio.StreamReader] = None
        self._server_w: Optional[asyncio.StreamWriter] = None
        self.delay_s = 0.0
        self.stalled = False
        self.stalls = 0
        self.blackholed = False
        self.resets = 0
        self.closed = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._tasks: list[asyncio.Task] = []

    def __repr__(self) -> str:
        return (f"Link#{self.id}({self.path or '?'}, up {self.up.forwarded}/{self.up.read} B, "
                f"down {self.down.forwarded}/{self.down.read} B{', stalled' if self.stalled else ''}"
                f"{', closed' if self.closed.is_set() else ''})")

    # -- faults
    def reset(self) -> None:
        self.resets += 1
        _rst(self._client_w)
        _rst(self._server_w)
        self._close()

    def truncate(self, direction: str = DOWN) -> None:
        self._dir(direction).truncate_next = True

    def reset_after_next(self, direction: str = UP) -> None:
        self._dir(direction).reset_after_next = True

    def stall(self, on_next: Optional[str] = None) -> None:
        if on_next is not None:
            self._dir(on_next).stall_on_next = True
            return
        self._begin_stall()

    def release(self) -> None:
        self.stalled = False
        self._released.set()

    def delay(self, seconds: float) -> None:
        self.delay_s = max(0.0, float(seconds))

    def blackhole(self) -> None:
        self.blackholed = True

    # -- state
    @property
    def bytes_up(self) -> int:
        return self.up.forwarded

    @property
    def bytes_down(self) -> int:
        return self.down.forwarded

    @property
    def is_open(self) -> bool:
        return not self.closed.is_set()

    def _dir(self, name: str) -> _Direction:
        if name not in (UP, DOWN):
            raise ValueError(f"direction is {UP!r} or {DOWN!r}, not {name!r}")
        return self.up if name == UP else self.down

    def _begin_stall(self) -> None:
        if not self.stalled:
            self.stalled = True
            self.stalls += 1
            self._released.clear()

    # -- running
    async def run(self, connect: bool) -> None:
        try:
            if connect:
                try:
                    self._server_r, self._server_w = await asyncio.open_connection(HOST, self.proxy.upstream_port)
                except OSError:
                    self._close()
                    return
                self._tasks = [asyncio.create_task(self._read(self._client_r, self.up)),
                               asyncio.create_task(self._read(self._server_r, self.down)),
                               asyncio.create_task(self._write(self.up, lambda: self._server_w)),
                               asyncio.create_task(self._write(self.down, lambda: self._client_w))]
            else:  # blackhole on accept: read and count, never connect anywhere
                self.blackholed = True
                self._tasks = [asyncio.create_task(self._read(self._client_r, self.up))]
            await self.closed.wait()
        finally:
            for t in self._tasks:
                t.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._close()

    async def _read(self, reader: asyncio.StreamReader, d: _Direction) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                data = await reader.read(CHUNK)
            except (ConnectionError, OSError):
                data = _EOF
            if data:
                d.read += len(data)
                d.chunks += 1
                if d is self.up and not self.path:
                    self.path = _request_path(data)
                if d.stall_on_next:
                    d.stall_on_next = False
                    self._begin_stall()
            d.queue.append((loop.time() + self.delay_s, data))
            d.ready.set()
            if not data:
                d.eof = True
                return

    async def _write(self, d: _Direction, dest) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not d.queue:
                d.ready.clear()
                await d.ready.wait()
            await self._released.wait()
            due, data = d.queue[0]
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
                continue  # a stall may have begun meanwhile
            d.queue.popleft()
            if self.blackholed:
                if not data:
                    return
                continue
            w = dest()
            if not data:
                # the source closed: pass the close on; the link ends once both ways have closed
                d.done = True
                with contextlib.suppress(OSError, RuntimeError):
                    if w.can_write_eof():
                        w.write_eof()
                if self.up.done and self.down.done:
                    self._close()
                return
            if d.truncate_next:
                d.truncate_next = False
                cut = max(1, len(data) // 2) if len(data) > 1 else 0
                w.write(data[:cut])
                d.forwarded += cut
                with contextlib.suppress(ConnectionError, OSError):
                    await w.drain()
                self._close()
                return
            w.write(data)
            d.forwarded += len(data)
            try:
                await w.drain()
            except (ConnectionError, OSError):
                pass
            if d.reset_after_next:
                d.reset_after_next = False
                self.reset()
                return

    def _close(self) -> None:
        for w in (self._client_w, self._server_w):
            if w is not None and not w.transport.is_closing():
                w.close()
        if not self.closed.is_set():
            self.closed.set()


def _request_path(first: bytes) -> str:
    """The path of an HTTP request line (``GET /stream?x HTTP/1.1`` -> ``/stream``), else ""."""
    line = first.split(b"\r\n", 1)[0].split(b" ")
    if len(line) >= 3 and line[2].startswith(b"HTTP/"):
        return line[1].split(b"?", 1)[0].decode("latin-1")
    return ""


class FaultProxy:
    """Listens on 127.0.0.1 (``port``) and forwards each connection to 127.0.0.1:``upstream_port``.

    Counters: ``accepted`` connections, ``refused`` (accepted and closed or reset by ``accept_mode``),
    ``bytes_up``/``bytes_down`` forwarded over every link. ``links`` holds every link ever accepted, in order.
    """

    ACCEPT_MODES = ("forward", "blackhole", "close", "reset")

    def __init__(self, upstream_port: int, *, port: int = 0):
        self.upstream_port = int(upstream_port)
        self.port = port
        self.accept_mode = "forward"
        self.links: list[Link] = []
        self.accepted = 0
        self.refused = 0
        self._server: Optional[asyncio.base_events.Server] = None
        self._link_tasks: set[asyncio.Task] = set()

    # -- lifecycle
    async def start(self) -> "FaultProxy":
        await self.listen()
        return self

    async def listen(self) -> None:
        """Accept connections (again, on the same port after ``refuse``)."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._accept, HOST, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Close the listening socket: a new connection is refused by the kernel (links already open stay)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        """Stop listening, close every link, and wait for every task the proxy started."""
        await self.refuse()
        for link in self.links:
            link._close()
        # each link's task ends by itself once its link is closed (a cancelled connection handler would be
        # logged as an error by asyncio's streams)
        await asyncio.gather(*self._link_tasks, return_exceptions=True)

    async def __aenter__(self) -> "FaultProxy":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    # -- what a test points a connector at
    def url(self, upstream_url: str) -> str:
        """``upstream_url`` with the proxy's host and port (scheme, path and query kept)."""
        parts = urlsplit(upstream_url)
        return urlunsplit((parts.scheme, f"{HOST}:{self.port}", parts.path, parts.query, parts.fragment))

    def open_links(self, path: Optional[str] = None) -> list[Link]:
        """Links still open (to ``path`` only, when given: the first request's path, e.g. "/stream")."""
        return [k for k in self.links if k.is_open and (path is None or k.path == path)]

    @property
    def bytes_up(self) -> int:
        return sum(k.bytes_up for k in self.links)

    @property
    def bytes_down(self) -> int:
        return sum(k.bytes_down for k in self.links)

    # -- internals
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        mode = self.accept_mode
        if mode not in self.ACCEPT_MODES:
            raise ValueError(f"accept_mode is one of {self.ACCEPT_MODES}, not {mode!r}")
        if mode in ("close", "reset"):
            self.refused += 1
            _rst(writer) if mode == "reset" else writer.close()
            return
        link = Link(self, len(self.links) + 1, reader, writer)
        self.links.append(link)
        task = asyncio.current_task()
        self._link_tasks.add(task)
        try:
            await link.run(connect=mode == "forward")
        finally:
            self._link_tasks.discard(task)

