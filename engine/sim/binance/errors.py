"""Binance error answers as the simulator sends them: ``{"code": -XXXX, "msg": "..."}`` + HTTP status."""


class SimError(Exception):
    def __init__(self, code: int, msg: str, http: int = 400, headers: dict | None = None):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.http = http
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg}


def key_problem(key, expected: str):
    """The error Binance answers for an API key (REST header or WS API ``apiKey``), or None when it is ours:
    -2014 for a value that is not a key at all (missing, empty, not alphanumeric), -2015 for a well-formed key
    the venue does not know (also its answer for an IP off the allow-list or a missing permission)."""
    if not isinstance(key, str) or not key or not key.isalnum() or not key.isascii():
        return -2014, "API-key format invalid."
    if key != expected:
        return -2015, "Invalid API-key, IP, or permissions for action."
    return None
