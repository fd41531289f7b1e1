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
