"""Compiled HMAC-SHA256 request signing: ``Signer`` and the exact query-string builder.

``Signer(secret).sign(payload) -> hex``; ``Signer.signed_query(params, timestamp=, recv_window=)`` returns
the percent-encoded query that is sent, with ``&signature=`` appended (Binance signs the encoded bytes).
``encode_query(params)`` is the same encoding without a signature. The secret is never stored: only the
derived SHA-256 pad states are, so it cannot leak through repr, str, pickling or exceptions.
"""
from engine._build import load

_sign = load("engine._sign")

Signer = _sign.Signer
encode_query = _sign.encode_query
sha256_hex = _sign.sha256_hex
accelerated = _sign.accelerated
force_portable = _sign.force_portable
BUILD_MODE = _sign.BUILD_MODE

__all__ = ["Signer", "encode_query", "sha256_hex", "accelerated", "force_portable", "BUILD_MODE"]
