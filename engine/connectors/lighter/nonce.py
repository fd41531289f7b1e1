"""Nonce lanes: one per (account, API key), counted locally, refreshed from the venue when it disagrees.

Lighter rejects a transaction whose nonce is not the next one for its API key (21104 "invalid nonce").
A lane hands out nonces strictly in order under a lock (two coroutines never sign with the same nonce),
fetches the starting point from ``nextNonce`` and, after a conflict, refetches it before the single retry
the error table allows. A nonce taken for a transaction that was never sent is given back only if nothing
was taken after it; otherwise the lane refreshes from the venue before the next use.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable, Optional

log = logging.getLogger("engine.lighter.nonce")


class NonceLane:
    def __init__(self, account_index: int, api_key_index: int, fetch_next: Callable[[int, int], Awaitable[int]]):
        self.account_index = account_index
        self.api_key_index = api_key_index
        self._fetch = fetch_next
        self._next: Optional[int] = None
        self._lock = asyncio.Lock()
        # held across take + sign + write by the sender, so this key's transactions leave in nonce order
        self.sending = asyncio.Lock()
        self.refreshes = 0
        self.conflicts = 0

    def __repr__(self) -> str:
        return f"NonceLane(account={self.account_index}, key={self.api_key_index}, next={self._next})"

    async def refresh(self) -> int:
        """Ask the venue for the next nonce (at start, after a conflict, after an unknown outcome)."""
        self._next = int(await self._fetch(self.account_index, self.api_key_index))
        self.refreshes += 1
        return self._next

    async def take(self) -> int:
        """The next nonce to sign with; strictly increasing across concurrent callers."""
        async with self._lock:
            if self._next is None:
                await self.refresh()
            n = self._next
            self._next += 1
            return n

    def give_back(self, nonce: int) -> None:
        """A transaction signed with ``nonce`` was never sent: reuse it if it was the last one taken."""
        if self._next is not None and nonce == self._next - 1:
            self._next = nonce
        else:
            self._next = None  # a later nonce is out: let the venue say where we are

    def forget(self) -> None:
        """A transaction's outcome is unknown: whether its nonce was used, only the venue knows."""
        self._next = None

    async def on_conflict(self) -> int:
        """21104: our count is wrong. Refetch before the one retry."""
        self.conflicts += 1
        async with self._lock:
            n = await self.refresh()
        log.warning("lighter nonce conflict on account %d key %d: venue says next is %d", self.account_index,
                    self.api_key_index, n)
        return n
