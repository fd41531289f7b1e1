"""A WebSocket server that writes pre-built depth-diff frames as fast as the socket takes them, then closes.

Run as a separate process (``python ws_blaster.py PORT_FILE N [CPU]``) so the client under test has a core
of its own. It speaks just enough RFC 6455 for one client: the upgrade handshake and unmasked text frames.
Frames are Binance combined-stream ``depthUpdate`` messages from depth_stream.py with contiguous U/u.
"""
import asyncio
import base64
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from depth_stream import generate  # noqa: E402

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def frames(n: int) -> list:
    s = generate()
    out = []
    last = int(s.snapshot.split(b'"lastUpdateId":')[1].split(b",")[0])
    for k in range(n):
        d = s.diffs[k % len(s.diffs)]
        head, _, tail = d.partition(b',"b":')
        first, last = last + 1, last + 3
        body = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":%d,"u":%d,"b":%s' % (first, last, tail)
        payload = b'{"stream":"btcusdt@depth@100ms","data":' + body + b"}"
        n_ = len(payload)
        hdr = bytes([0x81, n_]) if n_ < 126 else bytes([0x81, 126]) + n_.to_bytes(2, "big")
        out.append(hdr + payload)
    return out


class Blast(asyncio.Protocol):
    def __init__(self, data: list):
        self.data = data
        self.buf = b""
        self.upgraded = False
        self.paused = False
        self.i = 0

    def connection_made(self, transport):
        self.t = transport

    def data_received(self, data):
        if self.upgraded:
            return
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        key = [ln.split(b":", 1)[1].strip() for ln in self.buf.split(b"\r\n")
               if ln.lower().startswith(b"sec-websocket-key:")][0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.t.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        self.upgraded = True
        self.pump()

    def pump(self):
        while not self.paused and self.i < len(self.data):
            self.t.write(b"".join(self.data[self.i:self.i + 32]))
            self.i += 32
        if self.i >= len(self.data) and not self.paused:
            self.t.write(b"\x88\x02\x03\xe8")  # close 1000
            self.t.close()

    def pause_writing(self):
        self.paused = True

    def resume_writing(self):
        self.paused = False
        self.pump()

    def connection_lost(self, exc):
        self.i = len(self.data)


async def serve(port_file: str, n: int) -> None:
    data = frames(n)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Blast(data), "127.0.0.1", 0)  # every client gets the full blast
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    await asyncio.Event().wait()  # until the benchmark kills us


if __name__ == "__main__":
    if len(sys.argv) > 3 and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(0, {int(sys.argv[3])})
        except OSError:
            pass
    try:
        import uvloop

        uvloop.run(serve(sys.argv[1], int(sys.argv[2])))
    except ImportError:
        asyncio.run(serve(sys.argv[1], int(sys.argv[2])))
