"""Settings from the environment: strict parsing naming the variable, masked secrets, explicit env files."""
import pytest

from engine.config import ConfigError, Settings, read_env_file


def test_defaults_need_no_keys():
    s = Settings.from_env({})
    assert s.active_exchange == "lighter" and s.monitor_exchanges == ("lighter", "binance", "binance_futures")
    assert s.binance_api_key is None and s.binance_testnet is False


@pytest.mark.parametrize("raw,want", [("1", True), ("yes", True), ("ON", True), ("true", True), ("0", False),
                                      ("off", False), ("No", False), ("", False)])
def test_booleans(raw, want):
    assert Settings.from_env({"BINANCE_TESTNET": raw}).binance_testnet is want


@pytest.mark.parametrize("env,needle", [
    ({"BINANCE_TESTNET": "maybe"}, "BINANCE_TESTNET is not a boolean"),
    ({"ACTIVE_EXCHANGE": "ftx"}, "valid: lighter, binance"),
    ({"MONITOR_EXCHANGES": "binance, kraken"}, "MONITOR_EXCHANGES entry 2 is not a known exchange"),
    ({"LIGHTER_ACCOUNT_INDEX": "abc"}, "LIGHTER_ACCOUNT_INDEX"),
    ({"LIGHTER_ACCOUNT_INDEX": "0"}, "LIGHTER_ACCOUNT_INDEX is out of range"),
    ({"LIGHTER_API_KEY_INDEX": "1"}, "usable API key indexes are 2..254"),
    ({"LIGHTER_API_KEY_INDEX": "255"}, "255 is a sentinel"),
    ({"LIGHTER_API_PRIVATE_KEY": "0x" + "ab" * 39}, "got 78 characters"),
    ({"LIGHTER_API_PRIVATE_KEY": "zz" * 40}, "80 hex digits"),
    ({"RISK_MAX_ORDER_QTY": "lots"}, "RISK_MAX_ORDER_QTY"),
    ({"RISK_MAX_DAILY_LOSS": "-5"}, "must not be negative"),
    ({"RISK_MAX_BOOK_AGE_S": "nan"}, "RISK_MAX_BOOK_AGE_S"),
    ({"ENGINE_SYMBOLS": "BTC-USDT,s3cr3t/k3y/v4lu3"}, "ENGINE_SYMBOLS entry 2 is not a BASE-QUOTE symbol"),
    ({"ENGINE_LOG_LEVEL": "s3cr3tk3yv4lu3"}, "ENGINE_LOG_LEVEL is not a log level"),
])
def test_bad_values_name_the_variable(env, needle):
    with pytest.raises(ConfigError, match=None) as exc:
        Settings.from_env(env)
    assert needle in str(exc.value)
    # the value itself is never echoed: a value in the wrong variable may be someone's key
    for value in env.values():
        assert repr(value) not in str(exc.value) and f"={value}" not in str(exc.value)
        assert len(value) < 4 or value not in str(exc.value)


def test_each_venue_has_its_own_settings_and_the_flat_names_still_read_them():
    from engine.connectors.factory import ConnectorFactory

    s = Settings.from_env({"BINANCE_TESTNET": "1", "LIGHTER_API_KEY_INDEX": "3"})
    assert set(s.venues) == set(ConnectorFactory.available())
    assert s.venues["binance"].testnet is True and s.binance_testnet is True
    assert s.venues["lighter"].api_key_index == 3 == s.lighter_api_key_index
    assert Settings().venues["binance"].api_key is None  # defaults need no environment
    with pytest.raises(AttributeError):
        s.binance_no_such_field


def test_settings_import_no_network_code():
    import subprocess
    import sys

    code = ("import sys; from engine.config import Settings; Settings.from_env({}); "
            "print(sorted(m for m in ('aiohttp', 'picows', 'orjson') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_monitor_list_is_deduplicated_in_order_and_case_insensitive():
    s = Settings.from_env({"MONITOR_EXCHANGES": "Binance,lighter,binance,,LIGHTER", "ACTIVE_EXCHANGE": "BINANCE"})
    assert s.monitor_exchanges == ("binance", "lighter") and s.active_exchange == "binance"


def test_secrets_are_masked_everywhere():
    secret = "S" * 64
    s = Settings.from_env({"BINANCE_API_KEY": "K" * 64, "BINANCE_API_SECRET": secret,
                           "LIGHTER_API_PRIVATE_KEY": "0x" + "Fe" * 40})
    for text in (repr(s), str(s), str(s.summary()), repr(s.binance_api_secret)):
        assert secret not in text and "K" * 20 not in text and "Fe" * 10 not in text
    assert s.binance_api_secret.value == secret


def test_keys_required_only_for_trading():
    s = Settings.from_env({"BINANCE_API_KEY": "k"})
    with pytest.raises(ConfigError, match="BINANCE_API_SECRET"):
        s.require_trading_keys("binance")
    with pytest.raises(ConfigError, match="LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX, LIGHTER_API_PRIVATE_KEY"):
        s.require_trading_keys("lighter")
    with pytest.raises(ConfigError, match="BINANCE_API_SECRET"):
        s.venues["binance"].require_trading_keys()


def test_secrets_for_log_redaction_come_from_each_venue():
    s = Settings.from_env({"BINANCE_API_KEY": "K" * 64, "BINANCE_API_SECRET": "S" * 64,
                           "LIGHTER_API_PRIVATE_KEY": "ab" * 40})
    assert sorted(s.venues["binance"].secrets()) == ["K" * 64, "S" * 64]
    assert s.venues["lighter"].secrets() == ["ab" * 40]
    assert sorted(s.secrets()) == sorted(["K" * 64, "S" * 64, "ab" * 40])


def test_env_file(tmp_path):
    f = tmp_path / "x.env"
    f.write_text("# comment\nexport BINANCE_TESTNET=yes\nACTIVE_EXCHANGE='binance'\n\n")
    assert read_env_file(str(f)) == {"BINANCE_TESTNET": "yes", "ACTIVE_EXCHANGE": "binance"}
    f.write_text("NOT A LINE\n")
    with pytest.raises(ConfigError, match="line 1"):
        read_env_file(str(f))
    with pytest.raises(ConfigError, match="--env-file"):
        read_env_file(str(tmp_path / "missing.env"))


def test_importing_engine_reads_no_environment(monkeypatch):
    import importlib
    import engine

    monkeypatch.setenv("ACTIVE_EXCHANGE", "not-valid")
    importlib.reload(engine)  # would raise if anything parsed settings at import
