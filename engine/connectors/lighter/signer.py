"""Signing Lighter transactions with the official signer library, on one dedicated worker thread.

The signer is the Go library shipped in lighter-sdk (the ``lighter`` extra: ``pip install 'engine[lighter]'``);
only its C functions are used, not the SDK's HTTP/nonce machinery (our nonce lanes own the nonces). Every
call runs on a single worker thread: the library is about 8x slower when called from the interpreter's main
thread (docs/lighter.md, "The signer's thread"), and a signature must never block the event loop anyway.
The private key is handed to the library once and never kept in a Python attribute, repr or error.
"""
from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

EXTRA_HINT = ("Lighter trading needs the official signer library: install the extra with "
              "`pip install 'engine[lighter]'` (lighter-sdk)")

# order enums (docs/lighter.md, "Order enums and the signer's validation")
ORDER_TYPE = {"limit": 0, "market": 1, "stop_loss": 2, "stop_loss_limit": 3, "take_profit": 4,
              "take_profit_limit": 5}
TIF = {"ioc": 0, "gtt": 1, "post_only": 2}
NIL_TRIGGER_PRICE = 0
NIL_ORDER_VERSION = 0  # "whatever version is current" (the 1.1.8 library takes an order version on modify)


class SignerError(ValueError):
    """The signer library refused the transaction (its own validation), with its message."""


def _sdk():
    try:
        from lighter import signer_client
    except ImportError as e:  # pragma: no cover - exercised where the extra is absent
        raise ImportError(f"{EXTRA_HINT} ({e})") from None
    return signer_client


class LighterSigner:
    def __init__(self, url: str, private_key: str, account_index: int, api_key_index: int, chain_id: int):
        sdk = _sdk()
        self.account_index = account_index
        self.api_key_index = api_key_index
        self.chain_id = chain_id
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lighter-signer")
        key = private_key[2:] if private_key.startswith("0x") else private_key

        def create():
            lib = sdk.get_signer()
            err = sdk.decode_and_free(lib.CreateClient(url.encode(), key.encode(), chain_id, api_key_index,
                                                       account_index))
            return lib, err

        self._lib, err = self._pool.submit(create).result()
        if err:
            raise SignerError(f"lighter signer refused the API key (account {account_index}, key {api_key_index}): "
                              f"{err}")
        self._decode = sdk.decode_and_free

    def __repr__(self) -> str:
        return f"LighterSigner(account={self.account_index}, api_key={self.api_key_index}, key=****)"

    __str__ = __repr__

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    async def _run(self, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _tx(self, resp) -> tuple:
        tx_info = self._decode(resp.txInfo)
        tx_hash = self._decode(resp.txHash)
        self._decode(resp.messageToSign)
        err = self._decode(resp.err)
        if err:
            raise SignerError(err)
        return int(resp.txType), tx_info, tx_hash

    # -- transactions: each returns (tx_type, tx_info JSON string, tx_hash)
    async def create_order(self, *, market_index: int, client_order_index: int, base_amount: int, price: int,
                           is_ask: bool, order_type: int, time_in_force: int, reduce_only: bool = False,
                           trigger_price: int = NIL_TRIGGER_PRICE, order_expiry: int = -1, nonce: int) -> tuple:
        def sign():
            return self._tx(self._lib.SignCreateOrder(
                market_index, client_order_index, base_amount, price, int(is_ask), order_type, time_in_force,
                int(reduce_only), trigger_price, order_expiry, 0, 0, 0, 0, 0, 0, nonce, self.api_key_index,
                self.account_index))
        return await self._run(sign)

    async def cancel_order(self, *, market_index: int, order_index: int, nonce: int) -> tuple:
        def sign():
            return self._tx(self._lib.SignCancelOrder(market_index, order_index, 0, nonce, self.api_key_index,
                                                      self.account_index))
        return await self._run(sign)

    async def modify_order(self, *, market_index: int, order_index: int, base_amount: int, price: int,
                           trigger_price: int = NIL_TRIGGER_PRICE, nonce: int) -> tuple:
        """ModifyOrder (17): new size (remaining), price and trigger of a resting order, same index."""
        def sign():
            return self._tx(self._lib.SignModifyOrder(
                market_index, order_index, base_amount, price, trigger_price, 0, 0, 0, 0, 0, 0, nonce,
                NIL_ORDER_VERSION, self.api_key_index, self.account_index))
        return await self._run(sign)

    async def cancel_all(self, *, time_in_force: int = 0, time_ms: int = 0, market_index: int = 255,
                         nonce: int) -> tuple:
        def sign():
            return self._tx(self._lib.SignCancelAllOrders(time_in_force, time_ms, market_index, 0, nonce,
                                                          self.api_key_index, self.account_index))
        return await self._run(sign)

    async def auth_token(self, deadline_unix_s: int) -> str:
        """``{deadline}:{account}:{key}:{sig}``; the venue refuses deadlines more than 8 h ahead (20013)."""
        def sign():
            res = self._lib.CreateAuthToken(deadline_unix_s, self.api_key_index, self.account_index)
            token, err = self._decode(res.str), self._decode(res.err)
            if err:
                raise SignerError(err)
            return token
        return await self._run(sign)


def parse_tx_info(tx_info: str) -> dict:
    return json.loads(tx_info)


def new_api_key() -> tuple:
    """(private_key, public_key) from the signer library: a throwaway key for tests and first set-up."""
    sdk = _sdk()
    priv, pub, err = sdk.create_api_key()
    if err:
        raise SignerError(err)
    return priv, pub


__all__ = ["LighterSigner", "SignerError", "EXTRA_HINT", "ORDER_TYPE", "TIF", "new_api_key", "parse_tx_info"]
