"""Lighter auth tokens for private reads and account channels: minted by the signer, reused until near expiry.

A token is ``{deadline_s}:{account}:{api_key}:{signature}`` and the venue refuses a deadline more than 8 h
ahead only when the token is used (20013), so we mint with a lifetime below that (7 h by default) and mint
again ``lead_s`` before the deadline, or at once after the venue said 20013. Minting runs on the signer's
worker thread; the token is a credential, so it is never logged and never in a repr.
"""
from __future__ import annotations

import asyncio
import time
from typing import Optional

MAX_LIFETIME_S = 8 * 3600


class AuthTokens:
    def __init__(self, signer_source, *, lifetime_s: float = 7 * 3600, lead_s: float = 15 * 60):
        """``signer_source()`` returns the LighterSigner (created on first use: the lighter extra)."""
        if not 0 < lifetime_s <= MAX_LIFETIME_S:
            raise ValueError(f"a Lighter auth token lives at most 8 h (got {lifetime_s} s)")
        self._signer = signer_source
        self.lifetime_s = lifetime_s
        self.lead_s = min(lead_s, lifetime_s / 2)
        self._token: Optional[str] = None
        self._deadline = 0.0
        self._lock = asyncio.Lock()
        self.minted = 0

    def __repr__(self) -> str:
        return f"AuthTokens(minted={self.minted}, expires_in_s={self.expires_in_s():.0f}, token=****)"

    def expires_in_s(self) -> float:
        return self._deadline - time.time() if self._token else 0.0

    async def current(self) -> str:
        """A token valid for at least ``lead_s`` more (minted now if needed)."""
        async with self._lock:
            if self._token is None or self.expires_in_s() <= self.lead_s:
                await self._mint()
            return self._token

    async def fresh(self) -> str:
        """A newly minted token (rotation, reconnect, or after the venue refused the current one)."""
        async with self._lock:
            await self._mint()
            return self._token

    def invalidate(self) -> None:
        self._token, self._deadline = None, 0.0

    async def _mint(self) -> None:
        deadline = int(time.time() + self.lifetime_s)
        self._token = await self._signer().auth_token(deadline)
        self._deadline = deadline
        self.minted += 1
