"""engine record writes raw frames + snapshots; engine replay serves them back through the simulator into
the engine, ending on the recorded books."""
import gzip
import json
import os
import subprocess
import sys


def run(*args, timeout=90):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def test_record_then_replay(tmp_path):
    path = str(tmp_path / "session.jsonl.gz")
    out = run("record", "--venue", "binance", "--duration", "3", "--out", path, "--symbols", "BTC-USDT,ETH-USDT")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["frames"] > 10 and summary["snapshots"] == 2
    lines = [json.loads(x) for x in gzip.open(path, "rt")]
    frames = [x for x in lines if "conn" in x]
    assert all(x["recv_ns"] > 0 for x in frames)
    frames = [x for x in frames if x["raw"].startswith('{"stream":')]  # besides control replies (SUBSCRIBE acks)
    assert len(frames) > 10
    last_u = {}
    for x in frames:
        data = json.loads(x["raw"])["data"]
        if data.get("e") == "depthUpdate":
            last_u[data["s"]] = data["u"]
    out = run("replay", path, "--json")
    assert out.returncode == 0, out.stderr
    rows = {r["symbol"]: r for r in map(json.loads, out.stdout.strip().splitlines())}
    for sym, u in last_u.items():
        assert rows[sym]["last_update_id"] == u and rows[sym]["gaps"] == 0 and rows[sym]["state"] == "live"


def test_replay_of_a_missing_file_is_a_usage_error(tmp_path):
    out = run("replay", str(tmp_path / "nope.jsonl.gz"))
    assert out.returncode == 2 and "no such file" in out.stderr
