"""ConnectorFactory: a registry of connectors with lazy imports.

Importing the factory imports no connector; ``create`` imports only the one asked for, so a user
trading on Binance never pays for (or needs the optional extras of) Lighter.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable

# name -> "module:Class"
_REGISTRY: dict[str, str] = {
    "lighter": "engine.connectors.lighter.client:LighterConnector",
    "binance": "engine.connectors.binance.client:BinanceConnector",
}


class ConnectorFactory:
    """``create(name, config)`` builds a connector; ``available()`` lists the registered names."""

    @staticmethod
    def available() -> list[str]:
        return list(_REGISTRY)

    @staticmethod
    def register(name: str, target: "str | Callable[..., Any]") -> None:
        """Register a connector (``"module:Class"`` or a callable taking the config)."""
        _REGISTRY[name.lower()] = target  # type: ignore[assignment]

    @staticmethod
    def create(name: str, config: Any = None, **kwargs: Any):
        key = (name or "").strip().lower()
        target = _REGISTRY.get(key)
        if target is None:
            raise ValueError(f"unknown exchange {name!r}; available: {', '.join(_REGISTRY)}")
        if callable(target):
            return target(config, **kwargs)
        module, _, cls = target.partition(":")
        return getattr(importlib.import_module(module), cls)(config, **kwargs)
