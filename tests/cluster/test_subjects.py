"""Subject names: the venue, symbol and account tokens are checked, so no name can address other subjects."""
import pytest

from engine.cluster import subjects


def test_subjects_are_built_from_checked_tokens():
    assert subjects.md("binance", "BTC-USDT", "book") == "md.binance.BTC-USDT.book"
    assert subjects.md_all("lighter", "trade") == "md.lighter.*.trade"
    assert subjects.gw("acct_1", "place") == "gw.acct_1.place"


@pytest.mark.parametrize("bad", ["BTC.USDT", "*", ">", "a b", "", "x\n"])
def test_a_token_with_a_dot_wildcard_or_space_is_refused(bad):
    with pytest.raises(ValueError, match="NATS subject token"):
        subjects.md("binance", bad, "book")
    with pytest.raises(ValueError, match="NATS subject token"):
        subjects.gw(bad, "place")


def test_unknown_kind_or_verb_is_refused():
    with pytest.raises(ValueError):
        subjects.md("binance", "BTC-USDT", "candles")
    with pytest.raises(ValueError):
        subjects.gw("a", "delete")
