"""A virtual clock for the backtest: an asyncio event loop whose time jumps to the next due timer.

``VirtualTimeLoop.time()`` is virtual seconds since the loop was made (0.0). The loop never waits for
I/O: where a real loop would block in its selector until the next timer, this one advances its clock to
that timer at once, so ``asyncio.sleep``, ``call_at`` and every timer in the engine (the strategy's timer,
order latencies, reconciliation back-off) run in virtual time, in a deterministic order, as fast as the CPU
goes. A loop with nothing scheduled and nothing ready would wait forever: that is raised as a
``RuntimeError`` (a backtest deadlock), never a hang. Sockets, threads and signals are not available on it.
"""
from __future__ import annotations

import asyncio
import selectors


class _NoWaitSelector(selectors.BaseSelector):
    """A selector with no file descriptors of its own that 'waits' by moving the loop's clock."""

    def __init__(self) -> None:
        self._map: dict = {}
        self.loop: "VirtualTimeLoop | None" = None

    def register(self, fileobj, events, data=None):
        key = selectors.SelectorKey(fileobj, fileobj if isinstance(fileobj, int) else fileobj.fileno(),
                                    events, data)
        self._map[fileobj] = key
        return key

    def unregister(self, fileobj):
        return self._map.pop(fileobj)

    def modify(self, fileobj, events, data=None):
        self.unregister(fileobj)
        return self.register(fileobj, events, data)

    def select(self, timeout=None):
        if timeout is None:
            raise RuntimeError("backtest deadlock: nothing is scheduled and nothing is ready on the virtual clock")
        if timeout > 0 and self.loop is not None:
            self.loop.advance(timeout)
        return []

    def close(self) -> None:
        self._map.clear()

    def get_map(self):
        return self._map


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        sel = _NoWaitSelector()
        self._now = 0.0
        super().__init__(sel)
        sel.loop = self

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds


class VirtualClock:
    """Integer virtual nanoseconds on a ``VirtualTimeLoop``: ``base_ns`` is the loop's time 0.

    ``now_ns`` never goes back and is at least the last time ``reach`` was told (the loop's float seconds
    can sit a nanosecond short of a timer's exact time when it fires; the runner and the venue say which
    exact time each callback is for).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, base_ns: int):
        self.loop = loop
        self.base_ns = base_ns
        self.floor = base_ns

    def now_ns(self) -> int:
        d = self.base_ns + round(self.loop.time() * 1e9)
        if d > self.floor:
            self.floor = d
        return self.floor

    def reach(self, t_ns: int) -> None:
        if t_ns > self.floor:
            self.floor = t_ns

    def loop_time(self, t_ns: int) -> float:
        return (t_ns - self.base_ns) / 1e9

    async def sleep_until(self, t_ns: int) -> None:
        if t_ns > self.now_ns():
            fut = self.loop.create_future()
            self.loop.call_at(self.loop_time(t_ns), fut.set_result, None)
            await fut
        self.reach(t_ns)
