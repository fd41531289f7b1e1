"""Replay mode: serve a recorded session through the same protocol (streams, depth snapshots, exchangeInfo).

A session is either a directory shaped like the captured fixtures (``ws_session.jsonl`` with
``{"recv_ts": "<epoch s>", "raw": "<frame>"}`` lines, ``rest_depth_snapshot_<SYMBOL>.json``, optionally
``rest_exchangeInfo*.json``) or a (gzip) JSONL file of recorded frames ``{"recv_ns": ..., "raw": "..."}`` (other fields, such as
``exch_ns``, are not read; ``event`` lines are skipped).
Each client connection gets the recorded frames of the streams it asked for, in order, either as fast as
the socket takes them or paced by the recorded receive times. Connections are routed as in the live mode
(``streams.py``): ``/ws``, ``/ws/<names>`` (a name that is not a stream, such as ccxt.pro's ``/ws/0``, opens
nothing for it) and ``/stream?streams=``, filled or emptied by SUBSCRIBE / UNSUBSCRIBE; ``/ws`` connections get
raw payloads, ``/stream`` ones combined frames (``SET_PROPERTY combined`` switches).
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
    stream_names: set = field(default_factory=set)  # every stream name the frames carry


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
        if "event" in rec:  # the user's own order/fill events (engine/record.py): not market frames
            continue
        t = float(rec["recv_ns"]) / 1e9 if "recv_ns" in rec else float(rec.get("recv_ts", 0))
        stream = None
        if raw.startswith('{"stream":"'):
            stream = raw[11:raw.index('"', 11)]
            s.stream_names.add(stream)
        s.frames.append((t, stream, raw.encode()))
    return s


def _read_lines(path: str) -> list:
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _is_stream_name(name: str, session: Session) -> bool:
    """A market stream name (``btcusdt@depth@100ms``, ``!miniTicker@arr``) or one the recording holds; ccxt.pro's
    ``0`` in ``/ws/0`` or a listen key is not."""
    return "@" in name or name in session.stream_names


def _raw_payload(stream: str, raw: bytes) -> bytes:
    """The payload of a recorded combined frame ``{"stream":"<name>","data":<payload>}``, as a raw ``/ws``
    connection receives it on the venue."""
    head = b'{"stream":"' + stream.encode() + b'","data":'
    if raw.startswith(head) and raw.endswith(b"}"):
        return raw[len(head):-1]
    try:
        msg = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(msg, dict) and "data" in msg:
        return json.dumps(msg["data"], separators=(",", ":")).encode()
    return raw


class ReplayConn(WSListener):
    """One client connection. ``/ws/<names>`` and ``/stream?streams=`` name its first streams; a name that is not
    a stream (ccxt.pro's ``/ws/0``) or none at all opens a bare connection that SUBSCRIBE fills, as in the live
    mode. Frames go out as the live mode sends them: raw payloads on ``/ws``, ``{"stream","data"}`` on
    ``/stream`` (or as ``SET_PROPERTY combined`` says); frames recorded without a stream name go out once, with
    the playback of the streams named in the URL."""

    def __init__(self, server: "ReplayStreams", streams: list, combined: bool = True):
        super().__init__()
        self.server = server
        self.streams = list(dict.fromkeys(streams))
        self.combined = combined
        self.transport = None
        self.tasks: list = []

    def on_ws_connected(self, transport):
        self.transport = transport
        self.server.conns.add(self)
        if self.streams:
            self._play(set(self.streams), with_unnamed=True)

    def on_ws_disconnected(self, transport):
        self.server.conns.discard(self)
        for t in self.tasks:
            t.cancel()

    def _play(self, streams: set, with_unnamed: bool = False) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(self.server.play(self, streams, with_unnamed)))

    def send_frame(self, stream: Optional[str], raw: bytes) -> None:
        if stream is not None and not self.combined:
            raw = _raw_payload(stream, raw)
        self.transport.send(WSMsgType.TEXT, raw)

    def _reply(self, body: dict) -> None:
        self.transport.send(WSMsgType.TEXT, json.dumps(body).encode())

    def on_ws_frame(self, transport, frame):
        if frame.msg_type == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
        elif frame.msg_type == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif frame.msg_type == WSMsgType.TEXT:
            self.on_control(frame.get_payload_as_bytes())

    def on_control(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self._reply({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"})
            return
        if not isinstance(msg, dict):
            self._reply({"code": 3, "msg": "Invalid JSON: expected an object"})
            return
        mid, method, params = msg.get("id"), msg.get("method"), msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self._reply({"code": 2, "msg": "Invalid request: invalid params", "id": mid})
                return
            bad = [p for p in params if not _is_stream_name(p, self.server.session)]
            if bad:
                self._reply({"code": 2, "msg": f"Invalid request: unknown stream {bad[0]!r}", "id": mid})
                return
            if method == "SUBSCRIBE":
                new = [p for p in dict.fromkeys(params) if p not in self.streams]
                self.streams.extend(new)
                if new:  # a late subscriber gets its streams from the start of the recording
                    self._play(set(new))
            else:
                self.streams = [x for x in self.streams if x not in params]
            self._reply({"result": None, "id": mid})
        elif method == "LIST_SUBSCRIPTIONS":
            self._reply({"result": self.streams, "id": mid})
        elif method == "SET_PROPERTY" and isinstance(params, list) and params and params[0] == "combined":
            if len(params) < 2 or not isinstance(params[1], bool):
                self._reply({"code": 1, "msg": "Invalid value type: expected Boolean", "id": mid})
                return
            self.combined = params[1]
            self._reply({"result": None, "id": mid})
        elif method == "GET_PROPERTY" and params == ["combined"]:
            self._reply({"result": self.combined, "id": mid})
        else:
            self._reply({"code": 2, "msg": f"Invalid request: unknown variant {method!r}", "id": mid})


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
        if parts.path in ("/stream", "/stream/"):
            names = [s for s in parse_qs(parts.query).get("streams", [""])[0].split("/") if s]
            combined = True
        elif parts.path == "/ws" or parts.path.startswith("/ws/"):
            names = [s for s in parts.path[4:].split("/") if s]
            combined = False
        else:
            return None
        return ReplayConn(self, [n for n in names if _is_stream_name(n, self.session)], combined)

    async def play(self, conn: ReplayConn, streams: set, with_unnamed: bool = False) -> None:
        # a client subscribes first and buffers while it fetches the snapshot, as it would live
        await asyncio.sleep(self.start_delay_s)
        t0 = None
        loop = asyncio.get_running_loop()
        start = loop.time()
        for n, (t, stream, raw) in enumerate(self.session.frames):
            if stream is None:
                if not with_unnamed:
                    continue
            elif stream not in streams or stream not in conn.streams:
                continue
            if self.pace == "recorded":
                t0 = t if t0 is None else t0
                delay = start + (t - t0) / self.speed - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif n % 64 == 0:
                await asyncio.sleep(0)  # let the client breathe
            conn.send_frame(stream, raw)
            self.sent += 1
