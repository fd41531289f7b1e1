"""Real captured sessions (tests/data/binance) as the tests need them."""
import json
import pathlib


DATA = pathlib.Path(__file__).parents[1] / "data" / "binance"
SPOT = DATA / "spot" / "session_2021-10-12_cryptofeed"
FUT = DATA / "futures_usdm" / "session_2021-07-22_cryptofeed"
SPOT_SYMBOLS = ["NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR"]
FUT_SYMBOLS = ["SUSHIUSDT", "AKROUSDT", "CTKUSDT", "KEEPUSDT"]


def frames(path: pathlib.Path) -> list[bytes]:
    """One raw frame per line (the ws_depth_*.jsonl files hold the frame text itself)."""
    return [line.strip().encode() for line in path.read_text().splitlines() if line.strip()]


def session(futures: bool, symbol: str):
    base = FUT if futures else SPOT
    return (base / f"rest_depth_snapshot_{symbol}.json").read_bytes(), frames(base / f"ws_depth_{symbol}.jsonl")


def session_frames(futures: bool) -> list[bytes]:
    base = FUT if futures else SPOT
    return [json.loads(line)["raw"].encode() for line in (base / "ws_session.jsonl").read_text().splitlines()
            if line.strip()]


def timed_session(futures: bool, symbol: str):
    """(snapshot body, frames received before it, frames received after it), by the recorder's clock."""
    base = FUT if futures else SPOT
    meta = json.loads((base / "session_meta.json").read_text())
    snap_ts = float(next(s["recv_ts"] for s in meta["snapshots"] if s["symbol"] == symbol))
    stream = f'"{symbol.lower()}@depth@100ms"'
    before, after = [], []
    for line in (base / "ws_session.jsonl").read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        if stream in rec["raw"][:40]:
            (before if float(rec["recv_ts"]) < snap_ts else after).append(rec["raw"].encode())
    return (base / f"rest_depth_snapshot_{symbol}.json").read_bytes(), before, after

