"""LIGHTER_API_PRIVATE_KEY: the shape (80 hex digits) and the scalar (not zero modulo the ECgFp5 group order)
are checked by LighterSettings and by the connector's constructor; the error names the variable in one line
and never echoes the value."""
import pytest

from engine.config import ConfigError
from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.settings import ECGFP5_ORDER, LighterSettings

VAR = "LIGHTER_API_PRIVATE_KEY"
GOOD = (12345).to_bytes(40, "little").hex()
ZERO_SCALARS = ["00" * 40, "0x" + "00" * 40, ECGFP5_ORDER.to_bytes(40, "little").hex(),
                "0X" + (2 * ECGFP5_ORDER).to_bytes(40, "little").hex().upper()]


def _one_clean_line(err: Exception, value: str) -> str:
    text = str(err)
    assert "\n" not in text and VAR in text
    digits = value[2:] if value[:2].lower() == "0x" else value
    assert digits.lower() not in text.lower() and value not in text
    return text


@pytest.mark.parametrize("value", ZERO_SCALARS)
def test_settings_refuse_the_zero_scalar(value):
    with pytest.raises(ConfigError) as exc:
        LighterSettings.from_env({VAR: value})
    assert "zero scalar" in _one_clean_line(exc.value, value)


@pytest.mark.parametrize("value", ZERO_SCALARS)
def test_connector_refuses_the_zero_scalar(value):
    with pytest.raises(ConfigError) as exc:
        LighterConnector(account_index=5, api_key_index=3, api_private_key=value)
    assert "zero scalar" in _one_clean_line(exc.value, value)


def test_connector_refuses_a_zero_key_from_settings():
    # LighterSettings built directly (not from_env), so only the connector's own check stands in the way
    from engine.config import Secret
    own = LighterSettings(account_index=5, api_key_index=3, api_private_key=Secret("00" * 40))
    with pytest.raises(ConfigError) as exc:
        LighterConnector(own)
    _one_clean_line(exc.value, "00" * 40)


@pytest.mark.parametrize("value", ["ab" * 39, "zz" * 40, "0x" + "12" * 41])
def test_malformed_keys_are_refused_by_both(value):
    with pytest.raises(ConfigError) as exc:
        LighterSettings.from_env({VAR: value})
    assert "80 hex digits" in _one_clean_line(exc.value, value)
    with pytest.raises(ConfigError) as exc:
        LighterConnector(api_private_key=value)
    assert "80 hex digits" in _one_clean_line(exc.value, value)


@pytest.mark.parametrize("value", [GOOD, "0x" + GOOD, (ECGFP5_ORDER - 1).to_bytes(40, "little").hex(),
                                   (ECGFP5_ORDER + 1).to_bytes(40, "little").hex()])
def test_usable_keys_pass(value):
    s = LighterSettings.from_env({VAR: value, "LIGHTER_ACCOUNT_INDEX": "5", "LIGHTER_API_KEY_INDEX": "3"})
    assert s.api_private_key.value == value
    c = LighterConnector(s)
    assert c._private_key == value
    assert value not in repr(c)


def test_no_key_is_not_an_error_until_trading():
    assert LighterSettings.from_env({}).api_private_key is None
    LighterConnector()


# -- the transaction answer timeout and the deadline margin
def test_tx_timeout_and_deadline_margin_from_the_environment_reach_the_connector():
    s = LighterSettings.from_env({"LIGHTER_TX_TIMEOUT_S": "2.5", "LIGHTER_TX_DEADLINE_MARGIN_S": "0"})
    assert (s.tx_timeout_s, s.tx_deadline_margin_s) == (2.5, 0.0)
    c = LighterConnector(s)
    assert c.market.tx.timeout_s == 2.5 and c.tx_deadline_margin_s == 0.0
    assert c.health()["market"]["tx_timeout_s"] == 2.5
    c = LighterConnector(s, tx_timeout_s=7, tx_deadline_margin_s=1.5)  # keywords win
    assert c.market.tx.timeout_s == 7 and c.tx_deadline_margin_s == 1.5
    d = LighterSettings.from_env({})
    assert (d.tx_timeout_s, d.tx_deadline_margin_s) == (10.0, 5.0)
    assert LighterConnector().market.tx.timeout_s == 10.0 and LighterConnector().tx_deadline_margin_s == 5.0
    assert s.summary()["LIGHTER_TX_TIMEOUT_S"] == 2.5


@pytest.mark.parametrize("var, value", [("LIGHTER_TX_TIMEOUT_S", "0"), ("LIGHTER_TX_TIMEOUT_S", "-1"),
                                        ("LIGHTER_TX_TIMEOUT_S", "121"), ("LIGHTER_TX_TIMEOUT_S", "nan"),
                                        ("LIGHTER_TX_TIMEOUT_S", "ten"), ("LIGHTER_TX_TIMEOUT_S", "inf"),
                                        ("LIGHTER_TX_DEADLINE_MARGIN_S", "-0.5"),
                                        ("LIGHTER_TX_DEADLINE_MARGIN_S", "301"),
                                        ("LIGHTER_TX_DEADLINE_MARGIN_S", "5s")])
def test_bad_tx_timing_values_are_refused_without_echo(var, value):
    with pytest.raises(ConfigError) as exc:
        LighterSettings.from_env({var: value})
    text = str(exc.value)
    assert var in text and "seconds" in text and "\n" not in text
    assert f"'{value}'" not in text and f"={value}" not in text and f"got {value}" not in text


@pytest.mark.parametrize("kw", [{"tx_timeout_s": 0}, {"tx_timeout_s": float("nan")}, {"tx_timeout_s": 1000},
                                {"tx_timeout_s": True}, {"tx_timeout_s": "x"}, {"tx_deadline_margin_s": -1},
                                {"tx_deadline_margin_s": 10**6}])
def test_bad_tx_timing_keywords_are_refused(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        LighterConnector(**kw)


def test_the_deadline_margin_sets_the_order_deadline():
    c = LighterConnector(tx_deadline_margin_s=2)
    c._remember_expiry(42, '{"ExpiredAt": 1000000}')
    c2 = LighterConnector(tx_deadline_margin_s=0)
    c2._remember_expiry(42, '{"ExpiredAt": 1000000}')
    assert c.deadlines.get("42") - c2.deadlines.get("42") == 2000
