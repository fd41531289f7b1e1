"""ConnectorFactory: the one registry of venues, as data, with lazy imports.

A venue is one ``VenueSpec``: where its connector, its settings class and its simulator live, each as
``"module:Attribute"``. Importing the factory imports no venue; each call imports only what it needs (the
settings class alone imports no network code), so a user of one venue never pays for, or needs the
optional extras of, another. Adding a venue is one ``_register`` line below plus its two packages,
``engine/connectors/<venue>/`` and ``engine/sim/<venue>/``.

A venue may declare what trading there needs beyond the base install (``trading_module``, checked by
import spec without importing it, and ``trading_hint``, how to install it), and may be recordable: its
``recorder`` (in its connector package) attaches an ``engine.record.FrameRecorder`` to a connected
connector and says which symbols a recording can seed, and its ``recording_reader`` (in its simulator
package, the one reader of the file) loads a recording, which its simulator serves when built with
``replay=<path>, replay_pace="fast"|"recorded"``. A venue whose recordings can be backtested names its
``backtest`` object (in its connector package): what ``engine.backtest`` needs to know about its frames,
filters and refusals (docs/backtest.md).

    conn = ConnectorFactory.create(name, settings)                       # live, as configured
    conn, where = ConnectorFactory.open_live(name, settings, trading=True)   # the same, keys checked
    conn, where = await ConnectorFactory.open_simulated(name, stack)     # against the embedded simulator

The connector class offers ``for_simulator(sim, **kw)``, reading the simulator's URLs and throwaway keys
by attribute; neither side imports the other, and the simulators stay independent witnesses.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional


@dataclass(frozen=True)
class VenueSpec:
    """One venue's registration. ``connector``, ``settings``, ``simulator`` and ``simulator_cli`` are
    ``"module:Attribute"`` (``connector`` may also be a callable taking the settings); ``title`` is how a
    person writes the name in a message."""

    name: str
    connector: "str | Callable[..., Any]"
    settings: str = "engine.config:VenueSettings"  # a venue with no variables of its own
    simulator: str = ""
    simulator_cli: str = ""  # the ``main(argv)`` behind ``engine sim <name>``
    title: str = ""
    trading_module: str = ""  # a module trading there needs that the base install lacks
    trading_hint: str = ""  # what to install for it, for the one line that says trading is off
    recorder: str = ""  # ``engine record``: attach(conn, rec) and symbols(session); "" = not recordable
    recording_reader: str = ""  # ``engine replay``: load(path) -> the session the simulator serves
    backtest: str = ""  # ``engine backtest``: the venue's backtest object (frames, filters, refusals); "" = none

    @property
    def display(self) -> str:
        return self.title or self.name.capitalize()


_VENUES: dict[str, VenueSpec] = {}


def _register(spec: VenueSpec) -> None:
    _VENUES[spec.name.lower()] = spec


# the registrations: the only place outside a venue's own packages that names it
_register(VenueSpec("lighter", connector="engine.connectors.lighter.client:LighterConnector",
                    settings="engine.connectors.lighter.settings:LighterSettings",
                    simulator="engine.sim.lighter:LighterSimulator",
                    simulator_cli="engine.sim.lighter.__main__:main", title="Lighter",
                    trading_module="lighter", trading_hint="the lighter extra (pip install 'engine[lighter]')",
                    recorder="engine.connectors.lighter.record:LighterRecorder",
                    recording_reader="engine.sim.lighter.replay:load_session"))
_register(VenueSpec("binance", connector="engine.connectors.binance.client:BinanceConnector",
                    settings="engine.connectors.binance.settings:BinanceSettings",
                    simulator="engine.sim.binance:BinanceSimulator",
                    simulator_cli="engine.sim.binance.__main__:main", title="Binance",
                    recorder="engine.connectors.binance.record:BinanceRecorder",
                    recording_reader="engine.sim.binance.replay:load_session",
                    backtest="engine.connectors.binance.backtest:BinanceBacktest"))
_register(VenueSpec("binance_futures", connector="engine.connectors.binance_futures.client:BinanceFuturesConnector",
                    settings="engine.connectors.binance_futures.settings:BinanceFuturesSettings",
                    simulator="engine.sim.binance_futures:BinanceFuturesSimulator",
                    simulator_cli="engine.sim.binance_futures.__main__:main", title="Binance USD-M"))


def _load(target: "str | Callable[..., Any]"):
    if callable(target):
        return target
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class ConnectorFactory:
    """Builds connectors by venue name; ``available()`` lists the registered names in registration order.

    An unknown name is a ``ValueError`` that lists the registered ones.
    """

    @staticmethod
    def available() -> list[str]:
        return list(_VENUES)

    @staticmethod
    def spec(name: str) -> VenueSpec:
        spec = _VENUES.get((name or "").strip().lower())
        if spec is None:
            raise ValueError(f"unknown exchange {name!r}; available: {', '.join(_VENUES)}")
        return spec

    @staticmethod
    def register(spec: "VenueSpec | str", target: "str | Callable[..., Any] | None" = None) -> None:
        """Register a venue: a ``VenueSpec``, or (name, connector) for a connector with no settings or
        simulator of its own."""
        _register(spec if isinstance(spec, VenueSpec) else VenueSpec(spec, connector=target))

    @staticmethod
    def settings_class(name: str):
        """The venue's settings class (a ``engine.config.VenueSettings``); imports only its settings module."""
        return _load(ConnectorFactory.spec(name).settings)

    @staticmethod
    def connector_class(name: str):
        return _load(ConnectorFactory.spec(name).connector)

    @staticmethod
    def simulator_class(name: str):
        spec = ConnectorFactory.spec(name)
        if not spec.simulator:
            raise ValueError(f"{spec.name} has no embedded simulator")
        return _load(spec.simulator)

    @staticmethod
    def simulator_cli(name: str) -> Callable[[Optional[list]], int]:
        """``main(argv) -> exit code`` of the venue's simulator served on its own (``engine sim <name>``)."""
        spec = ConnectorFactory.spec(name)
        if not spec.simulator_cli:
            raise ValueError(f"{spec.name} has no embedded simulator")
        return _load(spec.simulator_cli)

    @staticmethod
    def trading_unavailable(name: str) -> Optional[str]:
        """What trading on the venue needs that is not installed (its ``trading_hint``), else None."""
        spec = ConnectorFactory.spec(name)
        if spec.trading_module and importlib.util.find_spec(spec.trading_module) is None:
            return spec.trading_hint or f"the {spec.trading_module} package"
        return None

    @staticmethod
    def recordable() -> list[str]:
        """The registered venues ``engine record``/``engine replay`` can serve, in registration order."""
        return [n for n, s in _VENUES.items() if s.recorder and s.recording_reader and s.simulator]

    @staticmethod
    def recorder(name: str):
        """``(recorder, reader)`` of a recordable venue; ``ValueError`` naming the recordable ones otherwise."""
        spec = ConnectorFactory.spec(name)
        if spec.name not in ConnectorFactory.recordable():
            raise ValueError(f"{spec.name} cannot be recorded or replayed "
                             f"(recordable: {', '.join(ConnectorFactory.recordable()) or 'none'})")
        return _load(spec.recorder), _load(spec.recording_reader)

    @staticmethod
    def backtestable() -> list[str]:
        """The registered venues whose recordings ``engine backtest`` can run on, in registration order."""
        return [n for n, s in _VENUES.items() if s.backtest]

    @staticmethod
    def backtest(name: Optional[str] = None):
        """The venue's backtest object; with no name, the one backtestable venue's. ``ValueError`` naming the
        backtestable venues for a venue without one (or no name when there are several)."""
        names = ConnectorFactory.backtestable()
        if name is None:
            if len(names) != 1:
                raise ValueError(f"name the recorded venue (backtestable: {', '.join(names) or 'none'})")
            name = names[0]
        spec = ConnectorFactory.spec(name)
        if not spec.backtest:
            raise ValueError(f"{spec.name} recordings cannot be backtested (backtestable: {', '.join(names) or 'none'})")
        return _load(spec.backtest)

    @staticmethod
    def create(name: str, settings: Any = None, **kwargs: Any):
        """A live connector (not connected). ``settings`` is the engine's ``Settings``, the venue's own
        settings object, or None; keyword arguments go to the connector's constructor."""
        return _load(ConnectorFactory.spec(name).connector)(settings, **kwargs)

    @staticmethod
    def open_live(name: str, settings: Any = None, *, trading: bool = False, **kwargs: Any):
        """``(connector, description)`` for the real venue. With ``trading``, keys missing from the venue's
        settings (all of them when ``settings`` is None) raise ``ConfigError`` naming the variables, before
        anything is built."""
        spec = ConnectorFactory.spec(name)
        own = settings.venues[spec.name] if hasattr(settings, "venues") else settings
        if own is None:
            own = ConnectorFactory.settings_class(spec.name)()
        if trading:
            own.require_trading_keys()
        where = f"live {spec.display}" + (" testnet" if getattr(own, "testnet", False) else "")
        return ConnectorFactory.create(spec.name, settings, **kwargs), where

    @staticmethod
    async def open_simulated(name: str, stack: contextlib.AsyncExitStack, *,
                             sim_kw: Optional[Mapping[str, Any]] = None, **kwargs: Any):
        """``(connector, description)`` against the venue's embedded simulator, which is started and
        entered into ``stack`` (it stops when the stack closes). ``sim_kw`` go to the simulator,
        the other keyword arguments to the connector's ``for_simulator``. The connector is not connected."""
        spec = ConnectorFactory.spec(name)
        sim = await stack.enter_async_context(ConnectorFactory.simulator_class(spec.name)(**dict(sim_kw or {})))
        conn = ConnectorFactory.connector_class(spec.name).for_simulator(sim, **kwargs)
        return conn, (f"the embedded {spec.display} simulator at {sim.rest_url} "
                      "(no keys or network needed; --live for real)")
