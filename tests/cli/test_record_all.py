"""engine record (the real CLI, in a subprocess, against the embedded simulators) covers both venues at once:
every channel the engine consumes (Binance depth diffs, snapshots, aggTrade; Lighter order_book and trade),
each frame line with the exchange's timestamp and the local receive time in ns; rotation makes several
numbered files, each loadable alone; a replay of a Lighter recording rebuilds the recorded final book."""
import gzip
import json
import os
import re
import subprocess
import sys
from decimal import Decimal

SYMBOLS = "BTC-USDT,ETH-USDT"


def run(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def lines(path):
    return [json.loads(x) for x in gzip.open(path, "rt")]


def record(tmp_path, *extra, duration="4"):
    out = run("record", "--duration", duration, "--out", str(tmp_path / "s.jsonl.gz"), "--symbols", SYMBOLS, *extra)
    assert out.returncode == 0, out.stderr
    return {r["venue"]: r for r in map(json.loads, out.stdout.strip().splitlines())}


def final_lighter_book(path, market_id):
    """The book the recorded frames leave: seed on subscribed/order_book, apply each update (size 0 removes)."""
    book = None
    for x in lines(path):
        if "conn" not in x:
            continue
        msg = json.loads(x["raw"])
        if msg.get("channel") != f"order_book:{market_id}":
            continue
        if msg["type"] == "subscribed/order_book":
            book = {"bids": {}, "asks": {}}
        for side in ("bids", "asks"):
            for lv in msg["order_book"][side]:
                if Decimal(lv["size"]) == 0:
                    book[side].pop(Decimal(lv["price"]), None)
                else:
                    book[side][Decimal(lv["price"])] = Decimal(lv["size"])
        nonce = msg["order_book"]["nonce"]
    return book, nonce


def as_book(row):
    return {side: {Decimal(p): Decimal(q) for p, q in row["book"][side]} for side in ("bids", "asks")}


def test_record_both_venues_every_channel_with_both_timestamps(tmp_path):
    rows = record(tmp_path, "--venue", "all")
    assert set(rows) == {"binance", "lighter"}
    assert rows["binance"]["path"].endswith("s.binance.jsonl.gz") and rows["lighter"]["path"].endswith(
        "s.lighter.jsonl.gz")
    b = lines(rows["binance"]["path"])
    assert b[0].get("exchange_info") is True
    assert {x["snapshot"] for x in b if "snapshot" in x} == {"BTCUSDT", "ETHUSDT"}
    kinds = {}
    for x in b:
        if "conn" in x and x["raw"].startswith('{"stream":'):
            data = json.loads(x["raw"])["data"]
            kinds.setdefault(data["e"], []).append(x)
            assert x["exch_ns"] == data["E"] * 1_000_000  # the exchange's event time, in ns
            assert x["recv_ns"] > 0 and x["mono_ns"] > 0
    assert len(kinds.get("depthUpdate", ())) > 5 and kinds.get("aggTrade")
    li = lines(rows["lighter"]["path"])
    details = json.loads(li[0]["raw"])
    assert li[0].get("exchange_info") is True and details["order_book_details"]
    types = {}
    for x in li:
        if "conn" not in x:
            continue
        msg = json.loads(x["raw"])
        if "channel" in msg:
            types.setdefault(msg["type"], []).append((x, msg))
    for kind in ("subscribed/order_book", "update/order_book", "subscribed/trade"):
        assert types.get(kind), f"no {kind} frame recorded"
    for x, msg in types["update/order_book"] + types["subscribed/order_book"]:
        assert x["exch_ns"] == msg["timestamp"] * 1_000_000 and x["recv_ns"] > 0
    for x, msg in types.get("update/trade", []) + types["subscribed/trade"]:
        if msg["trades"]:
            assert x["exch_ns"] == max(t["timestamp"] for t in msg["trades"]) * 1_000_000


def test_rotation_makes_numbered_files_each_replayable_alone(tmp_path):
    rows = record(tmp_path, "--venue", "all", "--rotate-s", "1.5", duration="5")
    for venue, row in rows.items():
        files = row["files"]
        assert len(files) >= 3, files
        assert [f[-len(".0000.jsonl.gz"):-len(".jsonl.gz")] for f in files] == \
            [f".{n:04d}" for n in range(len(files))]
        for f in files[1:3]:  # a later file: headers and its own seeds, no earlier file needed
            head = lines(f)[0]
            assert head.get("exchange_info") is True
            out = run("replay", f, "--json", "--venue", venue, timeout=90)
            assert out.returncode == 0, (venue, f, out.stderr)
            replayed = [json.loads(x) for x in out.stdout.strip().splitlines()]
            assert len(replayed) == 2 and all(r["state"] == "live" and r["gaps"] == 0 for r in replayed), replayed


def test_replay_of_a_lighter_recording_rebuilds_the_recorded_final_book(tmp_path):
    rows = record(tmp_path, "--venue", "lighter")
    path = rows["lighter"]["path"]
    assert path == str(tmp_path / "s.jsonl.gz")  # one venue: the file --out names
    out = run("replay", path, "--json", timeout=90)  # the venue is found from the recording
    assert out.returncode == 0, out.stderr
    replayed = {r["symbol"]: r for r in map(json.loads, out.stdout.strip().splitlines())}
    ids = {r["symbol"]: r["market_id"] for r in json.loads(lines(path)[0]["raw"])["order_book_details"]}
    assert set(replayed) == {"BTC", "ETH"}
    for sym, row in replayed.items():
        book, nonce = final_lighter_book(path, ids[sym])
        assert row["state"] == "live" and row["gaps"] == 0
        assert row["last_update_id"] == nonce
        assert as_book(row) == book


async def test_the_users_own_orders_and_fills_are_recorded(tmp_path):
    """record_account (what engine record --account wires) writes each OrderUpdate of the user's stream as an
    event line: a resting order as "order", a taker fill as "fill", both with exch_ns and recv_ns."""
    import contextlib

    from engine import app
    from engine.connectors.factory import ConnectorFactory
    from engine.record import FrameRecorder
    from tests.helpers import wait_for

    path = str(tmp_path / "acct.jsonl.gz")
    async with contextlib.AsyncExitStack() as stack:
        conn, _ = await ConnectorFactory.open_simulated("binance", stack)
        await conn.connect()
        stack.push_async_callback(conn.disconnect)
        rec = FrameRecorder(path)
        stack.callback(rec.close)
        await app.record_account(stack, "binance", conn, rec)
        await conn.create_order("BTC-USDT", "buy", "limit", "0.001", "30000")
        await conn.create_order("BTC-USDT", "buy", "market", "0.001")
        await wait_for(lambda: rec.kinds.get("order") and rec.kinds.get("fill"), timeout=15)
    events = [x for x in lines(path) if "event" in x]
    kinds = {x["event"] for x in events}
    assert kinds == {"order", "fill"}, events
    for x in events:
        body = json.loads(x["raw"])
        assert x["recv_ns"] > 0 and x["exch_ns"] == body["timestamp_ms"] * 1_000_000
    fill = next(json.loads(x["raw"]) for x in events if x["event"] == "fill")
    assert Decimal(fill["last_fill_quantity"]) > 0 and fill["side"] == "buy"


def _record_stderr_on_a_terminal(tmp_path):
    """engine record's stderr when it is a terminal (a pty), as text."""
    import pty

    master, slave = pty.openpty()
    try:
        out = subprocess.run([sys.executable, "-m", "engine", "record", "--venue", "binance", "--duration", "2.5",
                              "--out", str(tmp_path / "p.jsonl.gz"), "--symbols", SYMBOLS],
                             stdout=subprocess.PIPE, stderr=slave, timeout=90, env=dict(os.environ))
        os.close(slave)
        slave = None
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the pty's other side is closed: everything is read
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    return out, b"".join(chunks).decode(errors="replace")


def test_a_progress_line_on_a_terminal_only(tmp_path):
    out, err = _record_stderr_on_a_terminal(tmp_path)
    assert out.returncode == 0, err
    assert re.search(r"\rrecord: [1-9]\d* frames, \d+\.\d\d MB, \d+ frames/s", err), err
    piped = run("record", "--venue", "binance", "--duration", "1.5", "--out", str(tmp_path / "q.jsonl.gz"),
                "--symbols", SYMBOLS)
    assert piped.returncode == 0 and "frames/s" not in piped.stderr


async def test_lighter_recording_goes_on_after_a_reconnect(tmp_path):
    """A lost socket is replaced by a new listener: the recorder is set on it too, so the fresh snapshot and
    the updates after it are in the file."""
    import contextlib

    from engine.connectors.factory import ConnectorFactory
    from engine.record import FrameRecorder
    from tests.helpers import wait_for

    path = str(tmp_path / "l.jsonl.gz")
    recorder, _ = ConnectorFactory.recorder("lighter")
    async with contextlib.AsyncExitStack() as stack:
        conn, _ = await ConnectorFactory.open_simulated("lighter", stack)
        await conn.connect()
        stack.push_async_callback(conn.disconnect)
        rec = FrameRecorder(path)
        stack.callback(rec.close)
        await recorder.attach(conn, rec)
        await conn.add_book("ETH-USDT")
        await wait_for(lambda: rec.frames > 5, timeout=15)
        before = rec.frames
        conn.market.transport.disconnect()  # the socket is lost; the market-data layer reconnects
        await wait_for(lambda: conn.market.disconnects >= 1 and rec.frames > before + 10, timeout=20)
    subscribed = [x for x in lines(path) if "conn" in x and '"type":"subscribed/order_book"' in x["raw"]]
    assert len(subscribed) >= 2  # the first connection's snapshot and the new one's


def test_size_rotation_numbers_files_and_starts_each_with_the_headers(tmp_path):
    from engine.record import FrameRecorder

    rec = FrameRecorder(str(tmp_path / "z.jsonl.gz"), rotate_bytes=400)
    rec.exchange_info(b'{"symbols":[]}')
    rec.on_rotate = lambda r: r.seed_frame("x", b'{"seed":1}')
    write = rec.frame_writer("x", exch_ts=lambda raw: 7)
    for n in range(20):
        write(b'{"n":%d,"pad":"%s"}' % (n, b"p" * 60))
    rec.close()
    assert len(rec.files) >= 4 and rec.files[0].endswith("z.0000.jsonl.gz")
    seen = []
    for i, f in enumerate(rec.files):
        got = lines(f)
        assert got[0]["exchange_info"] is True
        if i:
            assert got[1]["seed"] is True and got[1]["raw"] == '{"seed":1}'
        frames = [x for x in got if "conn" in x and not x.get("seed")]
        assert all(x["exch_ns"] == 7 for x in frames)
        seen += [json.loads(x["raw"])["n"] for x in frames]
    assert seen == list(range(20))  # nothing lost or repeated across files
