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
