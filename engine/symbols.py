"""One symbol model shared by every connector.

Users write the unified form ``ETH-USDT`` everywhere; each venue has its own spelling (Binance
``ETHUSDT``, Lighter a market id and a name such as ``ETH``). A ``SymbolMap`` is built by a connector from
the venue's own catalogue (exchangeInfo, orderBooks) and translates both ways; venue-native input is
accepted too, so ``ETHUSDT`` and ``ETH-USDT`` name the same instrument on Binance.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable


@dataclass(frozen=True, order=True)
class Symbol:
    """An instrument in the unified form: upper-case ``BASE-QUOTE``."""

    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> "Symbol":
        """Parse the unified form (``ETH-USDT``, ``eth/usdt`` and ``ETH_USDT`` are accepted too)."""
        if not isinstance(text, str):
            raise TypeError(f"symbol must be a str, not {type(text).__name__}")
        t = text.strip().upper()
        for sep in ("-", "/", "_"):
            if sep in t:
                base, _, quote = t.partition(sep)
                if base and quote and sep not in quote:
                    return cls(base, quote)
                break
        raise ValueError(f"symbol {text!r} is not in the unified BASE-QUOTE form (e.g. 'ETH-USDT')")

    def __str__(self) -> str:
        return f"{self.base}-{self.quote}"


@dataclass
class SymbolMap:
    """Two-way map between unified symbols and one venue's native names."""

    venue: str
    _to_native: dict[Symbol, str] = field(default_factory=dict)
    _to_unified: dict[str, Symbol] = field(default_factory=dict)

    def add(self, symbol: Symbol, native: str) -> None:
        """Map ``symbol`` to ``native``; the first symbol added for a native name is its unified form
        (later ones are aliases, e.g. Lighter's USDC-margined ETH also answers to ETH-USDT)."""
        self._to_native[symbol] = native
        self._to_unified.setdefault(native.upper(), symbol)

    @classmethod
    def from_pairs(cls, venue: str, pairs: Iterable[tuple[Symbol, str]]) -> "SymbolMap":
        m = cls(venue)
        for sym, native in pairs:
            m.add(sym, native)
        return m

    def resolve(self, text: "str | Symbol") -> tuple[Symbol, str]:
        """(unified, native) for either spelling; ValueError naming the venue when unknown."""
        if isinstance(text, Symbol):
            native = self._to_native.get(text)
            if native is None:
                raise self._unknown(str(text))
            return text, native
        key = text.strip().upper()
        sym = self._to_unified.get(key)
        if sym is not None:
            return sym, self._to_native[sym]
        try:
            sym = Symbol.parse(key)
        except ValueError:
            raise self._unknown(text) from None
        native = self._to_native.get(sym)
        if native is None:
            raise self._unknown(text)
        return sym, native

    def native(self, text: "str | Symbol") -> str:
        return self.resolve(text)[1]

    def unified(self, text: "str | Symbol") -> Symbol:
        return self.resolve(text)[0]

    def __contains__(self, text: object) -> bool:
        try:
            self.resolve(text)  # type: ignore[arg-type]
        except (ValueError, TypeError):
            return False
        return True

    def __len__(self) -> int:
        return len(self._to_native)

    def _unknown(self, text: str) -> ValueError:
        some = ", ".join(sorted(str(s) for s in list(self._to_native)[:5]))
        return ValueError(f"unknown symbol {text!r} on {self.venue} ({len(self)} known, e.g. {some})")
