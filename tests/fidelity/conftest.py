"""tests/fidelity/: the public clients traders use, driven against the embedded simulators with nothing changed
but their base URLs. Each module skips with a reason when its client (the `fidelity` extra) is not installed;
a call the simulator cannot serve yet is a strict xfail naming what it lacks, so it fails the day it is built."""
import pytest

from engine.sim.binance import BinanceSimulator
from engine.sim.lighter import LighterSimulator
from fidelity_env import SimThread


@pytest.fixture
def binance_sim_thread():
    """A Binance simulator on its own thread's loop, for the blocking clients (binance-sdk-spot, binance-connector)."""
    with SimThread(BinanceSimulator(seed=1)) as sim:
        yield sim


@pytest.fixture
def lighter_sim_thread():
    """A Lighter simulator on its own thread's loop, for the signer's blocking calls."""
    with SimThread(LighterSimulator(seed=1)) as sim:
        yield sim
