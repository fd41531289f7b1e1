"""Fault knobs of the futures simulator: the spot simulator's (engine/sim/binance/faults.py) plus the futures ones.

Counters are consumed as faults fire. Actions on live connections (cut every stream, expire the listenKey now)
are methods of the simulator (BinanceFuturesSimulator.disconnect_streams, .expire_listen_key)."""
from __future__ import annotations

from dataclasses import dataclass

from engine.sim.binance.faults import Faults as SpotFaults


@dataclass
class Faults(SpotFaults):
    throttle_1008: int = 0  # the next N opening (not reduceOnly/closePosition) orders answer -1008
    stall_streams: bool = False  # every stream connection stays open but sends nothing until cleared (then catches up)
