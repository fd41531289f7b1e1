"""The futures error answers the simulator sends (codes and messages from docs/binance_futures.md, "Errors").

``SimError`` and the API-key check are the spot simulator's (engine/sim/binance/errors.py): the body shape
``{"code": -XXXX, "msg": "..."}`` is the same on both venues."""
from __future__ import annotations

from engine.sim.binance.errors import SimError, key_problem

__all__ = ["SimError", "key_problem", "err"]

MESSAGES = {
    -1008: "Request throttled by system-level protection. Reduce-only/close-position orders are exempt. "
           "Please try again.",
    -1015: "Too many new orders; current limit is {} orders per {}.",
    -1100: "Illegal characters found in parameter '{}'; legal range is '{}'.",
    -1102: "Mandatory parameter '{}' was not sent, was empty/null, or malformed.",
    -1106: "Parameter '{}' sent when not required.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -1115: "Invalid timeInForce.",
    -1121: "Invalid symbol.",
    -1125: "This listenKey does not exist.",
    -1130: "Data sent for parameter '{}' is not valid.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -4003: "Quantity less than or equal to zero.",
    -4004: "Quantity less than min quantity.",
    -4005: "Quantity greater than max quantity.",
    -4013: "Price less than min price.",
    -4014: "Price not increased by tick size.",
    -4016: "Limit price can't be higher than {}.",
    -4023: "Quantity not increased by step size.",
    -4024: "Limit price can't be lower than {}.",
    -4028: "Leverage {} is not valid",
    -4046: "No need to change margin type.",
    -4047: "Margin type cannot be changed if there exists open orders.",
    -4048: "Margin type cannot be changed if there exists position.",
    -4059: "No need to change position side.",
    -4061: "Order's position side does not match user's setting.",
    -4067: "Position side cannot be changed if there exists open orders.",
    -4068: "Position side cannot be changed if there exists position.",
    -4164: "Order's notional must be no smaller than {} (unless you choose reduce only).",
    -5022: "Due to the order could not be executed as maker, the Post Only order will be rejected. "
           "The order will not be recorded in the order history",
}


def err(code: int, *args, http: int = 400) -> SimError:
    return SimError(code, MESSAGES[code].format(*args), http=http)
