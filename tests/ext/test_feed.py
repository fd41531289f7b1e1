"""aggTrade frames decode exactly; bad input raises FrameError."""
import json
import pathlib

import pytest

from engine.errors import FrameError
from engine.feed import decode_agg_trade

DATA = pathlib.Path(__file__).parents[1] / "data" / "binance"


def lines(path):
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            rec = json.loads(line)
            out.append(rec["raw"].encode() if "raw" in rec else line.strip().encode())
    return out


FILES = ["spot/ws_aggTrade_2021-10-12_cryptofeed.jsonl", "spot/ws_aggTrade_binance_us_2021-10-12_cryptofeed.jsonl",
         "futures_usdm/ws_aggTrade_2021-07-22_cryptofeed.jsonl"]
FRAMES = [f for name in FILES for f in lines(DATA / name)]


@pytest.mark.parametrize("raw", FRAMES, ids=range(len(FRAMES)))
def test_real_frames_decode_to_the_json_values(raw):
    msg = json.loads(raw)
    d = msg.get("data", msg)
    t = decode_agg_trade(raw)
    assert (t.symbol, t.agg_id, t.first_id, t.last_id, t.trade_time, t.event_time) == (
        d["s"], d["a"], d["f"], d["l"], d["T"], d["E"])
    assert (t.price_str, t.qty_str) == (d["p"], d["q"])
    assert t.price == float(d["p"]) and t.size == t.qty == float(d["q"])
    assert t.buyer_is_maker is d["m"]
    assert t.side == ("sell" if d["m"] else "buy")


def test_pretty_printed_wrapped_frame_with_extra_keys():
    raw = (DATA / "spot/nautilus_trader/ws_aggTrade_ETHUSDT.json").read_bytes()
    t = decode_agg_trade(raw)
    assert (t.symbol, t.price_str, t.qty_str, t.price_scaled, t.qty_scaled) == (
        "ETHUSDT", "1632.46000000", "0.34305000", 163246000000, 34305000)
    assert "ETHUSDT" in repr(t) and "buy" in repr(t)


GOOD = (b'{"e":"aggTrade","E":1,"s":"NKNUSDT","a":2,"p":"0.35280000","q":"58.00000000","f":3,"l":4,'
        b'"T":5,"m":true,"M":true}')


@pytest.mark.parametrize("raw", [
    b"", GOOD[:-2], b"nope", GOOD.replace(b"aggTrade", b"trade"), GOOD.replace(b'"m":true', b'"m":1'),
    GOOD.replace(b'"p":"0.35280000"', b'"p":0.3528'), GOOD.replace(b'"a":2,', b""),
    GOOD.replace(b'"0.35280000"', b'"-0.35280000"'), GOOD.replace(b'"0.35280000"', b'"NaN"'),
    GOOD.replace(b'"0.35280000"', b'"0.352800001"'), GOOD + b"]", b"{" * 1000, bytes(range(256)) * 4096,
])
def test_bad_frames_raise_frame_error(raw):
    with pytest.raises(FrameError, match="aggTrade"):
        decode_agg_trade(raw)


def test_taker_side_follows_buyer_is_maker():
    assert decode_agg_trade(GOOD).side == "sell"
    assert decode_agg_trade(GOOD.replace(b'"m":true', b'"m":false')).side == "buy"
