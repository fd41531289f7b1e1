"""The engine's exception hierarchy (stdlib only; imported by every layer)."""


class FrameError(ValueError):
    """A market-data frame or REST body the hot path cannot accept.

    Raised by the compiled decoders for truncated, non-JSON, wrongly typed, overlong or otherwise
    malformed input. The message names the problem and the byte offset; the object the call was
    applied to (a book, a sync state) is exactly as it was before the call.
    """
