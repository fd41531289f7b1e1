"""Replay mode: serve a recorded session through the same protocol (streams, depth snapshots, exchangeInfo).

A session is either a directory shaped like the captured fixtures (``ws_session.jsonl`` with
``{"recv_ts": "<epoch s>", "raw": "<frame>"}`` lines, ``rest_depth_snapshot_<SYMBOL>.json``, optionally
``rest_exchangeInfo*.json``) or a (gzip) JSONL file of recorded frames ``{"recv_ns": ..., "raw": "..."}``.
Each client connection gets the recorded frames of the streams it asked for, in order, either as fast as
the socket takes them or paced by the recorded receive times.
"""
from __future__ import annotations

import asyncio
import glob
import gzip
import json
import os
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from picows import WSCloseCode, WSListener, WSMsgType, ws_create_server


@dataclass
class Session:
    frames: list = field(default_factory=list)  # (recv_seconds, stream name or None, raw bytes)
    snapshots: dict = field(default_factory=dict)  # SYMBOL -> raw REST /depth body
    exchange_info: Optional[dict] = None


def load_session(path: str) -> Session:
    s = Session()
    if os.path.isdir(path):
        lines = _read_lines(os.path.join(path, "ws_session.jsonl"))
        for f in glob.glob(os.path.join(path, "rest_depth_snapshot_*.json")):
            sym = os.path.basename(f)[len("rest_depth_snapshot_"):-len(".json")]
            with open(f, "rb") as fh:
                s.snapshots[sym.upper()] = fh.read()
        info = sorted(glob.glob(os.path.join(path, "rest_exchangeInfo*.json")))
        if info:
            with open(info[0]) as fh:
                s.exchange_info = json.load(fh)
    else:
        lines = _read_lines(path)
    for rec in lines:
        raw = rec["raw"]
        if "snapshot" in rec:  # a REST depth body recorded by engine.record
            s.snapshots[rec["snapshot"].upper()] = raw.encode()
            continue
        if "exchange_info" in rec:
            s.exchange_info = json.loads(raw)
            continue
        t = float(rec["recv_ns"]) / 1e9 if "recv_ns" in rec else float(rec.get("recv_ts", 0))
        stream = None
        if raw.startswith('{"stream":"'):
            stream = raw[11:raw.index('"', 11)]
        s.frames.append((t, stream, raw.encode()))
    return s


def _read_lines(path: str) -> list:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class ReplayConn(WSListener):
    def __init__(self, server: "ReplayStreams", streams: list):
        super().__init__()
        self.server = server
        self.streams = set(streams)
        self.transport = None
        self.tasks: list = []

    def on_ws_connected(self, transport):
        self.transport = transport
        self.tasks = [asyncio.get_running_loop().create_task(self.server.play(self, set(self.streams)))]

    def on_ws_disconnected(self, transport):
        for t in self.tasks:
            t.cancel()

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.TEXT:
            try:
                msg = json.loads(frame.get_payload_as_bytes())
            except ValueError:
                transport.send(WSMsgType.TEXT, b'{"code":3,"msg":"Invalid JSON"}')
                return
            if msg.get("method") == "SUBSCRIBE":
                new = set(msg.get("params") or []) - self.streams
                self.streams.update(new)
                if new:  # a late subscriber gets its streams from the start of the recording
                    self.tasks.append(asyncio.get_running_loop().create_task(self.server.play(self, new)))
            elif msg.get("method") == "UNSUBSCRIBE":
                self.streams.difference_update(msg.get("params") or [])
            result = sorted(self.streams) if msg.get("method") == "LIST_SUBSCRIPTIONS" else None
            transport.send(WSMsgType.TEXT, json.dumps({"result": result, "id": msg.get("id")}).encode())


class ReplayStreams:
    """Drop-in for the live StreamServer: same start/stop/publish surface, frames from a session."""

    def __init__(self, session: Session, pace: str = "fast", speed: float = 1.0, start_delay_s: float = 0.2):
        if pace not in ("fast", "recorded"):
            raise ValueError("pace must be 'fast' or 'recorded'")
        self.session = session
        self.pace = pace
        self.speed = speed
        self.start_delay_s = start_delay_s
        self.server = None
        self.port = 0
        self.conns: set = set()
        self.sent = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = await ws_create_server(self._factory, host, port, enable_auto_pong=False)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for c in list(self.conns):
            if c.transport is not None:
                c.transport.send_close(WSCloseCode.GOING_AWAY, b"replay stopping")
                c.transport.disconnect()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def publish(self) -> None:  # the live market's tick: nothing to do in a replay
        pass

    def _factory(self, request):
        path = request.path if isinstance(request.path, str) else request.path.decode()
        parts = urlsplit(path)
        if parts.path == "/stream":
            streams = [s for s in parse_qs(parts.query).get("streams", [""])[0].split("/") if s]
        elif parts.path.startswith("/ws/"):
            streams = [s for s in parts.path[4:].split("/") if s]
        else:
            return None
        return ReplayConn(self, streams)

    async def play(self, conn: ReplayConn, streams: set) -> None:
        self.conns.add(conn)
        try:
            # a client subscribes first and buffers while it fetches the snapshot, as it would live
            await asyncio.sleep(self.start_delay_s)
            t0 = None
            loop = asyncio.get_running_loop()
            start = loop.time()
            for n, (t, stream, raw) in enumerate(self.session.frames):
                if stream is not None and (stream not in streams or stream not in conn.streams):
                    continue
                if stream is None and streams != conn.streams:
                    continue  # un-named frames go out once, with the connection's first playback
                if self.pace == "recorded":
                    t0 = t if t0 is None else t0
                    delay = start + (t - t0) / self.speed - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif n % 64 == 0:
                    await asyncio.sleep(0)  # let the client breathe
                conn.transport.send(WSMsgType.TEXT, raw)
                self.sent += 1
        finally:
            self.conns.discard(conn)
