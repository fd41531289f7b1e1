"""USD-M futures error codes (docs/binance_futures.md, "Orders"): the spot table plus the futures codes, built
by the spot module's mechanics (``engine.errors.classify``)."""
from __future__ import annotations

from typing import Any, Mapping

from engine.connectors.binance.errors import AUTH_CHECKS, BINANCE_ERROR_CODES, _by_range, permanent_auth_failure
from engine.errors import (ErrorAction, ErrorRule, InsufficientBalanceError, InvalidRequestError,
                           OrderRejectedError, RPCTimeoutError, TradingError, classify, parse_body)

_R, _A = ErrorRule, ErrorAction
FUTURES_ONLY: Mapping[int, ErrorRule] = {
    -1008: _R(RPCTimeoutError, _A.RECONCILE),  # throttled by system protection; for orders: look it up
    -2019: _R(InsufficientBalanceError, _A.REJECT),  # Margin is insufficient.
    -2021: _R(OrderRejectedError, _A.REJECT),  # Order would immediately trigger.
    -2022: _R(OrderRejectedError, _A.REJECT),  # ReduceOnly Order is rejected.
    -4003: _R(OrderRejectedError, _A.REJECT), -4004: _R(OrderRejectedError, _A.REJECT),
    -4005: _R(OrderRejectedError, _A.REJECT), -4013: _R(OrderRejectedError, _A.REJECT),
    -4014: _R(OrderRejectedError, _A.REJECT), -4016: _R(OrderRejectedError, _A.REJECT),
    -4023: _R(OrderRejectedError, _A.REJECT), -4024: _R(OrderRejectedError, _A.REJECT),
    -4028: _R(InvalidRequestError, _A.REJECT),  # leverage not valid
    -4046: _R(InvalidRequestError, _A.REJECT),  # No need to change margin type.
    -4059: _R(InvalidRequestError, _A.REJECT),  # No need to change position side.
    -4061: _R(OrderRejectedError, _A.REJECT),  # positionSide does not match the account's mode
    -4164: _R(OrderRejectedError, _A.REJECT),  # notional below MIN_NOTIONAL
    -5022: _R(OrderRejectedError, _A.REJECT),  # GTX (post-only) would take
}
FUTURES_ERROR_CODES: Mapping[int, ErrorRule] = {**BINANCE_ERROR_CODES, **FUTURES_ONLY}


def futures_error(http_status, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  endpoint: str | None = None) -> TradingError:
    code, msg = parse_body(body)
    err = classify("binance_futures", http_status, code, msg, FUTURES_ERROR_CODES, raw=body, headers=headers,
                   endpoint=endpoint, unknown_code=_by_range)
    if permanent_auth_failure(err) and code in AUTH_CHECKS:
        err.message = f"{err.message} (BINANCE_FUTURES_API_KEY/SECRET: {AUTH_CHECKS[code]})"
        err.args = (err.message,)
    return err
