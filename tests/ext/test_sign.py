"""The compiled signer matches Binance's vectors and stdlib hmac, on both SHA-256 paths; no secret leaks."""
import hashlib
import hmac
import json
import pathlib
import pickle
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine import sign as S

VECTORS = json.loads((pathlib.Path(__file__).parents[1] / "data/binance/signing_vectors.json").read_text())
SECRET = VECTORS["secretKey"]


@pytest.fixture(params=["accelerated", "portable"])
def path(request):
    S.force_portable(request.param == "portable")
    yield request.param
    S.force_portable(False)


@pytest.mark.parametrize("case", VECTORS["rest"] + VECTORS["ws_api"], ids=lambda c: c["name"])
def test_official_vectors(case, path):
    signer = S.Signer(SECRET)
    assert signer.sign(case["signature_payload"]) == case["signature"]
    assert signer.sign(case["signature_payload"].encode()) == case["signature"]


def test_documented_example_through_the_query_builder():
    q = S.Signer(SECRET).signed_query(
        {"symbol": "LTCBTC", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": 1,
         "price": Decimal("0.1")}, timestamp=1499827319559, recv_window=5000)
    assert q == ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
                 "&timestamp=1499827319559&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")


def test_non_ascii_is_percent_encoded_before_signing():
    case = VECTORS["rest"][2]
    params = [tuple(kv.split("=", 1)) for kv in case["params_unencoded"].split("&")]
    params = [(k, v) for k, v in params if k not in ("recvWindow", "timestamp")]
    q = S.Signer(SECRET).signed_query(params, timestamp=1499827319559, recv_window=5000)
    assert q == f"{case['signature_payload']}&signature={case['signature']}"


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), msg=st.binary(max_size=600))
def test_differential_against_stdlib_hmac(key, msg):
    want = hmac.new(key, msg, hashlib.sha256).hexdigest()
    assert S.Signer(key).sign(msg) == want
    S.force_portable(True)
    try:
        assert S.Signer(key).sign(msg) == want
    finally:
        S.force_portable(False)


@pytest.mark.parametrize("n", [0, 1, 54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 4096])
def test_padding_boundaries(n, path):
    msg = bytes(range(256)) * (n // 256 + 1)
    msg = msg[:n]
    assert S.Signer(b"k" * 64).sign(msg) == hmac.new(b"k" * 64, msg, hashlib.sha256).hexdigest()
    assert S.sha256_hex(msg) == hashlib.sha256(msg).hexdigest()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), st.text(max_size=20)), max_size=8))
def test_encoding_matches_rfc3986_unreserved_quoting(pairs):
    from urllib.parse import quote

    want = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in pairs)
    assert S.encode_query(pairs) == want


def test_values_are_exact_and_floats_refused():
    assert S.encode_query({"a": True, "b": 5, "c": Decimal("0.00000100"), "d": Decimal("1E-7")}) == \
        "a=true&b=5&c=0.00000100&d=0.0000001"
    with pytest.raises(TypeError, match="price"):
        S.encode_query({"price": 0.1})
    with pytest.raises(ValueError):
        S.encode_query({"q": Decimal("NaN")})
    with pytest.raises(TypeError):
        S.Signer(SECRET).signed_query({}, timestamp="1")


def test_the_secret_never_leaks():
    signer = S.Signer(SECRET)
    for text in (repr(signer), str(signer)):
        assert SECRET not in text and SECRET[:8] not in text
    with pytest.raises(TypeError) as exc:
        pickle.dumps(signer)
    assert SECRET not in str(exc.value)
    with pytest.raises(ValueError) as exc:
        S.Signer("")
    with pytest.raises(TypeError) as exc:
        S.Signer(12345)
    assert "12345" not in str(exc.value)


def test_the_accelerated_path_is_used_when_the_cpu_has_it():
    cpu = pathlib.Path("/proc/cpuinfo")
    if not cpu.exists() or " sha_ni" not in cpu.read_text():
        pytest.skip("this CPU has no SHA extensions")
    assert S.accelerated()
