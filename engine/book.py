"""The compiled L2 order book: ``OrderBook``, ``BookSync`` and the ``DepthOutcome`` of each frame.

``OrderBook`` keeps exact scaled-integer levels and applies raw Binance frames (REST ``/depth`` snapshots,
``depthUpdate`` diffs plain or combined-stream wrapped, partial ``@depth5/10/20``) straight from the bytes.
Every apply is all-or-nothing: a malformed frame raises ``FrameError`` and a gap returns ``GAP``, and in
both cases the book is exactly as before. ``BookSync`` adds the documented pre-snapshot buffering so a
connector only feeds frames and snapshots. See ``ext/engine/_book.pyx`` for the storage layout.
"""
import enum

from engine._build import load

_book = load("engine._book")

OrderBook = _book.OrderBook
BookSync = _book.BookSync
BUILD_MODE = _book.BUILD_MODE


class DepthOutcome(enum.IntEnum):
    """What happened to one frame (the compiled methods return these as plain ints)."""

    APPLIED = _book.DepthOutcome_APPLIED  # the book now includes this frame
    STALE = _book.DepthOutcome_STALE  # already covered by the book (u <= last update id): dropped
    GAP = _book.DepthOutcome_GAP  # continuity broken: book untouched, resync this symbol
    BUFFERED = _book.DepthOutcome_BUFFERED  # BookSync is waiting for a snapshot
    SNAPSHOT_TOO_OLD = _book.DepthOutcome_SNAPSHOT_TOO_OLD  # snapshot predates the buffer: fetch again


__all__ = ["OrderBook", "BookSync", "DepthOutcome", "BUILD_MODE"]
