"""Logs: JSON lines with stable keys, secrets masked whatever code logged them, formatting off the loop."""
import io
import json
import logging

from engine.logs import SecretMaskingFilter, setup_logging, stop_logging

SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def test_json_lines_and_masking():
    buf = io.StringIO()
    setup_logging("DEBUG", json_lines=True, secrets=[SECRET], stream=buf)
    try:
        log = logging.getLogger("engine.test")
        log.info("signing with %s", SECRET, extra={"exchange": "binance"})
        log.warning("prefix only %s...", SECRET[:12])
        try:
            raise ValueError(f"bad key {SECRET}")
        except ValueError:
            log.exception("failed")
    finally:
        stop_logging()
    lines = [json.loads(x) for x in buf.getvalue().splitlines()]
    assert [x["level"] for x in lines] == ["INFO", "WARNING", "ERROR"]
    assert lines[0]["logger"] == "engine.test" and lines[0]["exchange"] == "binance"
    assert SECRET not in buf.getvalue() and SECRET[:12] not in buf.getvalue()
    assert "****" in lines[0]["msg"] and "ValueError" in json.dumps(lines[2])  # the traceback travels too


def test_short_values_are_not_treated_as_secrets():
    f = SecretMaskingFilter(["", "abc"])
    assert f.mask("abc def") == "abc def"
