"""Lighter replay mode: serve a recording (``engine record --venue lighter``) on the simulator's ``/stream``.

A recording is a (gzip) JSONL file of ``{"recv_ns": ..., "raw": "<frame>"}`` lines (``engine/record.py``), with
one ``exchange_info`` line holding the recorded ``/api/v1/orderBookDetails`` body. Its frames are grouped by
their ``channel`` (``order_book:<id>``, ``trade:<id>``); a client that subscribes ``order_book/<id>`` or
``trade/<id>`` gets that channel's recorded frames from its first ``subscribed/...`` frame on, in order, as
fast as the socket takes them or paced by the recorded receive times. The socket speaks as the live
``/stream`` does (stream.py): ``connected`` first, ``ping`` -> ``pong``, ``unsubscribed`` acknowledged,
30003 for a second subscribe, 30005 for a channel the recording does not hold. Nothing else is served on it
(no account channels, no transactions: 30001). The market data REST routes keep serving the simulator's own
markets, so a recording taken from the simulator replays with the markets it was recorded with.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import uuid
from dataclasses import dataclass, field
from typing import Optional

from aiohttp import WSMsgType, web


@dataclass
class Session:
    frames: dict = field(default_factory=dict)  # channel ("order_book:1") -> [(recv seconds, raw bytes)]
    markets: dict = field(default_factory=dict)  # market id (str) -> symbol, from the recorded market list
    seeded: set = field(default_factory=set)  # market ids (str) with a subscribed/order_book frame
    exchange_info: Optional[dict] = None
    count: int = 0  # frames kept


def load_session(path: str) -> Session:
    """Read a recording; ``ValueError``/``KeyError``/``TypeError`` for lines that are not recorded frames."""
    s = Session()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            rec = json.loads(line)
            raw = rec["raw"]
            if rec.get("exchange_info"):
                s.exchange_info = json.loads(raw)
                for row in s.exchange_info.get("order_book_details", ()):
                    s.markets[str(row["market_id"])] = str(row["symbol"])
                continue
            if "event" in rec or "snapshot" in rec:
                continue
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(msg, dict) or not isinstance(msg.get("channel"), str):
                continue  # control frames: connected, ping, acknowledgements
            ch, kind = msg["channel"], str(msg.get("type", ""))
            frames = s.frames.get(ch)
            if frames is None:
                if not kind.startswith("subscribed/"):
                    continue  # a channel is served from its first snapshot on
                frames = s.frames[ch] = []
                if ch.startswith("order_book:"):
                    s.seeded.add(ch.partition(":")[2])
            frames.append((int(rec["recv_ns"]) / 1e9, raw.encode()))
            s.count += 1
    return s


def _dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


class ReplayStream:
    """Drop-in for the live ``LighterStream`` (handler, publish, close_all) serving a session."""

    def __init__(self, session: Session, pace: str = "fast", speed: float = 1.0):
        if pace not in ("fast", "recorded"):
            raise ValueError("replay_pace must be 'fast' or 'recorded'")
        if not speed > 0:
            raise ValueError("replay_speed must be > 0")
        self.session, self.pace, self.speed = session, pace, speed
        self.sockets: set = set()
        self.sent = 0

    async def publish(self) -> None:  # the live clock's tick: nothing to publish in a replay
        pass

    async def close_all(self) -> int:
        n = 0
        for ws in list(self.sockets):
            await ws.close(code=1001, message=b"closed by the simulator")
            n += 1
        return n

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        playing: dict = {}  # channel -> task
        await ws.send_str(_dumps({"session_id": str(uuid.uuid4()), "type": "connected"}))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_message(ws, playing, msg.data)
        finally:
            self.sockets.discard(ws)
            for t in playing.values():
                t.cancel()
        return ws

    async def _on_message(self, ws, playing: dict, data: str) -> None:
        try:
            m = json.loads(data)
            kind, channel = m.get("type"), str(m.get("channel", ""))
        except (ValueError, AttributeError):
            await ws.send_str(_dumps({"error": {"code": 30000, "message": "Invalid JSON"}}))
            return
        if kind == "ping":
            await ws.send_str(_dumps({"type": "pong"}))
            return
        if kind == "pong":
            return
        if kind not in ("subscribe", "unsubscribe"):
            await ws.send_str(_dumps({"error": {"code": 30001, "message": "Invalid Type"}}))
            return
        name, _, arg = channel.partition("/")
        wire = f"{name}:{arg}"
        if wire not in self.session.frames:
            await ws.send_str(_dumps({"error": {"code": 30005, "message": "Invalid Channel:  (marketId)"}}))
            return
        if kind == "unsubscribe":
            task = playing.pop(wire, None)
            if task is not None:
                task.cancel()
            await ws.send_str(json.dumps({"type": "unsubscribed", "channel": wire}))
            return
        if wire in playing:
            await ws.send_str(_dumps({"error": {"code": 30003, "message": f"Already Subscribed to : {wire}"}}))
            return
        playing[wire] = asyncio.get_running_loop().create_task(self._play(ws, self.session.frames[wire]))

    async def _play(self, ws, frames: list) -> None:
        loop = asyncio.get_running_loop()
        start, t0 = loop.time(), frames[0][0] if frames else 0.0
        for n, (t, raw) in enumerate(frames):
            if ws.closed:
                return
            if self.pace == "recorded":
                delay = start + (t - t0) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % 64 == 0:
                await asyncio.sleep(0)  # let the client breathe
            try:
                await ws.send_str(raw.decode())
            except ConnectionResetError:
                return
            self.sent += 1
