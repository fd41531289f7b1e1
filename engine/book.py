"""The compiled L2 order book: ``OrderBook``, ``BookSync`` and the ``DepthOutcome`` of each frame.

``OrderBook`` keeps exact scaled-integer levels and applies raw Binance frames (REST ``/depth`` snapshots,
``depthUpdate`` diffs plain or combined-stream wrapped, partial ``@depth5/10/20``) straight from the bytes.
Every apply is all-or-nothing: a malformed frame raises ``FrameError`` and a gap returns ``GAP``, and in
both cases the book is exactly as before. ``BookSync`` adds the documented pre-snapshot buffering so a
connector only feeds frames and snapshots. Each side holds at most ``max_levels`` levels (default
``DEFAULT_MAX_LEVELS``; the farthest are dropped and counted in ``levels_dropped``) and a frame longer than
``max_frame_bytes`` (default ``DEFAULT_MAX_FRAME_BYTES``) is refused unparsed. The module docstring of
``ext/engine/_book.pyx`` has the storage layout and every rule (duplicate prices, the cap's boundary, strict
JSON, update ids near 2^63, misuse).
"""
import enum

from engine._build import load

_book = load("engine._book")

OrderBook = _book.OrderBook
BookSync = _book.BookSync
BUILD_MODE = _book.BUILD_MODE
DEFAULT_MAX_LEVELS = _book.DEFAULT_MAX_LEVELS
DEFAULT_MAX_FRAME_BYTES = _book.DEFAULT_MAX_FRAME_BYTES


class DepthOutcome(enum.IntEnum):
    """What happened to one frame (the compiled methods return these as plain ints)."""

    APPLIED = _book.DepthOutcome_APPLIED  # the book now includes this frame
    STALE = _book.DepthOutcome_STALE  # already covered by the book (u <= last update id): dropped
    GAP = _book.DepthOutcome_GAP  # continuity broken: book untouched, resync this symbol
    BUFFERED = _book.DepthOutcome_BUFFERED  # BookSync is waiting for a snapshot
    SNAPSHOT_TOO_OLD = _book.DepthOutcome_SNAPSHOT_TOO_OLD  # snapshot predates the buffer: fetch again


__all__ = ["OrderBook", "BookSync", "DepthOutcome", "BUILD_MODE", "DEFAULT_MAX_LEVELS", "DEFAULT_MAX_FRAME_BYTES"]
