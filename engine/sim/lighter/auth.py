"""Auth tokens in the Lighter simulator: ``{deadline_s}:{account}:{api_key}:{160 hex signature}``.

The rules are the venue's as captured: a missing token is 20001 ("auth query param and Authorization header
are empty" on REST, "auth field is required: <channel>" on the stream); a deadline in the past or more than
8 h ahead is 20013 "invalid auth: invalid deadline" (HTTP 401 on REST). The signature's shape is always
checked; the signature itself only when the simulator is built with ``verify_signatures=True``: then a token
that is not signed by the key registered for its account and key index (tx_hash.verify_auth_token, the
simulator's own Schnorr check; the answer is remembered per token and key) is 20013 "invalid auth: invalid
signature" (HTTP 401; the venue's code for this is not captured: the simulator's choice). The
``auth_ttl_s`` fault makes every token expire that many seconds after the simulator first saw it, whatever
its deadline, so clients must rotate or re-mint.

``sim.refuse_key(code)`` makes the venue refuse the simulator's API key for good: every token of that key
(private REST reads, account channels) and every transaction it signs is answered with ``code`` (21108
invalid public key, 21109 api key not found, 21120 invalid signature, 21136 signer too old), as a key that
was never registered, was replaced, or does not match its public key would be. Which of these codes the
venue gives for a token (rather than a transaction) is not captured: the simulator's choice.
"""
from __future__ import annotations

import time
from typing import Optional

from .tx_hash import registered_key, verify_auth_token

MAX_AHEAD_S = 8 * 3600
REFUSALS = {21108: "invalid public key", 21109: "api key not found", 21120: "invalid signature",
            21136: "invalid PublicKey, update the sdk"}


class AuthError(Exception):
    def __init__(self, code: int, message: str, http: int):
        super().__init__(message)
        self.code, self.message, self.http = code, message, http


class TokenBook:
    def __init__(self, sim):
        self.sim = sim
        self.first_seen: dict = {}  # token -> time first presented
        self.checked = 0
        self.signed: dict = {}  # (token, public key) -> whether its signature verified (verify_signatures)

    def _signed(self, token: str, key: tuple) -> bool:
        """Whether ``token`` carries the registered key's signature (remembered per token and key)."""
        pub = registered_key(self.sim, key)
        if (token, pub) not in self.signed:
            if len(self.signed) > 10_000:
                self.signed.clear()
            self.signed[(token, pub)] = verify_auth_token(token, pub)
        return self.signed[(token, pub)]

    def expires_at(self, token: str) -> float:
        """When ``token`` stops being accepted (its deadline, or earlier under the auth_ttl_s fault)."""
        deadline = float(token.split(":", 1)[0])
        ttl = self.sim.faults.get("auth_ttl_s")
        if ttl:
            deadline = min(deadline, self.first_seen.get(token, time.time()) + float(ttl))
        return deadline

    def check(self, token: Optional[str], account: int, *, where: str) -> str:
        """Accept ``token`` for ``account`` or raise AuthError with the venue's code and message."""
        self.checked += 1
        if not token:
            raise AuthError(20001, f"invalid param : {where}", 400)
        parts = str(token).split(":")
        now = time.time()
        if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or len(parts[3]) != 160:
            raise AuthError(20013, "invalid auth: invalid token", 401)
        deadline, acct, key = int(parts[0]), int(parts[1]), int(parts[2])
        if acct != account or (acct, key) not in self.sim.nonces:
            raise AuthError(20013, "invalid auth: account or api key mismatch", 401)
        refused = self.sim.refused_keys.get((acct, key))
        if refused is not None:
            raise AuthError(refused, REFUSALS[refused], 400)
        if getattr(self.sim, "verify_signatures", False) and not self._signed(token, (acct, key)):
            raise AuthError(20013, "invalid auth: invalid signature", 401)
        self.first_seen.setdefault(token, now)
        if not now < deadline <= now + MAX_AHEAD_S or self.expires_at(token) <= now:
            raise AuthError(20013, "invalid auth: invalid deadline", 401)
        return token
